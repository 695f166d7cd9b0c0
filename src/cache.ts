// The cache in front of every backend, keyed by (backend, locator). Memory only.
// - ttl: a read younger than this is served without a store call (0 disables the cache)
// - single-flight: concurrent misses for one locator share one store call
// - stale-if-error: when the store call fails, a copy younger than staleIfError is served;
//   until the store answers again, that copy is served at once and the store is retried in
//   the background once per ttl, so an outage does not make every start wait a call timeout
// - empty layers (found: false) are cached like any other read
// - errorTtl: a denied or malformed outcome with no stale copy to serve is remembered this long and
//   answered without a store call (a denied path would otherwise cost a store call per request);
//   unavailable outcomes are never remembered: they keep stale-if-error and the background retry
// - refresh-ahead: an entry read in the last refreshAheadSeconds of its ttl is refreshed in the
//   background (the call budget's lowest priority), so identities that start often never wait
//   on the store and hot layers do not expire into synchronous misses; an entry nobody reads
//   expires as before
// - reuse: an identity's last hits may be taken again without a lookup while they are fresh and
//   not yet due for refresh-ahead; about once a second the resolver asks whether the cache still
//   holds them (CacheHit.reusable), and the LRU hears of them then
// lru-cache bounds the entries; the rest is here because lru-cache's fetch() does not tell
// coalesced callers that they got a stale copy, nor why.
import { LRUCache } from 'lru-cache'
import { monotonicMs } from './clock.js'
import type { Backend, ReadResult } from './store/port.js'
import type { CacheStatus, StoreRead, StoreReader } from './resolver.js'
import type { CallPriority } from './call-budget.js'
import { isStoreError, type StoreError } from './store/errors.js'

export interface CacheSettings {
  ttl: number
  staleIfError: number
  maxEntries: number
  /** Seconds a denied or malformed outcome is remembered (no store call meanwhile); 0: never. */
  errorTtl: number
  /** A read in the last this-many seconds of ttl refreshes the entry in the background; 0: never. */
  refreshAheadSeconds?: number
}

interface Failure {
  error: StoreError
  at: number
}

/** How often at most a reused hit tells the LRU that its entry was read. */
const RECENCY_MS = 1000

/**
 * The answer to every cache hit on one store read: one object per store read, not one per hit.
 * The resolver keeps the hits of an identity's last request and takes them again until
 * reusableUntil, asking reusable() about once a second, instead of looking each locator up on
 * every request: each lookup into a table the rest of the request has pushed out of the CPU
 * caches cost about a microsecond in the warm-path benchmark (resolving an identity took 10 µs in
 * the service, 1 µs in a loop).
 */
export class CacheHit implements StoreRead {
  readonly cache = 'hit' as const
  /** Taken again without a lookup until then; 0 once the cache no longer answers this read. */
  reusableUntil: number
  /** When the LRU last saw this read. */
  touchedAt: number

  constructor (readonly result: ReadResult, fetchedAt: number, reusableUntil: number, private readonly owner: LocatorCache, private readonly locator: string,
    /** Counts a read that took this hit without a lookup, as any cache hit is counted (shared by the cache's hits). */
    readonly countReuse: () => void) {
    this.touchedAt = fetchedAt
    this.reusableUntil = reusableUntil
  }

  /** Still what a read of its locator would answer: cached, fresh, not due for refresh-ahead. */
  reusable (): boolean {
    return this.owner.stillServes(this, this.locator)
  }
}

interface Stored {
  result: ReadResult
  fetchedAt: number
  hit: CacheHit
  /** When the last refresh failed; unset once the store answers again. */
  failedAt?: number
}

/**
 * How one layer read went: its cache status; error (the read failed: a store call failed, or a
 * shared one); cached_error (a remembered denied or malformed outcome, no store call).
 */
export type CacheReadOutcome = CacheStatus | 'error' | 'cached_error'

export interface CacheEvents {
  /** One per read. */
  onRead?: (backend: string, outcome: CacheReadOutcome) => void
  /** A stale copy was served because the store failed. */
  onStale?: (backend: string, locator: string, ageMs: number, error: unknown) => void
  /** A refresh-ahead call settled. */
  onRefresh?: (backend: string, result: 'ok' | 'failed') => void
}

