// A call budget per backend: a token bucket (callsPerSecond, burst) and a concurrency cap in front
// of every store call, so a burst of cold identities (a deploy, a node failure) stays inside the
// store's quota instead of turning into throttling answers and 503s. The bucket counts store API
// calls: a read takes callsPerRead tokens (an SSM read is one or two GetParametersByPath walks). Calls
// over budget wait in a bounded queue (retries of throttled calls, then requests, then background
// refreshes; FIFO within each), at most half their timeout so the store keeps the rest to answer.
// A call whose predicted wait already exceeds that is refused at once, and one still waiting at it
// fails as unavailable, never as an empty layer; both carry a Retry-After hint. A throttling answer from the store shrinks the rate (to
// half, or to what the store accepted in the last second if that is more) and pauses for its
// Retry-After; the throttled call is retried under the smaller rate while its timeout allows.
// Every calm second gives back a tenth of the configured rate (AIMD), up to what is configured,
// except just below the rate the store last throttled: there it probes at a hundredth, so a
// budget configured far above a quota (OpenBao's 200/s against a 40/s quota) nears the quota
// slowly instead of passing it by a tenth of the configured rate per second (bench/budget-sim.ts:
// 66 throttled answers instead of 85-92; bench/results.md).
import { Counter, Gauge, type Registry } from 'prom-client'
import { monotonicMs } from './clock.js'
import { isStoreError, storeError, type StoreError } from './store/errors.js'
import type { Backend, BackendDefinition } from './store/port.js'

export interface BudgetSettings {
  /** Store API calls per second. */
  callsPerSecond: number
  burst: number
  /** Reads in flight at most. */
  concurrency: number
  /** Calls that may wait; more are refused at once (unavailable). */
  maxQueue: number
  /** API calls one read makes (tokens it takes); 1 when absent. */
  callsPerRead?: number
}

export type CallPriority = 'request' | 'background'
/** Queue order: retries of throttled requests first (they are the oldest), then requests, then refreshes. */
type QueuePriority = 'retry' | CallPriority
const PRIORITIES: readonly QueuePriority[] = ['retry', 'request', 'background']

interface Waiter {
  priority: QueuePriority
  start: () => void
  /** Past this, starting would leave the store too little of the call's timeout: refused instead. */
  startBy: number
  expire: () => void
  queuedAt: number
}

export interface RunOptions {
  /**
   * The call's timeout (ms, from now): a call whose predicted wait exceeds it is refused at once,
   * and a throttled call is retried only while its retry can still start in time.
   */
  timeoutMs?: number
  /** A throttled call goes back to wait for a retry (its n-th throttled answer). */
  onRetry?: (throttledAnswers: number) => void
}

export interface BudgetStats {
  queued: number
  inFlight: number
  /** The rate in force now, API calls per second (shrinks after throttling, recovers gradually). */
  callsPerSecond: number
  throttled: number
  /** Throttled calls that went back to wait for a retry. */
  retried: number
  refused: number
  /** Total time calls spent waiting, ms. */
  waitedMs: number
  /** Reads started (each retry counts again). */
  calls: number
}

const MIN_RATE_SHARE = 0.05
const RECOVERY_SHARE_PER_SECOND = 0.1
/** From this share of the last throttled rate up to that rate, recovery probes at PROBE_SHARE_PER_SECOND. */
const NEAR_THROTTLED_SHARE = 0.9
const PROBE_SHARE_PER_SECOND = 0.01
/** A rate the store throttled is at most this share of what it was... */
const DECREASE_AT_LEAST = 0.9
/** ...and at least half of it, or this share of what the store accepted in the last second. */
const ACCEPTED_SHARE = 0.9
const CALM_MS = 1000
/**
 * A call waits for a slot at most this share of its timeout (a retry: of what is left), so the
 * store keeps the rest to answer: a call started just before its timeout is a wasted store call.
 */
const MAX_WAIT_SHARE = 0.5

export class CallBudget {
  readonly #settings: BudgetSettings
  readonly #cost: number
  readonly #burst: number
  readonly #now: () => number
  #rate: number
  #tokens: number
  #refilledAt: number
  #pausedUntil = 0
  #lastThrottleAt = -Infinity
  /** The rate in force when the store last made the budget decrease; Infinity before any. */
  #throttledRate = Infinity
  /** When the rate was last decreased: a throttled call started before it says nothing new. */
  #decreasedAt = -Infinity
  #inFlight = 0
  readonly #queue: Waiter[] = []
  readonly #waiting: Record<QueuePriority, number> = { retry: 0, request: 0, background: 0 }
  /** Completion times of calls the store did not throttle, for the last second. */
  readonly #accepted: number[] = []
  #timer: NodeJS.Timeout | undefined
  readonly #stats = { throttled: 0, retried: 0, refused: 0, waitedMs: 0, calls: 0 }

