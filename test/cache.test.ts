// Every cache rule, with the counting test backend: as a unit with a fake clock, and
// through the running service over HTTP.
import t from 'tap'
import type { Backend } from '../src/store/port.js'
import { cachedReader, LocatorCache, type CacheHit } from '../src/cache.js'
import { createResolver, type Resolution } from '../src/resolver.js'
import { callStore } from '../src/store-call.js'
import { countingDefinition, countingStore } from './helpers/counting-backend.js'
import { capturingLogger, silentLogger } from './helpers/logger.js'
import { startTestService } from './helpers/service.js'
import { storeContext } from './backends/kit.js'

function countingBackend (store: ReturnType<typeof countingStore>): Backend {
  const definition = countingDefinition(store)
  const config = { name: 'c', type: 'counting' }
  return definition.create(config as never, storeContext(definition, config, { logger: silentLogger(), baseDir: '.', layers: ['global', 'project', 'object'] })) as Backend
}

function unit (settings = { ttl: 30, staleIfError: 600, maxEntries: 100, errorTtl: 5 }) {
  const store = countingStore()
  const backend = countingBackend(store)
  let now = 1_000_000
  const cache = new LocatorCache(backend, settings, async (b, locator) => await callStore(b, locator, 1000), () => now)
  return { store, cache, advance: (ms: number) => { now += ms } }
}

t.test('ttl: a read is served from memory until it expires', async t => {
  const { store, cache, advance } = unit()
  store.documents.set('l', { A: '1' })
  t.match(await cache.read('l'), { cache: 'miss' })
  advance(29_000)
  t.match(await cache.read('l'), { cache: 'hit', result: { found: true } })
  t.equal(store.totalCalls(), 1)
  advance(2_000)
  store.documents.set('l', { A: '2' })
  t.match(await cache.read('l'), { cache: 'miss', result: { entries: [{ value: '2' }] } })
  t.equal(store.totalCalls(), 2)
})

t.test('single-flight: 200 concurrent misses share one store call', async t => {
  const { store, cache } = unit()
  store.documents.set('l', { A: '1' })
  store.delayMs = 50
  const reads = await Promise.all(Array.from({ length: 200 }, async () => await cache.read('l')))
  t.equal(store.calls.get('l'), 1)
  t.equal(reads.filter(r => r.cache === 'miss').length, 1)
  t.equal(reads.filter(r => r.cache === 'coalesced').length, 199)
})

t.test('negative caching: an empty layer is cached too; an unavailable store is not', async t => {
  const { store, cache } = unit()
  await cache.read('missing')
  await cache.read('missing')
  t.equal(store.calls.get('missing'), 1)
  store.failWith = 'unavailable'
  await t.rejects(cache.read('failing'), { code: 'NFSS_STORE_UNAVAILABLE' })
  await t.rejects(cache.read('failing'), { code: 'NFSS_STORE_UNAVAILABLE' })
  t.equal(store.calls.get('failing'), 2)
})

t.test('denied reads multiply: a denied or malformed outcome is remembered for errorTtl, one store call for N reads', async t => {
  for (const kind of ['denied', 'malformed'] as const) {
    const { store, cache, advance } = unit()
    store.failWith = kind
    for (let i = 0; i < 20; i++) await t.rejects(cache.read('l'), { code: `NFSS_STORE_${kind.toUpperCase()}` })
    t.equal(store.calls.get('l'), 1, `${kind}: 20 reads within errorTtl, 1 store call`)
    t.match(cache.failure('l'), { kind }, 'remembered (the synchronous check the reader uses)')
    advance(4_999)
    await t.rejects(cache.read('l'))
    t.equal(store.calls.get('l'), 1, `${kind}: still remembered just before errorTtl`)
    advance(1)
    await t.rejects(cache.read('l'))
    t.equal(store.calls.get('l'), 2, `${kind}: errorTtl later the store is asked again`)
    store.failWith = undefined
    advance(5_000)
    t.match(await cache.read('l'), { cache: 'miss', result: { found: false } }, `${kind}: fixed in the store: served again`)
    t.equal(cache.failure('l'), undefined, 'a successful read forgets the failure')
  }
  const off = unit({ ttl: 30, staleIfError: 600, maxEntries: 100, errorTtl: 0 })
  off.store.failWith = 'denied'
  for (let i = 0; i < 3; i++) await t.rejects(off.cache.read('l'), { code: 'NFSS_STORE_DENIED' })
  t.equal(off.store.calls.get('l'), 3, 'errorTtl 0: every read asks the store')
})

