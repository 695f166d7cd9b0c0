// identity -> layers -> locators per backend -> read (in parallel; validated per store read) -> merge.
// Knows stores only through the Backend port; the cache plugs in as the StoreReader.
import type { Backend, ReadResult } from './store/port.js'
import type { InvalidEntry, Source } from './core/entries.js'
import type { Identity } from './core/identity.js'
import { LRUCache } from 'lru-cache'
import { mergeLayers, type LayerRead, type ResolvedEntry } from './core/merge.js'
import { DeadlineExceeded } from './errors.js'
import type { StoreError } from './store/errors.js'
import { asStoreError } from './store-call.js'
import type { RequestTrace } from './tracing.js'

export type CacheStatus = 'off' | 'hit' | 'miss' | 'coalesced' | 'stale'

export interface StoreRead {
  result: ReadResult
  cache: CacheStatus
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

export interface Resolution {
  answer: Answer
  /** This request's reads: which layers were found and which came from the cache. */
  reads: ReadReport[]
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
   */
  resolve: (identity: Identity, deadlineMs: number, trace?: RequestTrace) => Promise<Resolution>
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
  plan: PlannedRead[]
  results?: readonly ReadResult[]
  answer?: Answer
}

function sameReads (a: readonly ReadResult[] | undefined, b: readonly ReadResult[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i])
}

/**
 * Per identity, the plan (its locators) and the last answer. The answer is reused while every
 * layer read is the very same cached object, so a warm request neither plans, merges nor
 * serialises again; any new store read is a new object, so a changed layer builds a new answer.
 */
export function createResolver (layers: readonly string[], backends: readonly Backend[], read: StoreReader, memoEntries = 10_000): Resolver {
  const memo = new LRUCache<string, Memo>({ max: memoEntries })
  // Every read result is a new object per store read and the very same object while cached, so
  // "first seen" is one WeakSet lookup per layer (held only as long as the result is).
  const seen = new WeakSet<ReadResult>()
  return {
    async resolve (identity, deadlineMs, trace) {
      const key = `${identity.projectId}\0${identity.nfObjectId}\0${identity.nfObjectType}`
      let known = memo.get(key)
      if (known === undefined) {
        known = { plan: planReads(layers, backends, identity) }
        memo.set(key, known)
      }
      const { plan } = known
      const reads = plan.map(p => {
        // A copy per read: coalesced callers share one error object, and two layers may share a locator.
        const annotated = (err: unknown): StoreError => {
          const source = asStoreError(err)
          return Object.assign(Object.create(Object.getPrototypeOf(source) as object) as StoreError, source, { message: source.message, stack: source.stack, backend: p.backend.name, layer: p.layer, locator: p.locator })
        }
        if (trace !== undefined) return trace.read(p, read, annotated)
        try {
          const pending = read(p.backend, p.locator)
          return pending instanceof Promise ? pending.catch((err: unknown) => { throw annotated(err) }) : pending
        } catch (err) {
          // Rejected, not thrown: reads already started must still be awaited (no unhandled rejection).
          return Promise.reject(annotated(err))
        }
      })
      const settled = reads.some(r => r instanceof Promise) ? await withDeadline(Promise.all(reads), deadlineMs) : reads as StoreRead[]
      const results = settled.map(r => r.result)
      if (known.answer === undefined || !sameReads(known.results, results)) {
        known.answer = buildAnswer(plan, results)
        known.results = results
      }
      const reports: ReadReport[] = plan.map((p, i) => {
        const { result, cache } = settled[i] as StoreRead
        return { layer: p.layer, backend: p.backend.name, locator: p.locator, found: result.found, entries: result.found ? result.entries.length : 0, cache }
      })
      const invalidFirstSeen: Answer['invalid'] = []
      plan.forEach((p, i) => {
        const result = results[i] as ReadResult
        if (!result.found || result.invalid.length === 0 || seen.has(result)) return
        seen.add(result)
        const source: Source = { layer: p.layer, backend: p.backend.name, locator: p.locator }
        for (const bad of result.invalid) invalidFirstSeen.push({ ...bad, source })
      })
      return { answer: known.answer, reads: reports, invalidFirstSeen }
    }
  }
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
