// npx tsx bench/budget-sim.ts — the call budget alone (src/call-budget.ts, real timers), with
// OpenBao's default budget for a vault backend (200/s, burst 100, 32 at once), in front of a
// simulated store with a fixed-window quota of 40 calls per second (as OpenBao's rate-limit quota
// counts them) that answers over it as throttled. 1,000 calls arrive within 5 s; like the callers
// of bench/burst.ts, each tries again after the answer's Retry-After until 60 s after arrival.
// Prints the throttled answers in each second of the run and how many reached a caller: the
// budget's AIMD without the noise of a real store and service process.
import { CallBudget } from '../src/call-budget.js'
import { isStoreError, throttledError } from '../src/store/errors.js'

const QUOTA_PER_SECOND = 40
const CALLS = 1000
const ARRIVAL_MS = 5000
const TIMEOUT_MS = 5000
const STORE_MS = 5

const budget = new CallBudget({ callsPerSecond: 200, burst: 100, concurrency: 32, maxQueue: 1000 })
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const t0 = performance.now()
const second = (): number => Math.floor((performance.now() - t0) / 1000)
let currentWindow = -1 // the quota window (second) the count below is for
let inWindow = 0
const throttledBySecond: number[] = []
let reachedCaller = 0

async function storeCall (): Promise<void> {
  await sleep(STORE_MS)
  const now = second()
  if (now !== currentWindow) { currentWindow = now; inWindow = 0 }
  if (++inWindow > QUOTA_PER_SECOND) {
    throttledBySecond[now] = (throttledBySecond[now] ?? 0) + 1
    throw throttledError('simulated quota: 429')
  }
}

async function workload (index: number): Promise<void> {
  await sleep(index * ARRIVAL_MS / CALLS)
  const arrival = performance.now()
  while (performance.now() - arrival < 60_000) {
    try {
      await budget.run(AbortSignal.timeout(TIMEOUT_MS), storeCall, 'request', { timeoutMs: TIMEOUT_MS })
      return
    } catch (err) {
      if (isStoreError(err) && err.throttled !== undefined) reachedCaller++
      await sleep(Math.max((err as { retryAfterMs?: number }).retryAfterMs ?? 1000, 1))
    }
  }
}

await Promise.all(Array.from({ length: CALLS }, async (_, i) => { await workload(i) }))
const perSecond = Array.from({ length: throttledBySecond.length }, (_, i) => throttledBySecond[i] ?? 0)
const total = perSecond.reduce((sum, n) => sum + n, 0)
process.stdout.write(`throttled answers per second: ${perSecond.join(' ')}\ntotal ${total}, reaching a caller ${reachedCaller}, run ${second()} s, budget at the end ${budget.stats().callsPerSecond.toFixed(1)}/s\n`)