t.test('errorTtl: a denied outcome with a stale copy inside staleIfError keeps serving the copy (today\'s rules)', async t => {
  const { store, cache, advance } = unit()
  store.documents.set('l', { A: '1' })
  await cache.read('l')
  store.failWith = 'denied'
  advance(31_000)
  t.match(await cache.read('l'), { cache: 'stale', result: { entries: [{ value: '1' }] } })
  t.equal(cache.failure('l'), undefined, 'no remembered error is answered while a stale copy is served')
  advance(6_000)
  t.match(await cache.read('l'), { cache: 'stale' })
  t.equal(store.calls.get('l'), 2, 'the background retry stays once per ttl')
})

t.test('stale-if-error: a copy inside the window is served, outside it the error is', async t => {
  const { store, cache, advance } = unit({ ttl: 30, staleIfError: 600, maxEntries: 100, errorTtl: 5 })
  store.documents.set('l', { A: '1' })
  await cache.read('l')
  store.failWith = 'denied'
  advance(31_000)
  const stale: unknown[] = []
  t.match(await cache.read('l', { onStale: (...args) => stale.push(args) }), { cache: 'stale', result: { found: true, entries: [{ key: 'A', value: '1' }] } })
  t.match(stale, [['c', 'l', 31_000, { code: 'NFSS_STORE_DENIED' }]])
  advance(570_000)
  await t.rejects(cache.read('l'), { code: 'NFSS_STORE_DENIED' }, 'older than staleIfError: the error, never an empty layer')
})

t.test('during an outage the stale copy is served at once; the store is retried in the background once per ttl', async t => {
  const { store, cache, advance } = unit({ ttl: 30, staleIfError: 600, maxEntries: 100, errorTtl: 5 })
  store.documents.set('l', { A: '1' })
  await cache.read('l')
  store.failWith = 'unavailable'
  advance(31_000)
  t.match(await cache.read('l'), { cache: 'stale' }, 'the first read after expiry asks the store, fails, gets the stale copy')
  t.equal(store.calls.get('l'), 2)
  store.hang = true // from now on a store call would wait for its timeout
  const started = performance.now()
  for (let i = 0; i < 50; i++) t.match(await cache.read('l'), { cache: 'stale', result: { entries: [{ value: '1' }] } })
  t.ok(performance.now() - started < 500, `50 reads answered without waiting on the store (${(performance.now() - started).toFixed(0)} ms)`)
  t.equal(store.calls.get('l'), 2, 'no store call within ttl of the failure')
  store.hang = false
  store.failWith = undefined
  store.documents.set('l', { A: '2' })
  advance(30_000)
  t.match(await cache.read('l'), { cache: 'stale', result: { entries: [{ value: '1' }] } }, 'a ttl later: still the stale copy, while a retry starts')
  t.equal(store.calls.get('l'), 3, 'one background retry')
  await new Promise(resolve => setTimeout(resolve, 20))
  t.match(await cache.read('l'), { cache: 'hit', result: { entries: [{ value: '2' }] } }, 'the retry succeeded: fresh again')
  advance(601_000)
  store.failWith = 'unavailable'
  await t.rejects(cache.read('l'), { code: 'NFSS_STORE_UNAVAILABLE' }, 'past the stale window: the error again')
})

t.test('an outage stays in the log: each failed background retry (once per ttl) is reported as a stale serve', async t => {
  const { store, cache, advance } = unit({ ttl: 30, staleIfError: 600, maxEntries: 100, errorTtl: 5 })
  store.documents.set('l', { A: '1' })
  await cache.read('l')
  store.failWith = 'unavailable'
  const reported: unknown[] = []
  const events = { onStale: (...args: unknown[]) => reported.push(args) }
  advance(31_000)
  await cache.read('l', events)
  t.equal(reported.length, 1, 'the failed refresh')
  for (let i = 0; i < 10; i++) await cache.read('l', events)
  t.equal(reported.length, 1, 'served at once within ttl: nothing new to report')
  advance(30_000)
  await cache.read('l', events)
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(reported.length, 2, 'the failed background retry is reported')
  t.match(reported[1], ['c', 'l', 61_000, { code: 'NFSS_STORE_UNAVAILABLE' }])
})

