// The call budget on its own: rate, burst, concurrency, the bounded queue, the deadline, priority
// and AIMD after throttling. Real timers, small numbers, generous bounds (a loaded 2-core machine).
import t from 'tap'
import { CallBudget } from '../src/call-budget.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

t.test('burst of cold calls: at most burst + rate x time start, the rest wait and then all run', async t => {
  const budget = new CallBudget({ callsPerSecond: 20, burst: 5, concurrency: 100, maxQueue: 100 })
  const started: number[] = []
  const t0 = performance.now()
  await Promise.all(Array.from({ length: 25 }, async () => await budget.run(AbortSignal.timeout(10_000), async () => { started.push(performance.now() - t0) })))
  t.equal(started.length, 25, 'every call ran')
  const inFirst200 = started.filter(ms => ms < 200).length
  t.ok(inFirst200 <= 5 + 20 * 0.2 + 1, `${inFirst200} calls started in the first 200 ms (burst 5 + 20/s)`)
  const last = Math.max(...started)
  t.ok(last >= 800, `the last call started after ${last.toFixed(0)} ms (20 calls beyond the burst at 20/s: about 1 s)`)
  t.match(budget.stats(), { queued: 0, inFlight: 0, calls: 25, refused: 0 })
})

t.test('concurrency cap: never more calls in flight than allowed', async t => {
  const budget = new CallBudget({ callsPerSecond: 1000, burst: 1000, concurrency: 3, maxQueue: 100 })
  let inFlight = 0
  let most = 0
  await Promise.all(Array.from({ length: 20 }, async () => await budget.run(AbortSignal.timeout(10_000), async () => {
    most = Math.max(most, ++inFlight)
    await sleep(10)
    inFlight--
  })))
  t.equal(most, 3)
})

t.test('a call that cannot start before its timeout is unavailable and never starts', async t => {
  const budget = new CallBudget({ callsPerSecond: 1, burst: 1, concurrency: 10, maxQueue: 10 })
  await budget.run(AbortSignal.timeout(1000), async () => {})
  let ran = false
  const err = await budget.run(AbortSignal.timeout(100), async () => { ran = true }).catch((e: Error) => e)
  t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: /call budget: no slot within the call timeout/ })
  t.notOk(ran, 'the store was never called')
  await sleep(1100)
  t.equal(budget.stats().queued, 0, 'the refused call left the queue')
})

t.test('a full queue refuses at once (bounded memory under a flood)', async t => {
  const budget = new CallBudget({ callsPerSecond: 1, burst: 1, concurrency: 1, maxQueue: 2 })
  const hold = budget.run(AbortSignal.timeout(5000), async () => { await sleep(300) })
  const waiting = [budget.run(AbortSignal.timeout(5000), async () => {}), budget.run(AbortSignal.timeout(5000), async () => {})]
  const started = performance.now()
  const err = await budget.run(AbortSignal.timeout(5000), async () => {}).catch((e: Error) => e)
  t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: /2 calls already waiting/ })
  t.ok(performance.now() - started < 50, 'refused without waiting')
  await Promise.all([hold, ...waiting])
})

t.test('requests go before background refreshes', async t => {
  const budget = new CallBudget({ callsPerSecond: 50, burst: 1, concurrency: 1, maxQueue: 10 })
  const order: string[] = []
  const first = budget.run(AbortSignal.timeout(5000), async () => { await sleep(50) })
  const background = budget.run(AbortSignal.timeout(5000), async () => { order.push('background') }, 'background')
  const request = budget.run(AbortSignal.timeout(5000), async () => { order.push('request') })
  await Promise.all([first, background, request])
  t.same(order, ['request', 'background'])
})

t.test('throttling halves the rate once per burst of answers, honours Retry-After, then recovers gradually', async t => {
  const budget = new CallBudget({ callsPerSecond: 40, burst: 40, concurrency: 100, maxQueue: 100 })
  for (let i = 0; i < 10; i++) budget.throttled()
  t.equal(budget.stats().callsPerSecond, 20, 'ten answers of one burst: one halving')
  budget.throttled(300)
  const started = performance.now()
  await budget.run(AbortSignal.timeout(5000), async () => {})
  t.ok(performance.now() - started >= 250, `waited for Retry-After (${(performance.now() - started).toFixed(0)} ms)`)
  t.equal(budget.stats().throttled, 11)
  await sleep(2500)
  const recovered = budget.stats().callsPerSecond
  t.ok(recovered > 10 && recovered <= 40, `recovering: ${recovered.toFixed(1)}/s 2.5 s later (additive, 4/s per calm second)`)
})

t.test('through the service: a burst of cold identities waits for the budget and is answered in full, never with an empty layer', async t => {
  const { countingDefinition, countingStore } = await import('./helpers/counting-backend.js')
  const { startTestService } = await import('./helpers/service.js')
  const store = countingStore()
  const starts: number[] = []
  store.onRead = () => { starts.push(performance.now()) }
  const identities = Array.from({ length: 12 }, (_, i) => ({ projectId: `burst${i}`, nfObjectId: 'api', nfObjectType: 'service' }))
  for (const id of identities) store.documents.set(`northflank/${id.projectId}/api`, { OWNER: id.projectId })
  const svc = await startTestService({ backends: [{ name: 'c', type: 'counting', budget: { callsPerSecond: 20, burst: 4 } }] }, { definitions: [countingDefinition(store)] })
  t.teardown(svc.close)
  const t0 = performance.now()
  const answers = await Promise.all(identities.map(async id => { const res = await svc.fetchAs(id); return { id, status: res.status, body: await res.text() } }))
  t.same([...new Set(answers.map(a => a.status))], [200], 'every workload start answered')
  t.ok(answers.every(a => a.body.includes(`"value":"${a.id.projectId}"`)), 'each with its own object layer')
  // 12 identities x 3 layers, the global layer shared: 25 store calls at 20/s after a burst of 4.
  const spread = Math.max(...starts) - t0
  t.equal(starts.length, 25)
  t.ok(spread >= 800, `store calls spread over ${spread.toFixed(0)} ms instead of all at once`)
  const metrics = await (await fetch(new URL('metrics', svc.service.opsUrl))).text()
  t.match(metrics, 'nf_secret_source_budget_calls_per_second{backend="c"} 20')
  t.match(metrics, /nf_secret_source_budget_waited_seconds_total\{backend="c"\} [1-9]/)
})

t.test('through the service: a call that cannot start before its timeout is a 503, never an empty layer', async t => {
  const { countingDefinition, countingStore } = await import('./helpers/counting-backend.js')
  const { startTestService } = await import('./helpers/service.js')
  const store = countingStore()
  store.documents.set('northflank/slow/api', { A: '1' })
  const svc = await startTestService({ backends: [{ name: 'c', type: 'counting', timeoutSeconds: 0.3, cache: { ttl: 0 }, budget: { callsPerSecond: 1, burst: 1 } }] }, { definitions: [countingDefinition(store)] })
  t.teardown(svc.close)
  const res = await svc.fetchAs({ projectId: 'slow', nfObjectId: 'api', nfObjectType: 'service' })
  t.equal(res.status, 503, 'three layers, one call per second, 0.3 s to start: unavailable')
  t.match(await res.json(), { code: 'NFSS_STORE_UNAVAILABLE' })
  t.equal(store.totalCalls(), 1, 'only the call the budget allowed reached the store')
})