/** One store call; background calls (refresh-ahead) wait behind requests in the call budget. */
export type StoreCall = (backend: Backend, locator: string, priority?: CallPriority) => Promise<ReadResult>

export class LocatorCache {
  readonly #entries: LRUCache<string, Stored>
  readonly #failures: LRUCache<string, Failure>
  readonly #inflight = new Map<string, Promise<Stored>>()

  constructor (
    private readonly backend: Backend,
    private readonly settings: CacheSettings,
    private readonly call: StoreCall,
    private readonly now: () => number = monotonicMs,
    private readonly events: Pick<CacheEvents, 'onRefresh' | 'onRead'> = {}
  ) {
    // Replaced, evicted or deleted: its hit is no longer what a read answers.
    this.#entries = new LRUCache({ max: settings.maxEntries, dispose: stored => { stored.hit.reusableUntil = 0 } })
    this.#failures = new LRUCache({ max: settings.maxEntries })
  }

  get size (): number {
    return this.#entries.size
  }

  /** See CacheHit.reusable; the LRU hears of the read at most once per RECENCY_MS. */
  stillServes (hit: CacheHit, locator: string): boolean {
    const now = this.now()
    if (now >= hit.reusableUntil) return false
    if (now - hit.touchedAt >= RECENCY_MS) {
      hit.touchedAt = now
      this.#entries.get(locator)
    }
    return true
  }

  readonly #countHit = (): void => { this.events.onRead?.(this.backend.name, 'hit') }

