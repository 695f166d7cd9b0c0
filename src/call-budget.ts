// A call budget per backend: a token bucket (callsPerSecond, burst) and a concurrency cap in front
// of every store call, so a burst of cold identities (a deploy, a node failure) stays inside the
// store's quota instead of turning into throttling answers and 503s. Calls over budget wait in a
// bounded FIFO queue (requests before background refreshes); a call that cannot start before its
// own timeout fails as unavailable, never as an empty layer. A throttling answer from the store
// halves the rate (and honours Retry-After); every calm second gives back a tenth of the
// configured rate (AIMD), up to what is configured.
import { Counter, Gauge, type Registry } from 'prom-client'
import { storeError, type StoreError } from './store/errors.js'
import type { BackendDefinition } from './store/port.js'

export interface BudgetSettings {
  callsPerSecond: number
  burst: number
  concurrency: number
  /** Calls that may wait; more are refused at once (unavailable). */
  maxQueue: number
}

export type CallPriority = 'request' | 'background'

interface Waiter {
  priority: CallPriority
  start: () => void
  fail: (err: StoreError) => void
  queuedAt: number
}

export interface BudgetStats {
  queued: number
  inFlight: number
  /** The rate in force now (shrinks after throttling, recovers gradually). */
  callsPerSecond: number
  throttled: number
  refused: number
  /** Total time calls spent waiting, ms. */
  waitedMs: number
  calls: number
}

const MIN_RATE_SHARE = 0.05
const RECOVERY_SHARE_PER_SECOND = 0.1

export class CallBudget {
  readonly #settings: BudgetSettings
  readonly #now: () => number
  #rate: number
  #tokens: number
  #refilledAt: number
  #pausedUntil = 0
  #lastThrottleAt = -Infinity
  #inFlight = 0
  readonly #queue: Waiter[] = []
  #timer: NodeJS.Timeout | undefined
  readonly #stats = { throttled: 0, refused: 0, waitedMs: 0, calls: 0 }

  constructor (settings: BudgetSettings, now: () => number = () => performance.now()) {
    this.#settings = settings
    this.#now = now
    this.#rate = settings.callsPerSecond
    this.#tokens = settings.burst
    this.#refilledAt = now()
  }

  /**
   * Runs `call` once the budget allows it. `signal` bounds the wait (the store call's timeout):
   * aborted while queued, the call never starts and the promise rejects as unavailable.
   */
  async run<T> (signal: AbortSignal, call: () => Promise<T>, priority: CallPriority = 'request'): Promise<T> {
    await this.#acquire(signal, priority)
    this.#stats.calls++
    try {
      return await call()
    } finally {
      this.#inFlight--
      this.#pump()
    }
  }

  /** The store said "too many requests": halve the rate, and pause for Retry-After when given. */
  throttled (retryAfterMs?: number): void {
    const now = this.#now()
    this.#stats.throttled++
    // One halving per burst of throttling answers, not one per answer in flight.
    if (now - this.#lastThrottleAt > 1000 / Math.max(this.#rate, 1)) {
      this.#rate = Math.max(this.#settings.callsPerSecond * MIN_RATE_SHARE, this.#rate / 2)
      this.#tokens = Math.min(this.#tokens, 0)
    }
    this.#lastThrottleAt = now
    if (retryAfterMs !== undefined && retryAfterMs > 0) this.#pausedUntil = Math.max(this.#pausedUntil, now + retryAfterMs)
  }

