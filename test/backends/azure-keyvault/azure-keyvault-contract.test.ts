// type: azure-keyvault against the Key Vault test server (not Azure): the shared store contract in
// each of the three layouts, each seeded in its native form through the server's own API; denied
// through the principal the server refuses (403 ForbiddenByRbac), unreachable through a closed
// port, store calls counted from the server's request log.
import t from 'tap'
import type { Layout } from '../../../backends/azure-keyvault/names.js'
import { freePort } from '../../servers/common.js'
import { backendContract, uniqueIdentity, type Seed } from '../contract.js'
import { Backends, keyVaultForSuite, seamedDefinition, seedLayer, serverConfig, vaultCalls } from './keyvault-fixture.js'

const server = await keyVaultForSuite(t, 'azure-keyvault contract')
if (server !== undefined) {
  const entriesOf = (seed: Seed): number => Object.keys(seed.env).length + seed.files.length

  for (const layout of ['document', 'names', 'tags'] as Layout[]) {
    await t.test(`azure-keyvault, layout ${layout}: the store contract`, async t => {
      const backends = new Backends(server, t)
      const { backend, index } = backends.create({ layout })
      await backendContract(t, {
        backend,
        caseInsensitive: true,
        seed: async (layer, identity, seed) => {
          seedLayer(server, layout, backend.locate(layer, identity) as string, identity, layer, seed)
          // The index would see the secrets at its next refresh; the contract reads at once.
          await index?.refresh()
        },
        seedMalformed: layout === 'document'
          ? async (layer, identity) => { server.setSecret(backend.locate(layer, identity) as string, '["a list", "not a map"]') }
          : { skip: `in the ${layout} layout every secret is one value: there is no document to be malformed (bad tags are invalid entries)` },
        denied: async () => ({
          backend: backends.create({
            layout,
            credential: { type: 'clientSecret', tenantId: server.tenantId, clientId: server.principals.denied.clientId, clientSecret: server.principals.denied.secret }
          }).backend,
          layer: 'object',
          identity: uniqueIdentity()
        }),
        unreachable: async () => backends.create({ layout, vaultUrl: `https://nfss-test.vault.azure.net:${await freePort()}`, maxAttempts: 1 }).backend,
        // A vault that does not exist: real clients fail to resolve its name; the test server
        // closes the connection unanswered. Never an empty layer.
        missingStore: async () => backends.create({ layout, vaultUrl: server.vaultUrl('no-such-vault'), maxAttempts: 1 }).backend,
        storeCalls: {
          count: () => vaultCalls(server).length,
          // document: one GET per layer. names/tags: one GET per entry the first time (0 LISTs:
          // the index is fresh); later reads GET only what changed (azure-keyvault-index.test.ts).
          maxPerRead: layout === 'document' ? 1 : entriesOf
        },
        // The service builds its own backend from config: its index lists the vault at start-up.
        service: { backend: serverConfig(server, { layout }), definitions: [seamedDefinition(server)] }
      })
    })
  }
}
