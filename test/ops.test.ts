// The ops listener (/healthz, /readyz, /metrics) and graceful shutdown, over real HTTP.
import { spawn } from 'node:child_process'
import t from 'tap'
import { countingDefinition, countingStore } from './helpers/counting-backend.js'
import { startTestService, TEST_SECRET } from './helpers/service.js'
import { signToken } from '../src/token.js'

const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }

/** Polls `url` until `done` holds for its JSON (background store checks run every 0.2 s here). */
async function until (url: URL, done: (status: number, body: any) => boolean, timeoutMs = 5000): Promise<{ status: number, body: any }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const res = await fetch(url)
    const answer = { status: res.status, body: await res.json() }
    if (done(answer.status, answer.body) || Date.now() > deadline) return answer
    await new Promise(r => setTimeout(r, 50))
  }
}

t.test('healthz, readyz and metrics answer on the ops port only', async t => {
  const healthy = countingStore()
  const failing = countingStore()
  failing.readyError = 'cannot reach the test store'
  const svc = await startTestService({
    ops: { host: '127.0.0.1', port: 0, storeCheckIntervalSeconds: 0.2 },
    backends: [{ name: 'healthy', type: 'counting' }, { name: 'broken', type: 'counting-b' }]
  }, { definitions: [countingDefinition(healthy), countingDefinition(failing, 'counting-b')] })
  t.teardown(() => svc.close())
  const ops = svc.service.opsUrl

  const health = await fetch(new URL('healthz', ops))
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })

  const notReady = await until(new URL('readyz', ops), (_, body) => body.backends?.healthy === 'ok')
  t.equal(notReady.status, 503, 'a store that never passed a check: not ready')
  t.same(notReady.body, { status: 'not ready', backends: { healthy: 'ok', broken: 'store unavailable: cannot reach the test store' } })
  failing.readyError = undefined
  const ready = await until(new URL('readyz', ops), status => status === 200)
  t.equal(ready.status, 200)
  t.same(ready.body, { status: 'ready', backends: { healthy: 'ok', broken: 'ok' } })

  healthy.documents.set('northflank/proj/api', { API_KEY: 'metrics-must-not-show-this', 'BAD-KEY': 'x' })
  await svc.fetchAs(api)
  await fetch(svc.url)
  const metrics = await fetch(new URL('metrics', ops))
  t.match(metrics.headers.get('content-type'), /^text\/plain/)
  const text = await metrics.text()
  for (const expected of [
    'nf_secret_source_requests_total{status="200"} 1',
    'nf_secret_source_requests_total{status="401"} 1',
    'nf_secret_source_request_duration_seconds_bucket{le="0.001",status="200"}',
    'nf_secret_source_store_calls_total{backend="healthy",outcome="found"} 1',
    'nf_secret_source_store_call_duration_seconds_count{backend="healthy",outcome="found"} 1',
    'nf_secret_source_cache_reads_total{backend="healthy",result="miss"} 3',
    'nf_secret_source_cache_entries{backend="healthy"} 3',
    'nf_secret_source_invalid_entries_total{backend="healthy",layer="object",reason="name"} 1',
    'nf_secret_source_process_resident_memory_bytes',
    'nf_secret_source_store_up{backend="healthy"} 1',
    'nf_secret_source_ready 1'
  ]) t.match(text, expected, expected)
  t.notMatch(text, 'metrics-must-not-show-this')

  const token = signToken(api, { secret: TEST_SECRET })
  t.equal((await fetch(new URL('/', ops), { headers: { authorization: `Bearer ${token}` } })).status, 404, 'no secrets on the ops port')
  t.equal((await fetch(new URL('/metrics', svc.url), { headers: { authorization: `Bearer ${token}` } })).status, 404, 'no metrics on the public port')
})