  constructor (settings: BudgetSettings, now: () => number = monotonicMs) {
    this.#settings = settings
    this.#cost = Math.max(1, settings.callsPerRead ?? 1)
    // A read must fit in the bucket, or it could never start.
    this.#burst = Math.max(settings.burst, this.#cost)
    this.#now = now
    this.#rate = settings.callsPerSecond
    this.#tokens = this.#burst
    this.#refilledAt = now()
  }

  /**
   * Runs `call` once the budget allows it. `signal` bounds the wait (the store call's timeout):
   * aborted while queued, the call never starts and the promise rejects as unavailable. A call
   * that answers with a throttled store error shrinks the budget and is run again under it while
   * `timeoutMs` allows; otherwise that error is thrown, with a Retry-After hint.
   */
  async run<T> (signal: AbortSignal, call: () => Promise<T>, priority: CallPriority = 'request', { timeoutMs, onRetry }: RunOptions = {}): Promise<T> {
    const deadline = timeoutMs === undefined ? Infinity : this.#now() + timeoutMs
    const retryPriority: QueuePriority = priority === 'request' ? 'retry' : 'background'
    let throttledAnswers = 0
    let startBy = this.#now() + (deadline - this.#now()) * MAX_WAIT_SHARE
    for (;;) {
      await this.#acquire(signal, throttledAnswers === 0 ? priority : retryPriority, startBy, throttledAnswers)
      const startedAt = this.#now()
      this.#stats.calls++
      try {
        const result = await call()
        this.#accept()
        return result
      } catch (err) {
        const throttled = isStoreError(err) ? err.throttled : undefined
        if (throttled === undefined) {
          // A denied or malformed answer still passed the store's quota; a network error did not.
          if (isStoreError(err) && err.kind !== 'unavailable') this.#accept()
          throw err
        }
        this.throttled(startedAt, throttled.retryAfterMs)
        throttledAnswers++
        const wait = this.#predictedWait(retryPriority)
        startBy = this.#now() + (deadline - this.#now()) * MAX_WAIT_SHARE
        if (signal.aborted || wait > startBy - this.#now()) {
          // No retry fits: the throttle reaches the caller, with when to try again.
          const failure = err as StoreError
          failure.retryAfterMs = Math.max(failure.retryAfterMs ?? 0, wait, 1)
          throw failure
        }
        this.#stats.retried++
        onRetry?.(throttledAnswers)
      } finally {
        this.#inFlight--
        this.#pump()
      }
    }
  }

  /**
   * The store said "too many requests" to a call started at `startedAt` (this budget's clock):
   * shrink the rate, unless the call started before the last decrease (it was sent at the old
   * rate), and pause for Retry-After when given.
   */
  throttled (startedAt: number, retryAfterMs?: number): void {
    const now = this.#now()
    this.#stats.throttled++
    if (startedAt >= this.#decreasedAt) {
      const floor = this.#settings.callsPerSecond * MIN_RATE_SHARE
      const accepted = this.#acceptedLastSecond() * ACCEPTED_SHARE
      this.#throttledRate = this.#rate
      this.#rate = Math.max(floor, Math.min(this.#rate * DECREASE_AT_LEAST, Math.max(this.#rate / 2, accepted)))
      this.#tokens = Math.min(this.#tokens, 0)
      this.#decreasedAt = now
    }
    this.#lastThrottleAt = now
    if (retryAfterMs !== undefined && retryAfterMs > 0) this.#pausedUntil = Math.max(this.#pausedUntil, now + retryAfterMs)
  }

