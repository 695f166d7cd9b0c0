// The call budget on its own: rate, burst, concurrency, the bounded queue, the deadline, priority,
// refusal by predicted wait, retries of throttled calls and AIMD after throttling. Real timers,
// small numbers, generous bounds (a loaded 2-core machine); the rate arithmetic on a manual clock.
import t from 'tap'
import { CallBudget, createBudgets, recovered } from '../src/call-budget.js'
import { ssmDefinition } from '../backends/aws-ssm/index.js'
import { callStore } from '../src/store-call.js'
import { throttledError, type StoreError } from '../src/store/errors.js'
import type { Backend, BackendDefinition, ReadResult } from '../src/store/port.js'

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

/** A clock the test moves by hand: rate arithmetic without timers. */
function manualClock (): { now: () => number, advance: (ms: number) => void } {
  let at = 0
  return { now: () => at, advance: ms => { at += ms } }
}

const throttle = (): StoreError => throttledError('test store: rate exceeded')

t.test('throttling: one decrease per round of calls, never below half or what the store accepted, then additive recovery after a calm second', async t => {
  const clock = manualClock()
  const budget = new CallBudget({ callsPerSecond: 40, burst: 40, concurrency: 100, maxQueue: 100 }, clock.now)
  budget.throttled(clock.now())
  t.equal(budget.stats().callsPerSecond, 20, 'nothing accepted yet: halved')
  clock.advance(5)
  for (let i = 0; i < 10; i++) budget.throttled(-1)
  t.equal(budget.stats().callsPerSecond, 20, 'answers to calls sent before the decrease: no further decrease')
  budget.throttled(clock.now())
  t.equal(budget.stats().callsPerSecond, 10, 'a call sent after the decrease was throttled too: halved again')
  t.equal(budget.stats().throttled, 12)
  clock.advance(1000)
  t.equal(budget.stats().callsPerSecond, 10, 'one calm second: no change yet')
  clock.advance(2000)
  t.equal(budget.stats().callsPerSecond, 18, 'then a tenth of the configured rate per calm second')
  clock.advance(60_000)
  t.equal(budget.stats().callsPerSecond, 40, 'never above what is configured')

  const accepting = new CallBudget({ callsPerSecond: 100, burst: 100, concurrency: 100, maxQueue: 100 }, clock.now)
  await Promise.all(Array.from({ length: 60 }, async () => await accepting.run(AbortSignal.timeout(1000), async () => {})))
  accepting.throttled(clock.now())
  t.equal(accepting.stats().callsPerSecond, 54, 'the store accepted 60 calls in the last second: 90% of that, not half')
  accepting.throttled(clock.now())
  t.equal(accepting.stats().callsPerSecond, 54 * 0.9, 'throttled again at that rate: at least a tenth less')
  clock.advance(1001)
  accepting.throttled(clock.now())
  t.equal(accepting.stats().callsPerSecond, 54 * 0.9 / 2, 'the accepted calls are older than a second: halved')
})

t.test('recovery slows down just below the rate the store last throttled, and speeds up again past it', async t => {
  // Configured 200/s against a quota near 40/s (the OpenBao burst in bench/results.md).
  const round = (n: number): number => Math.round(n * 1000) / 1000
  t.equal(recovered(20, 0.8, 200, 40), 36, 'far below: a tenth of the configured rate per second, up to 90% of the throttled rate')
  t.equal(round(recovered(20, 1, 200, 40)), 36.4, 'then a hundredth per second')
  t.equal(recovered(36, 1, 200, 40), 38, 'near it: a hundredth per second')
  t.equal(round(recovered(36, 3, 200, 40)), 60, 'past it (2 s to cross 36..40): a tenth again')
  t.equal(recovered(20, 60, 200, 40), 200, 'never above what is configured')
  t.equal(recovered(20, 1, 200, Infinity), 40, 'never throttled: a tenth per second throughout')

  const clock = manualClock()
  const budget = new CallBudget({ callsPerSecond: 200, burst: 200, concurrency: 100, maxQueue: 100 }, clock.now)
  for (let i = 0; i < 3; i++) {
    budget.throttled(clock.now())
    clock.advance(10)
  }
  t.equal(budget.stats().callsPerSecond, 25, 'three rounds throttled, nothing accepted: 200 -> 100 -> 50 -> 25')
  clock.advance(1000 + 990) // the loop left the clock 10 ms after the last throttle
  t.equal(round(budget.stats().callsPerSecond), 45, 'one calm second, then a tenth of 200 per second: up to 90% of 50, the rate throttled last')
  clock.advance(1000)
  t.equal(round(budget.stats().callsPerSecond), 47, 'probing below 50: a hundredth per second')
  clock.advance(3000)
  t.equal(round(budget.stats().callsPerSecond), 80, 'past 50 after 1.5 s more: a tenth per second again')
})

