// The ops listener (/healthz, /readyz, /metrics) and graceful shutdown, over real HTTP.
import { spawn } from 'node:child_process'
import t from 'tap'
import { countingDefinition, countingStore } from './helpers/counting-backend.js'
import { startTestService, TEST_SECRET } from './helpers/service.js'
import { signToken } from '../src/token.js'

const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }

t.test('healthz, readyz and metrics answer on the ops port only', async t => {
  const healthy = countingStore()
  const failing = countingStore()
  failing.readyError = 'cannot reach the test store'
  const svc = await startTestService({
    backends: [{ name: 'healthy', type: 'counting' }, { name: 'broken', type: 'counting-b' }]
  }, { definitions: [countingDefinition(healthy), countingDefinition(failing, 'counting-b')] })
  t.teardown(() => svc.close())
  const ops = svc.service.opsUrl

  const health = await fetch(new URL('healthz', ops))
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })

  const notReady = await fetch(new URL('readyz', ops))
  t.equal(notReady.status, 503)
  t.same(await notReady.json(), { status: 'not ready', backends: { healthy: 'ok', broken: 'store unavailable: cannot reach the test store' } })
  failing.readyError = undefined
  const ready = await fetch(new URL('readyz', ops))
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'ready', backends: { healthy: 'ok', broken: 'ok' } })

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
    'nf_secret_source_invalid_entries_total{backend="healthy",locator="northflank/proj/api",key="BAD-KEY"} 1',
    'nf_secret_source_process_resident_memory_bytes'
  ]) t.match(text, expected, expected)
  t.notMatch(text, 'metrics-must-not-show-this')

  const token = signToken(api, { secret: TEST_SECRET })
  t.equal((await fetch(new URL('/', ops), { headers: { authorization: `Bearer ${token}` } })).status, 404, 'no secrets on the ops port')
  t.equal((await fetch(new URL('/metrics', svc.url), { headers: { authorization: `Bearer ${token}` } })).status, 404, 'no metrics on the public port')
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