  stats (): BudgetStats {
    this.#refill()
    return { queued: this.#queue.length, inFlight: this.#inFlight, callsPerSecond: this.#rate, ...this.#stats }
  }

  async #acquire (signal: AbortSignal, priority: QueuePriority, startBy: number, throttledAnswers: number): Promise<void> {
    signal.throwIfAborted()
    if (this.#queue.length === 0 && this.#tryStart()) return
    const after = throttledAnswers === 0 ? '' : ` to retry after ${throttledAnswers} throttled answer(s)`
    if (this.#queue.length >= this.#settings.maxQueue) {
      this.#stats.refused++
      throw this.#refusal(`call budget: ${this.#queue.length} calls already waiting${after} (budget ${this.#describe()})`, this.#predictedWait(priority))
    }
    const wait = this.#predictedWait(priority)
    const left = startBy - this.#now()
    if (wait > left) {
      // Holding it would only make the caller wait for the same 503.
      this.#stats.refused++
      throw this.#refusal(`call budget: a slot${after} is ${Math.round(wait)} ms away, beyond the wait the call timeout allows (${Math.round(left)} ms; ${this.#queue.length} calls waiting, budget ${this.#describe()})`, wait)
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        startBy,
        queuedAt: this.#now(),
        start: () => { signal.removeEventListener('abort', onAbort); this.#stats.waitedMs += this.#now() - waiter.queuedAt; resolve() },
        expire: () => {
          signal.removeEventListener('abort', onAbort)
          this.#stats.waitedMs += this.#now() - waiter.queuedAt
          this.#stats.refused++
          reject(this.#refusal(`call budget: no slot${after} within the wait the call timeout allows (waited ${Math.round(this.#now() - waiter.queuedAt)} ms, budget ${this.#describe()})`, this.#predictedWait(priority)))
        }
      }
      const onAbort = (): void => {
        const at = this.#queue.indexOf(waiter)
        if (at >= 0) {
          this.#queue.splice(at, 1)
          this.#waiting[priority]--
        }
        this.#stats.refused++
        reject(this.#refusal(`call budget: no slot${after} within the call timeout (waited ${Math.round(this.#now() - waiter.queuedAt)} ms, budget ${this.#describe()})`, this.#predictedWait(priority)))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      // Behind every waiter of the same or a higher priority, before the lower ones.
      const rank = PRIORITIES.indexOf(priority)
      const before = this.#queue.findIndex(w => PRIORITIES.indexOf(w.priority) > rank)
      if (before >= 0) this.#queue.splice(before, 0, waiter)
      else this.#queue.push(waiter)
      this.#waiting[priority]++
      this.#schedule()
    })
  }

  #refusal (detail: string, retryAfterMs: number): StoreError {
    const err = storeError('unavailable', detail)
    err.retryAfterMs = Math.max(1, Math.ceil(retryAfterMs))
    return err
  }

  /** When a call queued now at `priority` would start if the rate held: tokens for it and every call ahead, or the end of a pause. */
  #predictedWait (priority: QueuePriority): number {
    this.#refill()
    const rank = PRIORITIES.indexOf(priority)
    const ahead = PRIORITIES.slice(0, rank + 1).reduce((sum, p) => sum + this.#waiting[p], 0)
    const needed = (ahead + 1) * this.#cost - this.#tokens
    const tokenWait = needed > 0 ? needed / this.#rate * 1000 : 0
    return Math.max(tokenWait, this.#pausedUntil - this.#now(), 0)
  }

  #accept (): void {
    const now = this.#now()
    this.#accepted.push(now)
    this.#forgetAccepted(now)
  }

  #acceptedLastSecond (): number {
    this.#forgetAccepted(this.#now())
    return this.#accepted.length * this.#cost
  }

  #forgetAccepted (now: number): void {
    let old = 0
    while (old < this.#accepted.length && (this.#accepted[old] as number) <= now - 1000) old++
    if (old > 0) this.#accepted.splice(0, old)
  }

  #describe (): string {
    return `${this.#rate.toFixed(1)} calls/s${this.#cost === 1 ? '' : ` at ${this.#cost} calls per read`}, ${this.#settings.concurrency} reads at once`
  }

  #refill (): void {
    const now = this.#now()
    const since = this.#refilledAt
    this.#refilledAt = now
    if (now <= since) return
    // Additive increase for the part of the interval after a calm second.
    const calmFrom = Math.max(since, this.#lastThrottleAt + CALM_MS)
    if (now > calmFrom) this.#rate = recovered(this.#rate, (now - calmFrom) / 1000, this.#settings.callsPerSecond, this.#throttledRate)
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - since) / 1000 * this.#rate)
  }

  #tryStart (): boolean {
    if (this.#inFlight >= this.#settings.concurrency || this.#now() < this.#pausedUntil) return false
    this.#refill()
    if (this.#tokens < this.#cost) return false
    this.#tokens -= this.#cost
    this.#inFlight++
    return true
  }

  #pump (): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as Waiter
      const late = this.#now() > head.startBy
      if (!late && !this.#tryStart()) break
      this.#queue.shift()
      this.#waiting[head.priority]--
      if (late) head.expire()
      else head.start()
    }
    this.#schedule()
  }