t.test('a throttled call waits for a slot under the shrunk budget and is retried: the caller gets the answer', async t => {
  const budget = new CallBudget({ callsPerSecond: 20, burst: 1, concurrency: 10, maxQueue: 10 })
  let attempts = 0
  const retries: number[] = []
  const started = performance.now()
  const answer = await budget.run(AbortSignal.timeout(5000), async () => {
    if (++attempts === 1) throw throttle()
    return 'ok'
  }, 'request', { timeoutMs: 5000, onRetry: n => retries.push(n) })
  t.equal(answer, 'ok')
  t.equal(attempts, 2)
  t.same(retries, [1])
  t.ok(performance.now() - started >= 80, `the retry waited for a token at the halved rate (${(performance.now() - started).toFixed(0)} ms)`)
  t.match(budget.stats(), { throttled: 1, retried: 1, calls: 2, callsPerSecond: 10 })
})

t.test('a throttled call whose retry cannot start within its timeout fails at once, as throttled, with a Retry-After hint', async t => {
  const budget = new CallBudget({ callsPerSecond: 20, burst: 5, concurrency: 10, maxQueue: 10 })
  let attempts = 0
  const started = performance.now()
  const err = await budget.run(AbortSignal.timeout(5000), async () => {
    attempts++
    throw throttledError('test store: rate exceeded', 3000)
  }, 'request', { timeoutMs: 1000 }).catch((e: StoreError) => e)
  t.ok(performance.now() - started < 200, 'not held until the timeout')
  t.equal(attempts, 1, 'Retry-After 3 s is beyond the 1 s timeout: no retry')
  t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', throttled: { retryAfterMs: 3000 } })
  t.ok(err.retryAfterMs !== undefined && err.retryAfterMs >= 2900, `retryAfterMs ${String(err.retryAfterMs)}`)
  t.match(budget.stats(), { throttled: 1, retried: 0 })
})

t.test('a call waits at most half its timeout; one predicted to wait longer is refused at once with when a slot is expected, and never starts', async t => {
  const budget = new CallBudget({ callsPerSecond: 10, burst: 1, concurrency: 10, maxQueue: 100 })
  const ran: number[] = []
  const calls = Array.from({ length: 5 }, async (_, i) => await budget.run(AbortSignal.timeout(5000), async () => { ran.push(i) }, 'request', { timeoutMs: 500 }).then(() => undefined, (e: StoreError) => e))
  const started = performance.now()
  const refused = await Promise.race([calls[3], calls[4]])
  t.ok(performance.now() - started < 100, 'refused without waiting')
  t.match(refused, { code: 'NFSS_STORE_UNAVAILABLE', message: /call budget: a slot is \d+ ms away, beyond the wait the call timeout allows/ })
  t.ok((refused?.retryAfterMs ?? 0) >= 250, `Retry-After hint ${String(refused?.retryAfterMs)} ms`)
  const outcomes = await Promise.all(calls)
  t.same(ran.sort(), [0, 1, 2], 'the first three start within 250 ms (half the timeout) at 10/s after a burst of 1')
  t.equal(outcomes.filter(o => o !== undefined).length, 2)
  t.equal(budget.stats().refused, 2)
})