t.test('a store call that throws synchronously does not block its locator for good', async t => {
  const store = countingStore()
  const backend = countingBackend(store)
  let calls = 0
  const cache = new LocatorCache(backend, { ttl: 30, staleIfError: 600, maxEntries: 10, errorTtl: 5 }, (b, locator) => {
    if (++calls === 1) throw new Error('thrown before any promise')
    return callStore(b, locator, 1000)
  })
  await t.rejects(cache.read('l'), /thrown before any promise/)
  t.match(await cache.read('l'), { cache: 'miss', result: { found: false } }, 'the next read makes a new call')
  t.equal(calls, 2)
})

t.test('LRU: the bound on entries holds and the least recently used goes first', async t => {
  const { store, cache } = unit({ ttl: 30, staleIfError: 600, maxEntries: 2, errorTtl: 5 })
  await cache.read('a')
  await cache.read('b')
  await cache.read('a')
  await cache.read('c')
  t.equal(cache.size, 2)
  await cache.read('a')
  t.equal(store.calls.get('a'), 1, 'a was used recently and stayed')
  await cache.read('b')
  t.equal(store.calls.get('b'), 2, 'b was evicted')
})

const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }

t.test('over HTTP: 200 concurrent first requests make exactly one store call per locator', async t => {
  const store = countingStore()
  store.documents.set('northflank/proj/api', { API_KEY: 'k' })
  store.delayMs = 100
  const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(() => svc.close())
  const token = svc.token(api)
  const responses = await Promise.all(Array.from({ length: 200 }, async () => await fetch(svc.url, { headers: { authorization: `Bearer ${token}` } })))
  t.same([...new Set(responses.map(r => r.status))], [200])
  t.same(Object.fromEntries(store.calls), { 'northflank/_global': 1, 'northflank/proj/_shared': 1, 'northflank/proj/api': 1 })
  const metrics = await (await fetch(new URL('metrics', svc.service.opsUrl))).text()
  t.match(metrics, 'nf_secret_source_cache_reads_total{backend="counting",result="miss"} 3')
  const count = (result: string): number => Number(new RegExp(`nf_secret_source_cache_reads_total\\{backend="counting",result="${result}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0)
  t.equal(count('coalesced') + count('hit'), 597, `the other 597 layer reads were coalesced (${count('coalesced')}) or hits (${count('hit')})`)
  t.match(metrics, 'nf_secret_source_store_calls_total{backend="counting",outcome="found"} 1')
  t.match(metrics, 'nf_secret_source_store_calls_total{backend="counting",outcome="not_found"} 2')
})

t.test('over HTTP: a stale copy is served inside the window, logged and counted; 503 after it', async t => {
  const store = countingStore()
  store.documents.set('northflank/proj/api', { API_KEY: 'stale-but-served' })
  const { logger, lines } = capturingLogger('info')
  const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting', cache: { ttl: 0.2, staleIfError: 1 } }] }, { definitions: [countingDefinition(store)], logger })
  t.teardown(() => svc.close())
  t.equal((await svc.fetchAs(api)).status, 200)
  store.failWith = 'unavailable'
  await new Promise(r => setTimeout(r, 300))
  const stale = await svc.fetchAs(api)
  t.equal(stale.status, 200)
  t.same(await stale.json(), { secrets: [{ type: 'ENV', key: 'API_KEY', value: 'stale-but-served' }] })
  t.match(lines(), /"msg":"store failed: served a stale copy"/)
  t.match(lines(), /"layers":\["global:counting:none:stale","project:counting:none:stale","object:counting:1:stale"\]/)
  t.match(await (await fetch(new URL('metrics', svc.service.opsUrl))).text(), 'nf_secret_source_cache_reads_total{backend="counting",result="stale"} 3')
  await new Promise(r => setTimeout(r, 900))
  const expired = await svc.fetchAs(api)
  t.equal(expired.status, 503)
  t.notMatch(await expired.text(), 'stale-but-served')
  t.match(await (await fetch(new URL('metrics', svc.service.opsUrl))).text(), 'nf_secret_source_cache_reads_total{backend="counting",result="error"} 3', 'failed reads are counted too')
})

t.test('over HTTP: a failing store with nothing cached is a 503, never an empty answer', async t => {
  for (const kind of ['denied', 'unavailable', 'malformed'] as const) {
    const store = countingStore()
    store.failWith = kind
    const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
    const res = await svc.fetchAs(api)
    t.equal(res.status, 503, kind)
    t.match(await res.json(), { code: `NFSS_STORE_${kind.toUpperCase()}` })
    await svc.close()
  }
})

t.test('over HTTP: denied reads multiply: N requests for a denied layer within errorTtl cost one store call per locator, counted as cached_error', async t => {
  const store = countingStore()
  store.failWith = 'denied'
  const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(() => svc.close())
  const statuses = new Set<number>()
  for (let i = 0; i < 10; i++) statuses.add((await svc.fetchAs(api)).status)
  t.same([...statuses], [503], 'every request fails, none is answered empty')
  t.same(Object.fromEntries(store.calls), { 'northflank/_global': 1, 'northflank/proj/_shared': 1, 'northflank/proj/api': 1 }, '10 requests x 3 layers: one store call per locator')
  const metrics = await (await fetch(new URL('metrics', svc.service.opsUrl))).text()
  t.match(metrics, 'nf_secret_source_cache_reads_total{backend="counting",result="cached_error"} 27')
  t.match(metrics, 'nf_secret_source_store_calls_total{backend="counting",outcome="denied"} 3')
})

t.test('ttl: 0 disables the cache', async t => {
  const store = countingStore()
  const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting', cache: { ttl: 0 } }] }, { definitions: [countingDefinition(store)] })
  t.teardown(() => svc.close())
  await svc.fetchAs(api)
  await svc.fetchAs(api)
  t.equal(store.calls.get('northflank/proj/api'), 2)
})

t.test('a backend that serves from memory (an informer) bypasses the cache', async t => {
  const store = countingStore()
  store.servesFromMemory = true
  const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(() => svc.close())
  await svc.fetchAs(api)
  await svc.fetchAs(api)
  t.equal(store.calls.get('northflank/proj/api'), 2, 'every request reads the replica')
})

t.test('timeouts: a hanging store call times out per call (503); the request deadline is a backstop', async t => {
  const store = countingStore()
  store.hang = true
  const perCall = await startTestService({ backends: [{ name: 'counting', type: 'counting', timeoutSeconds: 0.2 }] }, { definitions: [countingDefinition(store)] })
  t.teardown(() => perCall.close())
  const started = performance.now()
  const timedOut = await perCall.fetchAs(api)
  t.equal(timedOut.status, 503)
  t.match(await timedOut.json(), { code: 'NFSS_STORE_UNAVAILABLE' })
  t.ok(performance.now() - started < 1500, 'answered near the 0.2 s call timeout')

  // Config keeps every call timeout below the deadline, so only a reader that never settles
  // (a defect, not a slow store) can reach it: the resolver still answers, with a 503.
  const backend = { name: 'stuck', type: 'stuck', locate: () => 'x', read: async () => await new Promise(() => {}), close: async () => {} } as unknown as Backend
  const resolver = createResolver(['global'], [backend], () => new Promise<never>(() => {}))
  const before = performance.now()
  await t.rejects(async () => await resolver.resolve(api, 300), { code: 'NFSS_DEADLINE_EXCEEDED', statusCode: 503 })
  t.ok(performance.now() - before < 1000, 'cut at the 0.3 s deadline')
})

t.test('refresh-ahead: a hot entry read in the last seconds of its ttl is refreshed in the background; a cold one expires', async t => {
  const store = countingStore()
  const backend = countingBackend(store)
  let now = 1_000_000
  const priorities: string[] = []
  const refreshed: string[] = []
  const cache = new LocatorCache(backend, { ttl: 30, staleIfError: 600, maxEntries: 100, errorTtl: 5, refreshAheadSeconds: 5 },
    async (b, locator, priority) => { priorities.push(priority ?? 'request'); return await callStore(b, locator, 1000) },
    () => now, { onRefresh: (_backend, result) => { refreshed.push(result) } })
  store.documents.set('hot', { A: '1' })
  store.documents.set('cold', { B: '1' })
  await cache.read('hot')
  await cache.read('cold')
  now += 20_000
  t.ok(cache.fresh('hot') !== undefined, 'read before the refresh window')
  t.equal(store.totalCalls(), 2, 'no refresh yet')
  now += 6_000 // 26 s old: inside the last 5 s of the 30 s ttl
  store.documents.set('hot', { A: '2' })
  t.match(cache.fresh('hot'), { entries: [{ value: '1' }] }, 'answered at once from memory')
  const deadline = Date.now() + 2000
  while (refreshed.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
  t.same(refreshed, ['ok'], 'refreshed in the background')
  t.same(priorities, ['request', 'request', 'background'], 'at the call budget\'s lowest priority')
  now += 5_000 // 31 s after the first read
  t.match(await cache.read('hot'), { cache: 'hit', result: { entries: [{ value: '2' }] } }, 'the hot layer never expired into a synchronous miss')
  t.match(await cache.read('cold'), { cache: 'miss' }, 'the cold one, not read in its window, expired as before')
  t.equal(store.calls.get('hot'), 2)
})

/**
 * One identity's three layers in a counting store, behind a cache (30 s ttl, refresh-ahead in the
 * last 5 s) of `maxEntries` on a fake clock, and a resolver over it that counts its reader calls.
 */
function warmIdentity (maxEntries: number) {
  const store = countingStore()
  const backend = countingBackend(store)
  const clock = { now: 1_000_000 }
  const layers = ['global', 'project', 'object']
  for (const layer of layers) store.documents.set(backend.locate(layer, api) as string, { [layer.toUpperCase()]: '1' })
  const counted: string[] = []
  const { read } = cachedReader([{ backend, cache: { ttl: 30, staleIfError: 600, maxEntries, errorTtl: 5, refreshAheadSeconds: 5 } }],
    async (b, locator) => await callStore(b, locator, 1000), { onRead: (_backend, outcome) => { counted.push(outcome) } }, () => clock.now)
  let calls = 0
  const resolver = createResolver(layers, [backend], (b, locator) => { calls++; return read(b, locator) }, 100, () => clock.now)
  return { store, backend, layers, read, resolver, clock, counted, asked: () => calls }
}

t.test('reuse: a warm identity takes its last cache hits without asking the reader, each still counted as a hit; a refresh, an expiry or an eviction makes it ask again', async t => {
  const { store, backend, layers, resolver, clock, asked, counted } = warmIdentity(100)

  const first = await resolver.resolve(api, 1000)
  t.same(first.reads.map(r => r.cache), ['miss', 'miss', 'miss'])
  const second = resolver.resolve(api, 1000)
  t.notOk(second instanceof Promise, 'all hits: answered synchronously')
  t.equal(asked(), 6, 'the second request asked the reader per layer (the first one\'s reads were misses)')
  const third = resolver.resolve(api, 1000)
  t.equal(asked(), 6, 'the third took the second one\'s hits: no reader call')
  t.equal(third, second, 'the very same resolution')
  t.same(counted, ['miss', 'miss', 'miss', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit'], 'reused hits are counted like any cache hit')
  t.same((third as Resolution).summary.env, ['GLOBAL', 'OBJECT', 'PROJECT'])

  clock.now += 26_000 // inside the last 5 s of the 30 s ttl: due for refresh-ahead
  for (const layer of layers) store.documents.set(backend.locate(layer, api) as string, { [layer.toUpperCase()]: '2' })
  const due = resolver.resolve(api, 1000)
  t.equal(asked(), 9, 'an entry due for refresh-ahead is read through the cache again, so the refresh starts')
  t.same((due as Resolution).answer.entries.map(e => e.entry.type === 'ENV' ? e.entry.value : ''), ['1', '1', '1'], 'the cached copy answers meanwhile')
  const deadline = Date.now() + 2000
  while (store.totalCalls() < 6 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(store.totalCalls(), 6, 'one background refresh per layer')
  const refreshed = resolver.resolve(api, 1000) as Resolution
  t.equal(asked(), 12, 'the refreshed entries replaced the old hits: asked again')
  t.same(refreshed.answer.entries.map(e => e.entry.type === 'ENV' ? e.entry.value : ''), ['2', '2', '2'], 'the new values, never the old hits')
  resolver.resolve(api, 1000)
  t.equal(asked(), 12, 'and reused from then on')

  clock.now += 31_000 // expired, nobody refreshed it in time
  const expired = resolver.resolve(api, 1000)
  t.ok(expired instanceof Promise, 'an expired entry is a miss')
  t.equal(asked(), 15)
})

t.test('reuse: about once a second the reused hits are checked against the cache; an evicted entry is read again after that check', async t => {
  const { store, backend, read, resolver, clock, asked } = warmIdentity(3)
  store.documents.set('other', { OTHER: '1' })
  await resolver.resolve(api, 1000)
  resolver.resolve(api, 1000)
  t.equal(asked(), 6)
  clock.now += 1_500
  resolver.resolve(api, 1000) // the check: all held; the LRU hears of them
  t.equal(asked(), 6, 'still held: reused')
  clock.now += 500
  await read(backend, 'other') // a fourth locator in a cache of three: one of the identity's entries is evicted
  t.equal(store.totalCalls(), 4)
  t.notOk(resolver.resolve(api, 1000) instanceof Promise, 'until the next check the evicted copy (still fresh) answers')
  t.equal(asked(), 6)
  clock.now += 1_000
  const afterCheck = resolver.resolve(api, 1000)
  t.ok(afterCheck instanceof Promise, 'the check sees the eviction: the layer is read from the store again')
  await afterCheck
  t.equal(asked(), 9)
  t.equal(store.totalCalls(), 5, 'one store call: the evicted layer')
})

t.test('reuse: a hit is no longer reusable once its entry is replaced, evicted or its refresh failed; the LRU still sees reused entries', async t => {
  const store = countingStore()
  const backend = countingBackend(store)
  let now = 1_000_000
  const cache = new LocatorCache(backend, { ttl: 30, staleIfError: 600, maxEntries: 2, errorTtl: 5, refreshAheadSeconds: 5 },
    async (b, locator) => await callStore(b, locator, 1000), () => now)
  for (const l of ['a', 'b', 'c']) store.documents.set(l, { A: l })
  await cache.read('a')
  await cache.read('b')
  const a = cache.freshHit('a') as CacheHit
  const b = cache.freshHit('b') as CacheHit
  t.ok(a.reusable() && b.reusable(), 'fresh, cached, not due for refresh')
  now += 2_000
  t.ok(a.reusable(), 'a reused two seconds later: the LRU hears of it')
  await cache.read('c') // over maxEntries: the least recently used goes, b (a was reused after b was read)
  t.notOk(b.reusable(), 'evicted: b is no longer what a read answers')
  t.ok(a.reusable(), 'a stays: reuse kept it recent')
  t.equal(cache.freshHit('a'), a, 'the cache still answers a with the same hit')

  now += 24_000 // a is 26 s old: due for refresh-ahead, so it must go through the cache
  t.notOk(a.reusable(), 'due for refresh-ahead')
  store.failWith = 'unavailable'
  t.equal(cache.freshHit('a'), a, 'the refresh starts, the cached copy answers')
  const deadline = Date.now() + 2000
  while ((store.calls.get('a') ?? 0) < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 5))
  await new Promise(resolve => setTimeout(resolve, 20))
  store.failWith = undefined
  now -= 20_000 // even were the clock to step back, a failed refresh retires the hit
  t.notOk(a.reusable(), 'the refresh failed: the cache decides what to serve')

  const c = cache.freshHit('c') as CacheHit
  now += 40_000
  await cache.read('c') // expired: a new store read replaces the entry
  t.notOk(c.reusable(), 'replaced by a newer read')
  t.ok((cache.freshHit('c') as CacheHit).reusable(), 'the newer read is')
})

t.test('over HTTP: a wall-clock step (NTP, a resumed VM) neither expires every entry at once nor keeps one past its ttl', async t => {
  // The cache and the resolver's reuse of warm reads measure ages on the monotonic clock
  // (src/clock.ts). Date.now is stepped from before start-up, as the system clock would be.
  const wallClock = Date.now
  let step = 0
  Date.now = () => wallClock() + step
  const store = countingStore()
  store.documents.set('northflank/proj/api', { API_KEY: 'v1' })
  const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting', cache: { ttl: 0.5 } }] }, { definitions: [countingDefinition(store)] })
  t.teardown(async () => { Date.now = wallClock; await svc.close() })
  t.equal((await svc.fetchAs(api)).status, 200)
  t.equal(store.totalCalls(), 3)
  step = 3_600_000
  t.equal((await svc.fetchAs(api)).status, 200)
  t.equal(store.totalCalls(), 3, 'an hour forward: the entries are still within their ttl, no store call')
  step = -3_600_000
  store.documents.set('northflank/proj/api', { API_KEY: 'v2' })
  await new Promise(resolve => setTimeout(resolve, 700))
  t.same(await (await svc.fetchAs(api)).json(), { secrets: [{ type: 'ENV', key: 'API_KEY', value: 'v2' }] }, 'an hour back: the entry still expired on its ttl')
  t.equal(store.totalCalls(), 6)
})