  /** The refresh-ahead window: at most the last fifth of the ttl (a short ttl must not turn every hit into a store call). */
  #aheadMs (): number {
    return Math.min((this.settings.refreshAheadSeconds ?? 0) * 1000, this.settings.ttl * 1000 / 5)
  }

  /** The cached read while it is younger than ttl (synchronous: the warm path); refreshes it ahead when due. */
  fresh (locator: string): ReadResult | undefined {
    return this.freshHit(locator)?.result
  }

  /** fresh(), as the cache hit a StoreReader answers (the same object for every hit on one store read). */
  freshHit (locator: string): Stored['hit'] | undefined {
    const cached = this.#entries.get(locator)
    if (cached === undefined) return undefined
    const age = this.now() - cached.fetchedAt
    const ttlMs = this.settings.ttl * 1000
    if (age >= ttlMs) return undefined
    const ahead = this.#aheadMs()
    if (ahead > 0 && age >= ttlMs - ahead && cached.failedAt === undefined && !this.#inflight.has(locator)) {
      this.#start(locator, 'background').then(
        () => { this.events.onRefresh?.(this.backend.name, 'ok') },
        () => { this.events.onRefresh?.(this.backend.name, 'failed') })
    }
    return cached.hit
  }

  /**
   * The remembered denied or malformed outcome while it is younger than errorTtl, unless read()
   * would serve a stale copy instead (synchronous, like fresh()).
   */
  failure (locator: string): StoreError | undefined {
    const failure = this.#failures.get(locator)
    if (failure === undefined) return undefined
    if (this.now() - failure.at >= this.settings.errorTtl * 1000) {
      this.#failures.delete(locator)
      return undefined
    }
    const known = this.#entries.get(locator)
    return known?.failedAt !== undefined && this.#servableStale(known) ? undefined : failure.error
  }

  async read (locator: string, events: CacheEvents = {}): Promise<{ result: ReadResult, cache: CacheStatus }> {
    const cached = this.fresh(locator)
    if (cached !== undefined) return { result: cached, cache: 'hit' }
    const remembered = this.failure(locator)
    if (remembered !== undefined) throw remembered
    const known = this.#entries.get(locator)
    if (known?.failedAt !== undefined && this.#servableStale(known)) {
      if (!this.#inflight.has(locator) && this.now() - known.failedAt >= this.settings.ttl * 1000) {
        // The retry marks its own failure; it is logged like any stale serve, once per ttl.
        this.#start(locator).catch((err: unknown) => { events.onStale?.(this.backend.name, locator, this.now() - known.fetchedAt, err) })
      }
      return { result: known.result, cache: 'stale' }
    }
    let flight = this.#inflight.get(locator)
    const status: CacheStatus = flight === undefined ? 'miss' : 'coalesced'
    flight ??= this.#start(locator)
    try {
      return { result: (await flight).result, cache: status }
    } catch (err) {
      const stale = this.#entries.get(locator)
      if (stale === undefined || !this.#servableStale(stale)) throw err
      events.onStale?.(this.backend.name, locator, this.now() - stale.fetchedAt, err)
      return { result: stale.result, cache: 'stale' }
    }
  }

  #servableStale (stored: Stored): boolean {
    return this.now() - stored.fetchedAt <= this.settings.staleIfError * 1000
  }

  /** One store call for the locator, shared until it settles (cleared only by itself). */
  #start (locator: string, priority?: CallPriority): Promise<Stored> {
    const flight = (async () => await this.call(this.backend, locator, priority))().then(
      result => {
        const fetchedAt = this.now()
        const hit = new CacheHit(result, fetchedAt, fetchedAt + this.settings.ttl * 1000 - this.#aheadMs(), this, locator, this.#countHit)
        const stored: Stored = { result, fetchedAt, hit }
        this.#entries.set(locator, stored)
        this.#failures.delete(locator)
        return stored
      },
      (err: unknown) => {
        const stale = this.#entries.get(locator)
        if (stale !== undefined) {
          stale.failedAt = this.now()
          stale.hit.reusableUntil = 0
        }
        // Denied and malformed say something about the store's content or our rights, and repeat
        // until someone changes them: remembered briefly. Unavailable may be gone the next moment.
        if (this.settings.errorTtl > 0 && isStoreError(err) && err.kind !== 'unavailable') this.#failures.set(locator, { error: err, at: this.now() })
        throw err
      })
    this.#inflight.set(locator, flight)
    const clear = (): void => { if (this.#inflight.get(locator) === flight) this.#inflight.delete(locator) }
    flight.then(clear, clear)
    return flight
  }
}

/** Plain data (entries, read results) compared by value. */
function sameData (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every(k => sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/**
 * For a backend that serves from memory (an informer): a read equal to the last one of its locator
 * is answered as that very object, as a cache hit would be. So the resolver neither merges nor
 * serialises again, and invalid entries are logged once per change of the replica, not per request.
 */
function replicaReads (maxEntries: number): (locator: string, result: ReadResult) => ReadResult {
  const last = new LRUCache<string, ReadResult>({ max: maxEntries })
  return (locator, result) => {
    const known = last.get(locator)
    if (known !== undefined && sameData(known, result)) return known
    last.set(locator, result)
    return result
  }
}

/** A StoreReader with one LocatorCache per backend whose ttl is above 0 (and that does not serve from memory). */
export function cachedReader (backends: ReadonlyArray<{ backend: Backend, cache: CacheSettings }>, call: StoreCall, events: CacheEvents = {}, now: () => number = monotonicMs): { read: StoreReader, caches: Map<string, LocatorCache> } {
  const caches = new Map<string, LocatorCache>()
  const replicas = new Map<string, ReturnType<typeof replicaReads>>()
  for (const { backend, cache } of backends) {
    if (backend.servesFromMemory === true) replicas.set(backend.name, replicaReads(cache.maxEntries))
    else if (cache.ttl > 0) caches.set(backend.name, new LocatorCache(backend, cache, call, now, events))
  }
  const direct = async (backend: Backend, locator: string): Promise<ReadResult> => {
    const result = await call(backend, locator)
    const replica = replicas.get(backend.name)
    return replica === undefined ? result : replica(locator, result)
  }
  const read: StoreReader = (backend, locator) => {
    const cache = caches.get(backend.name)
    const hit = cache?.freshHit(locator)
    if (hit !== undefined) {
      events.onRead?.(backend.name, 'hit')
      return hit
    }
    const remembered = cache?.failure(locator)
    if (remembered !== undefined) {
      events.onRead?.(backend.name, 'cached_error')
      return Promise.reject(remembered)
    }
    return (async () => {
      try {
        const answer = cache === undefined ? { result: await direct(backend, locator), cache: 'off' as const } : await cache.read(locator, events)
        events.onRead?.(backend.name, answer.cache)
        return answer
      } catch (err) {
        events.onRead?.(backend.name, 'error')
        throw err
      }
    })()
  }
  return { read, caches }
}