t.test('a waiter whose slot comes later than predicted (the rate shrank) is refused at half its timeout, never started late', async t => {
  const budget = new CallBudget({ callsPerSecond: 10, burst: 1, concurrency: 10, maxQueue: 100 })
  let ran = 0
  await budget.run(AbortSignal.timeout(1000), async () => { ran++ })
  const late = budget.run(AbortSignal.timeout(5000), async () => { ran++ }, 'request', { timeoutMs: 400 }).then(() => undefined, (e: StoreError) => e)
  budget.throttled(performance.now()) // 5/s now: the next token is 200 ms away, then the waiter is past its 200 ms
  budget.throttled(performance.now() + 1) // 2.5/s: 400 ms away
  const started = performance.now()
  const err = await late
  const ms = performance.now() - started
  t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: /call budget: no slot within the wait the call timeout allows/ })
  t.ok(ms < 390, `refused after ${ms.toFixed(0)} ms, before the 400 ms timeout`)
  t.equal(ran, 1, 'never started')
})

t.test('callsPerRead: a read takes that many tokens (an SSM read is two API calls)', async t => {
  const budget = new CallBudget({ callsPerSecond: 20, burst: 4, concurrency: 10, maxQueue: 100, callsPerRead: 2 })
  const started: number[] = []
  const t0 = performance.now()
  await Promise.all(Array.from({ length: 6 }, async () => await budget.run(AbortSignal.timeout(10_000), async () => { started.push(performance.now() - t0) })))
  t.equal(started.filter(ms => ms < 50).length, 2, 'a burst of 4 calls is 2 reads')
  const last = Math.max(...started)
  t.ok(last >= 330, `4 more reads at 20 calls/s = 10 reads/s: the last after ${last.toFixed(0)} ms`)
  t.ok(last < 1500, 'but not much later')
})

t.test('createBudgets: a read takes the backend\'s callsPerRead when it has one, else its definition\'s', async t => {
  const definition = { ...ssmDefinition, budget: { ...(ssmDefinition.budget as NonNullable<typeof ssmDefinition.budget>), callsPerRead: 2 } }
  const config = [{ name: 'ssm', type: 'aws-ssm', budget: { enabled: true, callsPerSecond: 5, burst: 4 } }]
  const startedAtOnce = async (budget: CallBudget | undefined): Promise<number> => {
    let started = 0
    const runs = Array.from({ length: 4 }, async () => await budget?.run(AbortSignal.timeout(10_000), async () => { started++ }))
    await sleep(50)
    const atOnce = started
    await Promise.all(runs)
    return atOnce
  }
  t.equal(await startedAtOnce(createBudgets(config, [definition]).get('ssm')), 2, 'the definition: 2 calls per read, a burst of 4 calls is 2 reads')
  t.equal(await startedAtOnce(createBudgets(config, [definition], [{ name: 'ssm', callsPerRead: 1 }]).get('ssm')), 4, 'the backend (one walk): 4 reads')
  t.equal(await startedAtOnce(createBudgets(config, [definition], [{ name: 'other', callsPerRead: 1 }]).get('ssm')), 2, 'another backend\'s does not count')
})

t.test('retries of throttled calls go before requests already waiting', async t => {
  const budget = new CallBudget({ callsPerSecond: 5, burst: 1, concurrency: 10, maxQueue: 10 })
  const order: string[] = []
  let first = true
  const throttledOnce = budget.run(AbortSignal.timeout(5000), async () => {
    if (first) { first = false; await sleep(30); throw throttle() }
    order.push('retry')
  }, 'request', { timeoutMs: 5000 })
  const waiting = budget.run(AbortSignal.timeout(5000), async () => { order.push('request') }, 'request', { timeoutMs: 5000 })
  await Promise.all([throttledOnce, waiting])
  t.same(order, ['retry', 'request'])
})

