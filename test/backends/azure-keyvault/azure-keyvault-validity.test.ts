// Disabled, expired and not-yet-valid secrets are skipped in every layout, also when Key Vault
// answers the GET (it enforces only `enabled`; expiry is the client's job), and a disabled secret
// (403 with innererror SecretDisabled) is an absent entry, never a denied store: through the
// service it is never a 503.
import t from 'tap'
import type { Layout } from '../../../backends/azure-keyvault/names.js'
import { callStore } from '../../../src/store-call.js'
import { capturingLogger } from '../../helpers/logger.js'
import { startTestService } from '../../helpers/service.js'
import { uniqueIdentity } from '../contract.js'
import { Backends, keyVaultForSuite, mark, nowSeconds, seamedDefinition, seedLayer, serverConfig } from './keyvault-fixture.js'

const server = await keyVaultForSuite(t, 'azure-keyvault validity')
if (server !== undefined) {
  const attributes = {
    disabled: { enabled: false },
    expired: { exp: nowSeconds() - 60 },
    'not yet valid': { nbf: nowSeconds() + 3600 }
  }

  for (const layout of ['document', 'names', 'tags'] as Layout[]) {
    await t.test(`layout ${layout}: disabled, expired and not-yet-valid secrets are skipped`, async t => {
      const backends = new Backends(server, t)
      const { logger, lines } = capturingLogger('debug')
      const { backend, index } = backends.create({ layout }, { logger })
      for (const [why, options] of Object.entries(attributes)) {
        const identity = uniqueIdentity()
        const locator = backend.locate('object', identity) as string
        if (layout === 'document') {
          seedLayer(server, layout, locator, identity, 'object', { env: { HIDDEN: 'no' }, files: [] }, options)
          const calls = mark(server)
          t.same(await callStore(backend, locator, 5000), { found: false }, `${why}: an empty layer`)
          t.same(calls.since().filter(r => r.status !== 401).map(r => r.status), [why === 'disabled' ? 403 : 200], `${why}: Key Vault answered ${why === 'disabled' ? '403 SecretDisabled' : '200'}`)
        } else {
          seedLayer(server, layout, locator, identity, 'object', { env: { SHOWN: 'yes' }, files: [] })
          seedLayer(server, layout, locator, identity, 'object', { env: { HIDDEN: 'no' }, files: [] }, options)
          await index?.refresh()
          const calls = mark(server)
          const result = await callStore(backend, locator, 5000)
          t.same(result, { found: true, entries: [{ type: 'ENV', key: 'SHOWN', value: 'yes' }], invalid: [] }, `${why}: skipped, the rest served`)
          t.equal(calls.gets(), 1, `${why}: known from the listing, not fetched`)
        }
      }
      t.match(lines(), /"why":"disabled"|is disabled/, 'skips are logged (debug) with the reason')
      t.notMatch(lines(), /"no"/, 'never the value')
    })

    await t.test(`layout ${layout}: a secret disabled, expired or not yet valid between listing and GET is skipped on the GET's answer`, async t => {
      const backends = new Backends(server, t)
      if (layout === 'document') {
        t.pass('document: every read is the GET (above)')
        return
      }
      const { backend, index } = backends.create({ layout })
      const identity = uniqueIdentity()
      const locator = backend.locate('object', identity) as string
      const [shown] = seedLayer(server, layout, locator, identity, 'object', { env: { SHOWN: 'yes' }, files: [] })
      const [later] = seedLayer(server, layout, locator, identity, 'object', { env: { LATER: 'no' }, files: [] })
      await index?.refresh()
      // The index still shows it enabled; the GET finds it disabled (403 SecretDisabled).
      server.updateSecret(later as string, { enabled: false })
      t.same((await callStore(backend, locator, 5000) as any).entries.map((e: any) => e.key), ['SHOWN'], 'disabled after the listing: skipped, not denied')
      server.updateSecret(later as string, { enabled: true, exp: nowSeconds() - 1 })
      t.same((await callStore(backend, locator, 5000) as any).entries.map((e: any) => e.key), ['SHOWN'], 'expired after the listing: skipped')
      t.ok(shown)
    })
  }

  await t.test('through the service: a disabled secret is never a 503', async t => {
    const backends = new Backends(server, t)
    for (const layout of ['document', 'names', 'tags'] as Layout[]) {
      const identity = uniqueIdentity()
      const creator = backends.create({ layout }).backend
      seedLayer(server, layout, creator.locate('project', identity) as string, identity, 'project', { env: { PROJECT_VALUE: 'p' }, files: [] })
      seedLayer(server, layout, creator.locate('object', identity) as string, identity, 'object', { env: { OBJECT_VALUE: 'o' }, files: [] }, { enabled: false })
      const service = await startTestService({ backends: [serverConfig(server, { layout })] }, { definitions: [seamedDefinition(server)] })
      t.teardown(service.close)
      const res = await service.fetchAs(identity)
      t.equal(res.status, 200, `${layout}: 200`)
      const body = await res.json() as { secrets: Array<{ key: string }> }
      t.same(body.secrets.filter(e => e.key.endsWith('_VALUE')), [{ type: 'ENV', key: 'PROJECT_VALUE', value: 'p' }], `${layout}: the disabled object layer is empty, the project layer served`)
    }
  })
}
