// Throttling (429 with Retry-After, Key Vault's answer past 4,000 transactions per 10 s per
// vault): a Retry-After that fits in the call's timeout is waited out; one beyond it fails at once
// as unavailable, and through the service cache a stale copy is served inside staleIfError and
// 503 after it. The names layout answers from memory while the vault throttles.
import t from 'tap'
import { callStore } from '../../../src/store-call.js'
import { startTestService } from '../../helpers/service.js'
import { uniqueIdentity } from '../contract.js'
import { Backends, keyVaultForSuite, mark, seamedDefinition, seedLayer, serverConfig, wait } from './keyvault-fixture.js'

const server = await keyVaultForSuite(t, 'azure-keyvault throttling')
if (server !== undefined) {
  t.afterEach(() => { server.throttle(0, 0) })

  t.test('a Retry-After inside the call\'s timeout is waited out', async t => {
    const backends = new Backends(server, t)
    const { backend } = backends.create({ timeoutSeconds: 3 })
    const locator = backend.locate('object', uniqueIdentity()) as string
    server.setSecret(locator, '{"PATIENT": "yes"}')
    await backend.ready(AbortSignal.timeout(5000)) // token and challenge first
    server.throttle(1, 1)
    const calls = mark(server)
    const started = performance.now()
    t.match(await callStore(backend, locator, 3000), { found: true, entries: [{ key: 'PATIENT' }] })
    const ms = performance.now() - started
    t.ok(ms >= 950, `waited ${ms.toFixed(0)} ms for Retry-After: 1`)
    t.same(calls.since().map(r => r.status), [429, 200])
  })

  t.test('a Retry-After beyond the call\'s timeout fails at once as unavailable', async t => {
    const backends = new Backends(server, t)
    const { backend } = backends.create({ timeoutSeconds: 2 })
    const locator = backend.locate('object', uniqueIdentity()) as string
    server.setSecret(locator, '{"IMPATIENT": "yes"}')
    await backend.ready(AbortSignal.timeout(5000))
    server.throttle(1, 30)
    const started = performance.now()
    const err = await callStore(backend, locator, 2000).catch((e: Error) => e)
    const ms = performance.now() - started
    t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 429, Throttled\): throttled, Retry-After 30 s is beyond the call's deadline/ })
    t.ok(ms < 500, `failed after ${ms.toFixed(0)} ms, not after the 2 s timeout`)
  })

  t.test('through the service: throttled, the stale copy inside staleIfError, 503 after, then recovery after Retry-After', async t => {
    const identity = uniqueIdentity()
    const backends = new Backends(server, t)
    const locator = backends.create({}).backend.locate('object', identity) as string
    server.setSecret(locator, '{"API_KEY": "v1"}')
    const service = await startTestService({
      server: { host: '127.0.0.1', port: 0, requestTimeoutSeconds: 4 },
      backends: [serverConfig(server, { timeoutSeconds: 2, cache: { ttl: 0.3, staleIfError: 2 } })]
    }, { definitions: [seamedDefinition(server)] })
    t.teardown(service.close)
    const timed = async (): Promise<{ status: number, body: string, ms: number }> => {
      const started = performance.now()
      const res = await service.fetchAs(identity)
      return { status: res.status, body: await res.text(), ms: performance.now() - started }
    }
    t.match(await timed(), { status: 200, body: /"API_KEY","value":"v1"/ })
    // Retry-After 3 s: beyond the 2 s call timeout, so each call fails at once; the service's call
    // budget also holds this backend's calls for those 3 s after each 429.
    server.throttle(1_000_000, 3)
    await wait(400) // past the ttl
    const stale = await timed()
    t.match(stale, { status: 200, body: /"value":"v1"/ }, 'throttled inside staleIfError: the stale copy')
    t.ok(stale.ms < 1000, `answered in ${stale.ms.toFixed(0)} ms`)
    await wait(2100) // past staleIfError
    const failed = await timed()
    t.equal(failed.status, 503, 'past staleIfError: 503, never an empty or partial answer')
    t.notMatch(failed.body, /v1/)
    server.throttle(0, 0)
    server.setSecret(locator, '{"API_KEY": "v2"}')
    await wait(400)
    let recovered = await timed()
    for (let i = 0; i < 20 && !recovered.body.includes('v2'); i++) {
      await wait(300)
      recovered = await timed()
    }
    t.match(recovered, { status: 200, body: /"value":"v2"/ }, 'recovered with the value written during the outage')
  })

  t.test('names layout: while the vault throttles, reads are answered from the index and values in memory', async t => {
    const backends = new Backends(server, t)
    const { backend, index } = backends.create({ layout: 'names', indexRefreshSeconds: 1, indexStaleLimitSeconds: 60 }, { seam: { settleMs: 0 } })
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    seedLayer(server, 'names', locator, identity, 'object', { env: { CALM: 'yes' }, files: [] })
    await index?.refresh()
    t.match(await callStore(backend, locator, 3000), { found: true, entries: [{ key: 'CALM' }] })
    server.throttle(1_000_000, 30)
    await wait(1200) // a background listing meets the throttling (and keeps trying)
    const calls = mark(server)
    t.match(await callStore(backend, locator, 3000), { found: true, entries: [{ key: 'CALM', value: 'yes' }] })
    t.equal(calls.gets(), 0, 'no GET')
  })

  t.test('the listing honours Retry-After (the SDK\'s retries, bounded by indexTimeoutSeconds)', async t => {
    const backends = new Backends(server, t)
    const { index } = backends.create({ layout: 'tags' })
    await index?.refresh()
    server.throttle(1, 1)
    const started = performance.now()
    const listing = await index?.refresh()
    t.ok(listing !== undefined && performance.now() - started >= 950, `listed after waiting ${(performance.now() - started).toFixed(0)} ms`)
  })
}