t.test('callStore: a throttled read is retried within its timeout; one that cannot be retried in time says so', async t => {
  let reads = 0
  const backend = {
    name: 'b',
    type: 'test',
    locate: () => 'x',
    async read (): Promise<ReadResult> {
      if (++reads === 1) throw throttle()
      return { found: true, entries: [{ type: 'ENV', key: 'A', value: '1' }], invalid: [] }
    },
    async ready () {},
    async close () {}
  } satisfies Backend
  const budget = new CallBudget({ callsPerSecond: 20, burst: 2, concurrency: 10, maxQueue: 10 })
  t.match(await callStore(backend, 'x', 2000, budget), { found: true, entries: [{ key: 'A' }] })
  t.equal(reads, 2)

  const slow = new CallBudget({ callsPerSecond: 1, burst: 1, concurrency: 10, maxQueue: 10 })
  const always = { ...backend, async read (): Promise<ReadResult> { throw throttle() } }
  const err = await callStore(always, 'x', 300, slow).then(() => undefined, (e: StoreError) => e)
  t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: /rate exceeded/, throttled: {} })
  t.ok((err?.retryAfterMs ?? 0) > 300, 'with a Retry-After hint beyond the timeout')
})

t.test('through the service: a store that throttles above its quota; every workload start is answered in full, no 503', async t => {
  const { startTestService } = await import('./helpers/service.js')
  const { DEFAULT_TEMPLATES } = await import('../src/core/locator.js')
  const { Type } = await import('@sinclair/typebox')
  // A quota of 30 calls/s (burst 5) behind a budget configured at 100/s: the budget must learn it.
  let tokens = 5
  let refilledAt = performance.now()
  let throttledAnswers = 0
  const definition: BackendDefinition = {
    type: 'quota',
    options: Type.Object({}),
    locators: { defaults: DEFAULT_TEMPLATES },
    create: (config, { locate }) => ({
      name: config.name,
      type: 'quota',
      locate,
      async read (locator): Promise<ReadResult> {
        const now = performance.now()
        tokens = Math.min(5, tokens + (now - refilledAt) / 1000 * 30)
        refilledAt = now
        if (tokens < 1) { throttledAnswers++; throw throttle() }
        tokens--
        return { found: true, entries: [{ type: 'ENV', key: 'AT', value: locator }], invalid: [] }
      },
      async ready () {},
      async close () {}
    })
  }
  const svc = await startTestService({ backends: [{ name: 'q', type: 'quota', budget: { callsPerSecond: 100, burst: 20 } }] }, { definitions: [definition] })
  t.teardown(svc.close)
  const identities = Array.from({ length: 20 }, (_, i) => ({ projectId: `quota${i}`, nfObjectId: 'api', nfObjectType: 'service' }))
  const answers = await Promise.all(identities.map(async id => { const res = await svc.fetchAs(id); return { id, status: res.status, body: await res.text() } }))
  t.same([...new Set(answers.map(a => a.status))], [200], 'no throttled answer reached a caller')
  t.ok(answers.every(a => a.body.includes(`northflank/${a.id.projectId}/api`)), 'each with its object layer')
  t.ok(throttledAnswers > 0, `the store throttled ${throttledAnswers} calls`)
  const metrics = await (await fetch(new URL('metrics', svc.service.opsUrl))).text()
  t.match(metrics, /nf_secret_source_budget_retried_total\{backend="q"\} [1-9]/)
  t.match(metrics, /nf_secret_source_budget_throttled_total\{backend="q"\} [1-9]/)
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
  t.match(res.headers.get('retry-after'), /^[1-9][0-9]*$/, 'Retry-After: when the budget expects a slot (whole seconds, at least 1)')
  t.equal(store.totalCalls(), 1, 'only the call the budget allowed reached the store')
})
