// identity -> layers -> locators per backend -> read (in parallel; validated per store read) -> merge.
// Knows stores only through the Backend port; the cache plugs in as the StoreReader.
import type { Backend, ReadResult } from './store/port.js'
import type { InvalidEntry, Source } from './core/entries.js'
import type { Identity } from './core/identity.js'
import { LRUCache } from 'lru-cache'
import { monotonicMs } from './clock.js'
import { mergeLayers, type LayerRead, type ResolvedEntry } from './core/merge.js'
import { DeadlineExceeded } from './errors.js'
import type { StoreError } from './store/errors.js'
import { asStoreError } from './store-call.js'
import type { RequestTrace } from './tracing.js'

export type CacheStatus = 'off' | 'hit' | 'miss' | 'coalesced' | 'stale'

export interface StoreRead {
  result: ReadResult
  cache: CacheStatus
  /**
   * A cache hit the next requests for the same identity may take without asking the reader: it
   * stays fresh and not due for refresh-ahead until reusableUntil (ms, the reader's clock), and
   * reusable() says whether the reader still holds it.
   */
  reusableUntil?: number
  reusable?: () => boolean
  /** Counts a read that took a hit without asking the reader, as the reader counts its reads (one function per reader, shared by its hits). */
  countReuse?: () => void
}

/**
 * Reads one locator of one backend: the store call itself, or the cache in front of it.
 * A cache hit may answer synchronously: a warm request then costs no promise and no timer.
 */
export type StoreReader = (backend: Backend, locator: string) => StoreRead | Promise<StoreRead>

export interface PlannedRead {
  layer: string
  backend: Backend
  locator: string
}

export interface ReadReport extends Source {
  found: boolean
  entries: number
  cache: CacheStatus
}

/** What an identity gets from a given set of store reads; immutable, shared between requests. */
export interface Answer {
  entries: ResolvedEntry[]
  invalid: Array<InvalidEntry & { source: Source }>
  env: string[]
  files: string[]
  /** The response body, serialised once. */
  json: string
}

/** What an answer was made of, without a value: its entry names, the invalid entries skipped, the reads. */
export interface ResolutionSummary {
  /** The identity the answer is for (the audit line serialises it with the answer, once). */
  identity: Identity
  env: readonly string[]
  files: readonly string[]
  skipped: number
  reads: readonly ReadReport[]
}

export interface Resolution {
  answer: Answer
  /** This request's reads: which layers were found and which came from the cache. */
  reads: readonly ReadReport[]
  /** The same object while the answer and the reads are the same (the audit line caches by it). */
  summary: ResolutionSummary
  /**
   * The invalid entries of store reads this request is the first to see (a new store read, not a
   * cache hit, a coalesced share or a stale copy): what to log and count, once per store read.
   * `answer.invalid` still holds them all (strict mode refuses every answer that has one).
   */
  invalidFirstSeen: Answer['invalid']
}

/** Least specific first: layer order, then backend order within a layer. */
export function planReads (layers: readonly string[], backends: readonly Backend[], identity: Identity): PlannedRead[] {
  return layers.flatMap(layer => backends.flatMap(backend => {
    const locator = backend.locate(layer, identity)
    return locator === undefined ? [] : [{ layer, backend, locator }]
  }))
}

export interface Resolver {
  /**
   * Rejects with a store error (503) or DeadlineExceeded; never resolves with part of the layers.
   * With a trace (tracing on, src/tracing.ts), each layer read is a span of its own.
   * When every layer is a cache hit the resolution is returned as is: no promise, no microtask.
   */
  resolve: (identity: Identity, deadlineMs: number, trace?: RequestTrace) => Resolution | Promise<Resolution>
}

/** Merges and serialises the reads of one request (in plan order). */
export function buildAnswer (plan: readonly PlannedRead[], results: readonly ReadResult[]): Answer {
  const layerReads: LayerRead[] = []
  const invalid: Answer['invalid'] = []
  plan.forEach((p, i) => {
    const result = results[i] as ReadResult
    if (!result.found) return
    const source: Source = { layer: p.layer, backend: p.backend.name, locator: p.locator }
    for (const bad of result.invalid) invalid.push({ ...bad, source })
    layerReads.push({ ...source, entries: result.entries })
  })
  const entries = mergeLayers(layerReads)
  const secrets = entries.map(r => r.entry)
  return {
    entries,
    invalid,
    env: secrets.flatMap(e => e.type === 'ENV' ? [e.key] : []),
    files: secrets.flatMap(e => e.type === 'FILE' ? [e.path] : []),
    json: JSON.stringify({ secrets })
  }
}

