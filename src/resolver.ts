// identity -> layers -> locators per backend -> read (in parallel; validated per store read) -> merge.
// Knows stores only through the Backend port; the cache plugs in as the StoreReader.
import type { Backend, ReadResult } from '../backends/port.js'
import type { InvalidEntry, Source } from './core/entries.js'
import type { Identity } from './core/identity.js'
import { mergeLayers, type LayerRead, type ResolvedEntry } from './core/merge.js'
import { DeadlineExceeded } from './errors.js'
import { asStoreError } from './store-call.js'

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

export interface Resolution {
  entries: ResolvedEntry[]
  invalid: Array<InvalidEntry & { source: Source }>
  reads: ReadReport[]
}

/** Least specific first: layer order, then backend order within a layer. */
export function planReads (layers: readonly string[], backends: readonly Backend[], identity: Identity): PlannedRead[] {
  return layers.flatMap(layer => backends.flatMap(backend => {
    const locator = backend.locate(layer, identity)
    return locator === undefined ? [] : [{ layer, backend, locator }]
  }))
}

export interface Resolver {
  /** Rejects with a store error (503) or DeadlineExceeded; never resolves with part of the layers. */
  resolve: (identity: Identity, deadlineMs: number) => Promise<Resolution>
}

export function createResolver (layers: readonly string[], backends: readonly Backend[], read: StoreReader): Resolver {
  return {
    async resolve (identity, deadlineMs) {
      const plan = planReads(layers, backends, identity)
      const reads = plan.map(p => {
        const annotate = (err: unknown): never => {
          throw Object.assign(asStoreError(err), { backend: p.backend.name, layer: p.layer, locator: p.locator })
        }
        try {
          const answer = read(p.backend, p.locator)
          return answer instanceof Promise ? answer.catch(annotate) : answer
        } catch (err) {
          return annotate(err)
        }
      })
      const results = reads.some(r => r instanceof Promise) ? await withDeadline(Promise.all(reads), deadlineMs) : reads as StoreRead[]
      const layerReads: LayerRead[] = []
      const invalid: Resolution['invalid'] = []
      const reports: ReadReport[] = []
      plan.forEach((p, i) => {
        const { result, cache } = results[i] as StoreRead
        const source: Source = { layer: p.layer, backend: p.backend.name, locator: p.locator }
        if (!result.found) {
          reports.push({ ...source, found: false, entries: 0, cache })
          return
        }
        for (const bad of result.invalid) invalid.push({ ...bad, source })
        layerReads.push({ ...source, entries: result.entries })
        reports.push({ ...source, found: true, entries: result.entries.length, cache })
      })
      return { entries: mergeLayers(layerReads), invalid, reads: reports }
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