t.test('readiness keeps stale copies useful: a store that fails after its first check leaves the replica ready, reported apart', async t => {
  const store = countingStore()
  const svc = await startTestService({
    ops: { host: '127.0.0.1', port: 0, storeCheckIntervalSeconds: 0.2 },
    backends: [{ name: 'flaky', type: 'counting', cache: { ttl: 0.1, staleIfError: 60 } }]
  }, { definitions: [countingDefinition(store)] })
  t.teardown(() => svc.close())
  const ops = svc.service.opsUrl
  store.documents.set('northflank/proj/api', { API_KEY: 'cached' })
  t.equal((await until(new URL('readyz', ops), status => status === 200)).status, 200)
  t.equal((await svc.fetchAs(api)).status, 200, 'warm the cache')

  store.readyError = 'the store went away'
  store.failWith = 'unavailable'
  const stores = await until(new URL('stores', ops), (_, body) => body.stores.flaky.up === false)
  t.match(stores.body.stores.flaky, { up: false, everUp: true, detail: 'store unavailable: the store went away' }, '/stores says what is wrong')
  const readyz = await fetch(new URL('readyz', ops))
  t.equal(readyz.status, 200, 'still ready: this replica can still answer')
  await new Promise(r => setTimeout(r, 150)) // past the ttl
  const stale = await svc.fetchAs(api)
  t.equal(stale.status, 200, 'and it does: the stale copy')
  t.match(await stale.text(), 'cached')
  t.match(await (await fetch(new URL('metrics', ops))).text(), 'nf_secret_source_store_up{backend="flaky"} 0')

  store.readyError = undefined
  store.failWith = undefined
  t.equal((await until(new URL('stores', ops), (_, body) => body.stores.flaky.up === true)).body.stores.flaky.up, true, 'recovered without a restart')
})

t.test('probe storm: 50 concurrent /readyz calls cost the store no check of their own', async t => {
  const store = countingStore()
  const svc = await startTestService({ ops: { host: '127.0.0.1', port: 0, storeCheckIntervalSeconds: 30 }, backends: [{ name: 'c', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(() => svc.close())
  await until(new URL('readyz', svc.service.opsUrl), status => status === 200)
  const before = store.readyCalls
  const answers = await Promise.all(Array.from({ length: 50 }, async () => (await fetch(new URL('readyz', svc.service.opsUrl))).status))
  t.same([...new Set(answers)], [200])
  t.equal(store.readyCalls - before, 0, `50 probes, ${store.readyCalls - before} store checks (one per interval at most, whatever the probe rate)`)
})

t.test('SIGTERM during a load of concurrent requests loses none of them, then exits 0', async t => {
  const child = spawn(process.execPath, ['--import=tsx', 'test/fixtures/serve-slow-store.ts'], { env: { ...process.env, STORE_DELAY_MS: '1500' }, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>(resolve => child.on('exit', resolve))
  let out = ''
  const lines = (): string[] => out.split('\n')
  child.stdout.on('data', d => { out += String(d) })
  const until = async (what: string, done: () => boolean): Promise<void> => {
    const deadline = Date.now() + 30_000
    while (!done()) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`fixture: ${what} did not happen: ${out}`)
      await new Promise(r => setTimeout(r, 20))
    }
  }
  await until('start', () => lines().length > 1)
  const { url, ops } = JSON.parse(lines()[0] as string) as { url: string, ops: string }
  const token = signToken(api, { secret: TEST_SECRET })
  const inFlight = Array.from({ length: 100 }, async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.text() }
  })
  await until('100 requests in the store', () => lines().filter(l => l === 'in-store').length === 100)
  child.kill('SIGTERM')
  const results = await Promise.all(inFlight)
  t.equal(results.filter(r => r.status === 200 && r.body.includes('API_KEY')).length, 100, 'all 100 in-flight requests answered 200')
  t.equal(await exited, 0, 'exit 0')
  await t.rejects(fetch(new URL('healthz', ops)), 'ops listener closed too')
})