interface Memo {
  identity: Identity
  plan: PlannedRead[]
  /** When the memo's LRU last heard of this identity. */
  seenAt: number
  results?: readonly ReadResult[]
  answer?: Answer
  /** The reports of the last request, reused while every read and cache status is the same. */
  reports?: ReadReport[]
  /** The last request's resolution, without its first-seen invalid entries: shared while the reads are the same. */
  resolution?: Resolution
  // The last request's reads and what reuse needs of them, on the memo itself (not an object of
  // their own: one object fewer to fetch per warm request).
  /** Until then the last request's hits may answer (the earliest reusableUntil); 0: they cannot. */
  reuseUntil: number
  reuseCheckedAt: number
  hits: readonly StoreRead[]
  counters: ReadonlyArray<() => void>
}

/** How often reused hits are checked against the reader (a hit may have been evicted; the LRU hears of them), and the memo's LRU of a warm identity. */
const RECHECK_MS = 1000

/** Keeps this request's reads for reuse when every one is a reusable cache hit. */
function keepForReuse (known: Memo, settled: readonly StoreRead[], now: number): void {
  let until = Infinity
  const counters: Array<() => void> = []
  for (const r of settled) {
    if (r.reusableUntil === undefined || r.reusable === undefined || r.countReuse === undefined) {
      known.reuseUntil = 0
      return
    }
    until = Math.min(until, r.reusableUntil)
    counters.push(r.countReuse)
  }
  known.reuseUntil = until
  known.reuseCheckedAt = now
  known.hits = settled
  known.counters = counters
}

/** No invalid entry to log: shared, never written to. */
const NONE_FIRST_SEEN: Answer['invalid'] = Object.freeze([]) as unknown as Answer['invalid']

/**
 * The last request's hits can answer this one: none is due for refresh-ahead, and at the last
 * check (at most RECHECK_MS ago) the reader still held every one. Between checks a warm request
 * touches none of its hits, only its identity's memo: on the benchmark machine each object a
 * request touches that the rest of the request pushed out of the CPU caches costs about a
 * microsecond. An entry evicted meanwhile (eviction bounds memory; the copy is still fresh)
 * answers its identity until the next check.
 */
function reused (known: Memo, now: number): boolean {
  if (now >= known.reuseUntil) return false
  if (now - known.reuseCheckedAt >= RECHECK_MS) {
    for (let i = 0; i < known.hits.length; i++) if ((known.hits[i] as StoreRead).reusable?.() !== true) return false
    known.reuseCheckedAt = now
  }
  // Counted like the reads they stand for, once each.
  for (let i = 0; i < known.counters.length; i++) (known.counters[i] as () => void)()
  return true
}

/** The reads of one request are those of the last one: the very same cached objects and statuses. */
function sameAsLast (known: Memo, settled: readonly StoreRead[]): boolean {
  const { results, reports } = known
  if (results === undefined || reports === undefined || results.length !== settled.length) return false
  for (let i = 0; i < settled.length; i++) {
    const read = settled[i] as StoreRead
    if (read.result !== results[i] || read.cache !== (reports[i] as ReadReport).cache) return false
  }
  return true
}

/** A copy per read: coalesced callers share one error object, and two layers may share a locator. */
function annotatedError (err: unknown, p: PlannedRead): StoreError {
  const source = asStoreError(err)
  return Object.assign(Object.create(Object.getPrototypeOf(source) as object) as StoreError, source, { message: source.message, stack: source.stack, backend: p.backend.name, layer: p.layer, locator: p.locator })
}

/**
 * Per identity, the plan (its locators) and the last answer. The answer is reused while every
 * layer read is the very same cached object, so a warm request neither plans, merges nor
 * serialises again; any new store read is a new object, so a changed layer builds a new answer.
 * The read reports are reused the same way (with the same cache statuses too), so a warm
 * request allocates next to nothing here: it is the path every workload start takes. When every
 * read of the last request was a cache hit that is still current (StoreRead.reusable), the
 * last resolution is the answer without asking the reader again: one lookup per warm request.
 * `now` is the reader's clock (reusableUntil is in its time).
 */