  stats (): BudgetStats {
    this.#refill()
    return { queued: this.#queue.length, inFlight: this.#inFlight, callsPerSecond: this.#rate, ...this.#stats }
  }

  async #acquire (signal: AbortSignal, priority: CallPriority): Promise<void> {
    signal.throwIfAborted()
    if (this.#queue.length === 0 && this.#tryStart()) return
    if (this.#queue.length >= this.#settings.maxQueue) {
      this.#stats.refused++
      throw storeError('unavailable', `call budget: ${this.#queue.length} calls already waiting (budget ${this.#describe()})`)
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        queuedAt: this.#now(),
        start: () => { signal.removeEventListener('abort', onAbort); this.#stats.waitedMs += this.#now() - waiter.queuedAt; resolve() },
        fail: reject
      }
      const onAbort = (): void => {
        const at = this.#queue.indexOf(waiter)
        if (at >= 0) this.#queue.splice(at, 1)
        this.#stats.refused++
        reject(storeError('unavailable', `call budget: no slot within the call timeout (waited ${Math.round(this.#now() - waiter.queuedAt)} ms, budget ${this.#describe()})`))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      // Requests go before background refreshes; FIFO within each.
      const firstBackground = priority === 'request' ? this.#queue.findIndex(w => w.priority === 'background') : -1
      if (firstBackground >= 0) this.#queue.splice(firstBackground, 0, waiter)
      else this.#queue.push(waiter)
      this.#schedule()
    })
  }

  #describe (): string {
    return `${this.#rate.toFixed(1)}/s, ${this.#settings.concurrency} at once`
  }

  #refill (): void {
    const now = this.#now()
    const elapsed = (now - this.#refilledAt) / 1000
    this.#refilledAt = now
    if (elapsed <= 0) return
    // Additive increase once the store has been calm for a second.
    if (now - this.#lastThrottleAt > 1000 && this.#rate < this.#settings.callsPerSecond) {
      this.#rate = Math.min(this.#settings.callsPerSecond, this.#rate + this.#settings.callsPerSecond * RECOVERY_SHARE_PER_SECOND * elapsed)
    }
    this.#tokens = Math.min(this.#settings.burst, this.#tokens + elapsed * this.#rate)
  }

  #tryStart (): boolean {
    if (this.#inFlight >= this.#settings.concurrency || this.#now() < this.#pausedUntil) return false
    this.#refill()
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    this.#inFlight++
    return true
  }

  #pump (): void {
    while (this.#queue.length > 0 && this.#tryStart()) (this.#queue.shift() as Waiter).start()
    this.#schedule()
  }

  /** Wakes up when the next token (or the end of a pause) is due. */
  #schedule (): void {
    if (this.#timer !== undefined || this.#queue.length === 0 || this.#inFlight >= this.#settings.concurrency) return
    const now = this.#now()
    const tokenIn = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) / Math.max(this.#rate, 0.001)) * 1000
    const delay = Math.max(tokenIn, this.#pausedUntil - now, 1)
    // Not unref'd: it exists only while calls wait, and they must keep the process alive (the CLI).
    this.#timer = setTimeout(() => { this.#timer = undefined; this.#pump() }, delay)
  }
}

/** `budget` as configured for one backend. */
export interface BudgetConfig extends Partial<BudgetSettings> {
  enabled: boolean
}

/**
 * The budget of each configured backend: its store type's defaults, overridden key by key by
 * `budget` in config; none for a store type without defaults unless config sets a rate.
 */
export function createBudgets (configs: ReadonlyArray<{ name: string, type: string, budget: BudgetConfig }>, definitions: readonly BackendDefinition<any>[]): Map<string, CallBudget> {
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
      maxQueue: configured.maxQueue ?? defaults?.maxQueue ?? 1000
    }))
  }
  return budgets
}

/** Budget metrics, read at scrape time: calls waiting and in flight, the rate in force, throttled answers, refusals, waited time. */
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
  gauge('nf_secret_source_budget_calls_per_second', 'the call budget in force (shrinks after throttling, recovers gradually)', s => s.callsPerSecond)
  counter('nf_secret_source_budget_throttled_total', 'throttling answers from the store (429, ThrottlingException)', s => s.throttled)
  counter('nf_secret_source_budget_refused_total', 'store calls that could not start within their timeout or found the queue full', s => s.refused)
  counter('nf_secret_source_budget_waited_seconds_total', 'time store calls spent waiting for the call budget', s => s.waitedMs / 1000)
}
