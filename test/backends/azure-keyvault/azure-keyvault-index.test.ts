// The property index of the names and tags layouts: a new secret is picked up by the background
// refresh without a restart; a value is fetched again only after it changed; a read's store calls
// do not grow with the size of the vault (1,000 secrets: only the GETs of its own changed
// entries, 0 LISTs while the index is fresh); a listing older than its limit is not served.
// Measured figures are printed as comments.
import t from 'tap'
import type { Layout } from '../../../backends/azure-keyvault/names.js'
import { callStore } from '../../../src/store-call.js'
import { startTestService } from '../../helpers/service.js'
import { uniqueIdentity } from '../contract.js'
import { Backends, keyVaultForSuite, mark, seamedDefinition, seedLayer, serverConfig, wait } from './keyvault-fixture.js'

const server = await keyVaultForSuite(t, 'azure-keyvault index', ['nfss-test', 'nfss-big', 'nfss-small', 'nfss-stale'])
if (server !== undefined) {
  const keys = (result: any): string[] => result.found === true ? result.entries.map((e: any) => `${String(e.key ?? e.path)}=${String(e.value ?? e.data)}`).sort() : []
  // Key Vault's `updated` is in whole seconds: a write late in a second has an `updated` up to a
  // second before it. Writing early in a second keeps "fetched within settleMs of the change" true
  // on a loaded machine (a write at .95 s once left 50 ms for the refresh and the fetch).
  const earlyInASecond = async (): Promise<void> => {
    while (Date.now() % 1000 > 100) await wait(1005 - (Date.now() % 1000))
  }

  for (const layout of ['names', 'tags'] as Layout[]) {
    await t.test(`${layout}: a new secret is picked up by the background refresh, without a restart`, async t => {
      const backends = new Backends(server, t)
      const { backend } = backends.create({ layout, indexRefreshSeconds: 1, indexStaleLimitSeconds: 10 })
      const identity = uniqueIdentity()
      const locator = backend.locate('object', identity) as string
      seedLayer(server, layout, locator, identity, 'object', { env: { FIRST: '1' }, files: [] })
      await wait(1300)
      t.same(keys(await callStore(backend, locator, 5000)), ['FIRST=1'])
      seedLayer(server, layout, locator, identity, 'object', { env: { SECOND: '2' }, files: [] })
      const calls = mark(server)
      t.same(keys(await callStore(backend, locator, 5000)), ['FIRST=1'], 'not yet listed: the read made no LIST of its own')
      t.equal(calls.lists(), 0)
      await wait(1300)
      t.same(keys(await callStore(backend, locator, 5000)), ['FIRST=1', 'SECOND=2'], 'listed by the background refresh')
    })

    await t.test(`${layout}: a value is fetched again only after it changed`, async t => {
      const backends = new Backends(server, t)
      const { backend, index } = backends.create({ layout }, { seam: { settleMs: 2000 } })
      const identity = uniqueIdentity()
      const locator = backend.locate('object', identity) as string
      const [name] = seedLayer(server, layout, locator, identity, 'object', { env: { TOKEN: 'v1' }, files: [] })
      const tags: Record<string, string> = layout === 'names' ? { 'nf-env': 'TOKEN' } : { 'nf-env': 'TOKEN', 'nf-project': identity.projectId, 'nf-object': identity.nfObjectId }
      await wait(2100) // so that the first fetch is settled
      await index?.refresh()
      let calls = mark(server)
      t.same(keys(await callStore(backend, locator, 5000)), ['TOKEN=v1'])
      t.equal(calls.gets(), 1, 'first read: one GET')
      calls = mark(server)
      t.same(keys(await callStore(backend, locator, 5000)), ['TOKEN=v1'])
      t.equal(calls.gets() + calls.lists(), 0, 'unchanged: no store call at all')

      await earlyInASecond()
      server.setSecret(name as string, 'v2', { tags }) // a new version
      calls = mark(server)
      t.same(keys(await callStore(backend, locator, 5000)), ['TOKEN=v1'], 'the index has not seen it yet: the value in memory')
      t.equal(calls.gets(), 0)
      await index?.refresh()
      calls = mark(server)
      t.same(keys(await callStore(backend, locator, 5000)), ['TOKEN=v2'], 'the index shows a newer `updated`: fetched again')
      t.equal(calls.gets(), 1)
      await wait(2100)
      calls = mark(server)
      await callStore(backend, locator, 5000)
      t.equal(calls.gets(), 1, 'fetched within settleMs of its change: fetched once more (a write in the same second keeps `updated`)')
      calls = mark(server)
      await callStore(backend, locator, 5000)
      t.equal(calls.gets(), 0, 'settled: no GET')
    })

    await t.test(`${layout}: two writes within one second (same \`updated\`) are both seen`, async t => {
      const backends = new Backends(server, t)
      const { backend, index } = backends.create({ layout })
      const identity = uniqueIdentity()
      const locator = backend.locate('object', identity) as string
      const [name] = seedLayer(server, layout, locator, identity, 'object', { env: { FAST: 'v1' }, files: [] })
      const tags: Record<string, string> = layout === 'names' ? { 'nf-env': 'FAST' } : { 'nf-env': 'FAST', 'nf-project': identity.projectId, 'nf-object': identity.nfObjectId }
      await index?.refresh()
      t.same(keys(await callStore(backend, locator, 5000)), ['FAST=v1'])
      server.setSecret(name as string, 'v2', { tags })
      await index?.refresh()
      t.same(keys(await callStore(backend, locator, 5000)), ['FAST=v2'], 'the first fetch was not settled: fetched again')
    })
  }

  await t.test('store calls per read do not grow with the vault: 1,000 secrets, index refresh measured', async t => {
    const backends = new Backends(server, t)
    const identity = uniqueIdentity()
    const own = 5
    const setups: Array<{ vault: string, layout: Layout, backend: ReturnType<Backends['create']> }> = []
    for (const [vault, size] of [['nfss-small', 20], ['nfss-big', 1000]] as const) {
      // The vault's other secrets: other identities' entries, and document-style secrets.
      for (let i = 0; i < size - 2 * own; i++) server.setSecret(vault === 'nfss-big' ? `northflank-other${i % 97}-svc${i}-value${i}` : `unrelated-${i}`, `v${i}`, { vault })
      for (const layout of ['names', 'tags'] as Layout[]) {
        // No background listing during the measurements (the request log does not say which vault).
        const built = backends.create({ layout, vaultUrl: server.vaultUrl(vault), indexRefreshSeconds: 3600, indexStaleLimitSeconds: 3600 }, { seam: { settleMs: 1000 } })
        seedLayer(server, layout, built.backend.locate('object', identity) as string, identity, 'object', { env: Object.fromEntries(Array.from({ length: own }, (_, i) => [`K${i}`, `v${i}`])), files: [] }, { vault })
        setups.push({ vault, layout, backend: built })
      }
    }
    await wait(1100) // every value settled: what a vault looks like outside the seconds after a write
    await Promise.all(setups.map(async ({ backend }) => await backend.index?.refresh())) // no listing in flight
    for (const { vault, layout, backend: { backend, index } } of setups) {
      const locator = backend.locate('object', identity) as string
      await index?.refresh() // absorbs the listing client's first challenge
      const listing = mark(server)
      const started = performance.now()
      const refreshed = await index?.refresh()
      const ms = performance.now() - started
      t.comment(`${vault} (${String(refreshed?.secrets.length)} secrets), ${layout}: one index refresh = ${listing.lists()} LIST request(s) (${String(refreshed?.pages)} pages of 25) in ${ms.toFixed(0)} ms`)
      let calls = mark(server)
      t.equal(keys(await callStore(backend, locator, 5000)).length, own)
      t.same([calls.lists(), calls.gets()], [0, own], `${vault}, ${layout}, first read: 0 LISTs, ${own} GETs (its own entries)`)
      calls = mark(server)
      t.equal(keys(await callStore(backend, locator, 5000)).length, own)
      t.same([calls.lists(), calls.gets()], [0, 0], `${vault}, ${layout}, next read: no store call`)
    }
  })

  await t.test('calls per request through the service (cache ttl 0), per layout', async t => {
    const backends = new Backends(server, t)
    for (const layout of ['document', 'names', 'tags'] as Layout[]) {
      const identity = uniqueIdentity()
      const creator = backends.create({ layout }).backend
      for (const layer of ['project', 'object']) {
        seedLayer(server, layout, creator.locate(layer, identity) as string, identity, layer, { env: { [`${layer.toUpperCase()}_A`]: 'a', [`${layer.toUpperCase()}_B`]: 'b' }, files: [] })
      }
      const service = await startTestService({ backends: [serverConfig(server, { layout, cache: { ttl: 0 } })] }, { definitions: [seamedDefinition(server, { settleMs: 1000 })] })
      t.teardown(service.close)
      await wait(1100) // values settled
      await service.fetchAs(identity) // first: challenges, token, first values
      let calls = mark(server)
      const first = await service.fetchAs(identity)
      t.equal(first.status, 200)
      const warm = calls.since().length
      calls = mark(server)
      await service.fetchAs(identity)
      const again = calls.since().length
      t.comment(`${layout}: ${warm} store call(s) per request with the service cache off (3 layers, 4 entries + the shared global layer), ${again} on the next one`)
      t.ok(layout === 'document' ? warm === 3 : warm === 0, `${layout}: ${warm} calls per request once values are in memory`)
    }
  })

  await t.test('a listing older than indexStaleLimitSeconds is not served; until then a failed refresh changes nothing', async t => {
    const backends = new Backends(server, t)
    const vault = 'nfss-stale'
    const { backend, index } = backends.create({ layout: 'names', vaultUrl: server.vaultUrl(vault), indexRefreshSeconds: 1, indexStaleLimitSeconds: 2, maxAttempts: 1 }, { seam: { settleMs: 0 } })
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    seedLayer(server, 'names', locator, identity, 'object', { env: { STALE: 'ok' }, files: [] }, { vault })
    await index?.refresh()
    t.same(keys(await callStore(backend, locator, 5000)), ['STALE=ok'])
    server.throttle(1_000_000, 0) // every request answers 429: listings fail
    t.teardown(() => { server.throttle(0, 0) })
    await t.rejects(index?.refresh() as Promise<unknown>, { code: 'NFSS_STORE_UNAVAILABLE' }, 'the refresh fails')
    t.same(keys(await callStore(backend, locator, 5000)), ['STALE=ok'], 'inside the limit: the last listing, values in memory')
    await wait(2200)
    await t.rejects(callStore(backend, locator, 5000), { code: 'NFSS_STORE_UNAVAILABLE' }, 'past the limit: unavailable, never an empty layer')
    server.throttle(0, 0)
    await wait(2100) // past the retry delay after a failed listing
    t.same(keys(await callStore(backend, locator, 5000)), ['STALE=ok'], 'recovered')
  })
}