  /** Wakes up when the next token (or the end of a pause) is due. */
  #schedule (): void {
    if (this.#timer !== undefined || this.#queue.length === 0 || this.#inFlight >= this.#settings.concurrency) return
    const now = this.#now()
    const tokenIn = this.#tokens >= this.#cost ? 0 : ((this.#cost - this.#tokens) / Math.max(this.#rate, 0.001)) * 1000
    // Or when the first waiter may wait no longer, to refuse it then rather than at the next token.
    const head = this.#queue[0] as Waiter
    const delay = Math.max(Math.min(Math.max(tokenIn, this.#pausedUntil - now), head.startBy - now + 1), 1)
    // Not unref'd: it exists only while calls wait, and they must keep the process alive (the CLI).
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#pump() }, delay)
  }
}

/**
 * The rate after `seconds` of calm: a tenth of `configured` per second, but a hundredth from
 * NEAR_THROTTLED_SHARE of the last throttled rate up to it (where the quota was); past it (the
 * quota was raised, or another client stopped) a tenth again; never above `configured`.
 */
export function recovered (rate: number, seconds: number, configured: number, throttledRate: number): number {
  const nearFrom = throttledRate * NEAR_THROTTLED_SHARE
  let left = seconds
  while (left > 0 && rate < configured) {
    const near = rate >= nearFrom && rate < throttledRate
    const speed = configured * (near ? PROBE_SHARE_PER_SECOND : RECOVERY_SHARE_PER_SECOND)
    const zoneEnd = Math.min(configured, near ? throttledRate : rate < nearFrom ? nearFrom : configured)
    const needed = (zoneEnd - rate) / speed
    if (needed > left) return rate + speed * left
    rate = zoneEnd
    left -= needed
  }
  return Math.min(rate, configured)
}

/** `budget` as configured for one backend. */
export interface BudgetConfig extends Partial<BudgetSettings> {
  enabled: boolean
}

/**
 * The budget of each configured backend: its store type's defaults, overridden key by key by
 * `budget` in config; none for a store type without defaults unless config sets a rate. A read
 * takes as many tokens as the backend says one read makes (its callsPerRead), else its definition.
 */
export function createBudgets (configs: ReadonlyArray<{ name: string, type: string, budget: BudgetConfig }>, definitions: readonly BackendDefinition<any>[], backends: ReadonlyArray<Pick<Backend, 'name' | 'callsPerRead'>> = []): Map<string, CallBudget> {
  const budgets = new Map<string, CallBudget>()
  for (const { name, type, budget } of configs) {
    if (!budget.enabled) continue
    const defaults = definitions.find(d => d.type === type)?.budget
    const { enabled: _enabled, ...configured } = budget
    const rate = configured.callsPerSecond ?? defaults?.callsPerSecond
    if (rate === undefined) continue
    budgets.set(name, new CallBudget({
      callsPerSecond: rate,
      burst: configured.burst ?? defaults?.burst ?? Math.max(1, Math.ceil(rate)),
      concurrency: configured.concurrency ?? defaults?.concurrency ?? 16,
      maxQueue: configured.maxQueue ?? defaults?.maxQueue ?? 1000,
      // What one read costs is the store's, not the operator's: the backend (from its templates) or its definition says it.
      callsPerRead: backends.find(b => b.name === name)?.callsPerRead ?? defaults?.callsPerRead ?? 1
    }))
  }
  return budgets
}

/** Budget metrics, read at scrape time: calls waiting and in flight, the rate in force, throttled answers, retries, refusals, waited time. */
export function registerBudgetMetrics (registry: Registry, budgets: ReadonlyMap<string, CallBudget>): void {
  const labelNames = ['backend']
  const gauge = (name: string, help: string, pick: (s: BudgetStats) => number): void => {
    new Gauge({ name, help, labelNames, registers: [registry], collect () { for (const [backend, b] of budgets) this.set({ backend }, pick(b.stats())) } }) // eslint-disable-line no-new
  }
  const counter = (name: string, help: string, pick: (s: BudgetStats) => number): void => {
    new Counter({ name, help, labelNames, registers: [registry], collect () { this.reset(); for (const [backend, b] of budgets) this.inc({ backend }, pick(b.stats())) } }) // eslint-disable-line no-new
  }
  gauge('nf_secret_source_budget_queued', 'store calls waiting for the call budget', s => s.queued)
  gauge('nf_secret_source_budget_in_flight', 'store calls in flight under the call budget', s => s.inFlight)
  gauge('nf_secret_source_budget_calls_per_second', 'the call budget in force, store API calls per second (shrinks after throttling, recovers gradually)', s => s.callsPerSecond)
  counter('nf_secret_source_budget_throttled_total', 'throttling answers from the store (429, ThrottlingException)', s => s.throttled)
  counter('nf_secret_source_budget_retried_total', 'throttled store calls retried under the shrunk budget', s => s.retried)
  counter('nf_secret_source_budget_refused_total', 'store calls refused: predicted to wait past their timeout, still waiting at it, or the queue full', s => s.refused)
  counter('nf_secret_source_budget_waited_seconds_total', 'time store calls spent waiting for the call budget', s => s.waitedMs / 1000)
}