export function createResolver (layers: readonly string[], backends: readonly Backend[], read: StoreReader, memoEntries = 10_000, now: () => number = monotonicMs): Resolver {
  const memo = new LRUCache<string, Memo>({ max: memoEntries })
  // Every read result is a new object per store read and the very same object while cached, so
  // "first seen" is one WeakSet lookup per layer (held only as long as the result is).
  const seen = new WeakSet<ReadResult>()
  return {
    resolve (identity, deadlineMs, trace) {
      const key = `${identity.projectId}\0${identity.nfObjectId}\0${identity.nfObjectType}`
      const t = now()
      // peek, not get: get also moves the entry in the LRU's lists, cache lines a warm request
      // would otherwise fetch every time; the LRU hears of an identity about once a second.
      let known = memo.peek(key)
      if (known === undefined) {
        known = { identity, plan: planReads(layers, backends, identity), seenAt: t, reuseUntil: 0, reuseCheckedAt: 0, hits: [], counters: [] }
        memo.set(key, known)
      } else if (t - known.seenAt >= RECHECK_MS) {
        memo.get(key)
        known.seenAt = t
      }
      // With tracing on, every layer read is a span of its own: no shortcut.
      if (trace === undefined && reused(known, t)) return known.resolution as Resolution
      const { plan } = known
      const reads: Array<StoreRead | Promise<StoreRead>> = new Array(plan.length)
      let pending = false
      for (let i = 0; i < plan.length; i++) {
        const p = plan[i] as PlannedRead
        let r: StoreRead | Promise<StoreRead>
        if (trace !== undefined) {
          r = trace.read(p, read, err => annotatedError(err, p))
        } else {
          try {
            r = read(p.backend, p.locator)
            if (r instanceof Promise) r = r.catch((err: unknown) => { throw annotatedError(err, p) })
          } catch (err) {
            // Rejected, not thrown: reads already started must still be awaited (no unhandled rejection).
            r = Promise.reject(annotatedError(err, p))
          }
        }
        if (r instanceof Promise) pending = true
        reads[i] = r
      }
      const entry = known
      return pending ? withDeadline(Promise.all(reads), deadlineMs).then(settled => resolution(entry, settled)) : resolution(entry, reads as StoreRead[])
    }
  }

  function resolution (known: Memo, settled: readonly StoreRead[]): Resolution {
    const { plan } = known
    keepForReuse(known, settled, now())
    if (known.resolution !== undefined && sameAsLast(known, settled)) return known.resolution
    const results = settled.map(r => r.result)
    if (known.answer === undefined || !sameReads(known.results, results)) {
      known.answer = buildAnswer(plan, results)
      known.results = results
    }
    const reports: ReadReport[] = plan.map((p, i) => {
      const { result, cache } = settled[i] as StoreRead
      return { layer: p.layer, backend: p.backend.name, locator: p.locator, found: result.found, entries: result.found ? result.entries.length : 0, cache }
    })
    known.reports = reports
    const { answer } = known
    known.resolution = { answer, reads: reports, invalidFirstSeen: NONE_FIRST_SEEN, summary: { identity: known.identity, env: answer.env, files: answer.files, skipped: answer.invalid.length, reads: reports } }
    const invalidFirstSeen: Answer['invalid'] = []
    plan.forEach((p, i) => {
      const result = results[i] as ReadResult
      if (!result.found || result.invalid.length === 0 || seen.has(result)) return
      seen.add(result)
      const source: Source = { layer: p.layer, backend: p.backend.name, locator: p.locator }
      for (const bad of result.invalid) invalidFirstSeen.push({ ...bad, source })
    })
    return invalidFirstSeen.length === 0 ? known.resolution : { ...known.resolution, invalidFirstSeen }
  }
}

function sameReads (a: readonly ReadResult[] | undefined, b: readonly ReadResult[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i])
}

async function withDeadline<T> (work: Promise<T>, deadlineMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(deadlineMs)), deadlineMs)
  })
  try {
    return await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
  }
}
