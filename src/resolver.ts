// identity -> layers -> locators per backend -> read (in parallel) -> validate -> merge.
// Knows stores only through the Backend port; the cache plugs in as the StoreReader.
import type { Backend, ReadResult } from '../backends/port.js'
import type { InvalidEntry, Source } from './core/entries.js'
import type { Identity } from './core/identity.js'
import { mergeLayers, type LayerRead, type ResolvedEntry } from './core/merge.js'
import { partitionValid } from './core/validate.js'
import { DeadlineExceeded } from './errors.js'
import { asStoreError } from './store-call.js'

export type CacheStatus = 'off' | 'hit' | 'miss' | 'coalesced' | 'stale'

export interface StoreRead {
  result: ReadResult
  cache: CacheStatus
}

/** Reads one locator of one backend: the store call itself, or the cache in front of it. */
export type StoreReader = (backend: Backend, locator: string) => Promise<StoreRead>

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
      const reads = Promise.all(plan.map(async p => {
        try {
          return await read(p.backend, p.locator)
        } catch (err) {
          const error = asStoreError(err)
          Object.assign(error, { backend: p.backend.name, layer: p.layer, locator: p.locator })
          throw error
        }
      }))
      const results = await withDeadline(reads, deadlineMs)
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
        const { valid, invalid: badNames } = partitionValid(result.entries)
        for (const bad of [...result.invalid, ...badNames]) invalid.push({ ...bad, source })
        layerReads.push({ ...source, entries: valid })
        reports.push({ ...source, found: true, entries: valid.length, cache })
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
