// An in-process TEST backend (a fake, not a store): holds documents in memory, counts its
// calls per locator, and can be told to fail, hang or slow down. It exists to prove the
// cache, timeout and error rules; real stores are tested against real servers.
import { Type } from '@sinclair/typebox'
import type { Backend, BackendDefinition, ReadResult } from '../../src/store/port.js'
import { parseDocument } from '../../src/core/document.js'
import { DEFAULT_TEMPLATES } from '../../src/core/locator.js'
import { storeError, type StoreErrorKind } from '../../src/store/errors.js'

export interface CountingStore {
  documents: Map<string, Record<string, unknown>>
  calls: Map<string, number>
  /** Every read fails with this kind while set. */
  failWith?: StoreErrorKind
  /** Every read waits this long first (and honours its signal). */
  delayMs: number
  /** Reads never answer (but still honour their signal). */
  hang: boolean
  readyError?: string
  /** ready() calls so far (readiness must not call a store per probe). */
  readyCalls: number
  /** Declare the backend an in-memory replica (the service cache is then bypassed). */
  servesFromMemory?: boolean
  /** Called at the start of every read. */
  onRead?: (locator: string) => void
  totalCalls: () => number
}

export function countingStore (): CountingStore {
  const calls = new Map<string, number>()
  return { documents: new Map(), calls, delayMs: 0, hang: false, readyCalls: 0, totalCalls: () => [...calls.values()].reduce((a, b) => a + b, 0) }
}

function wait (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return }
    const timer = ms === Infinity ? undefined : setTimeout(resolve, ms)
    signal.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason) }, { once: true })
  })
}

/** A definition of type "counting" reading from `store`; register it with startTestService's definitions. */
export function countingDefinition (store: CountingStore, type = 'counting'): BackendDefinition {
  return {
    type,
    options: Type.Object({}),
    locators: { defaults: DEFAULT_TEMPLATES },
    create (config, { locate }): Backend {
      return {
        name: config.name,
        type,
        servesFromMemory: store.servesFromMemory,
        locate,
        async read (locator, signal): Promise<ReadResult> {
          store.calls.set(locator, (store.calls.get(locator) ?? 0) + 1)
          store.onRead?.(locator)
          if (store.hang) await wait(Infinity, signal)
          if (store.delayMs > 0) await wait(store.delayMs, signal)
          if (store.failWith !== undefined) throw storeError(store.failWith, `test store told to fail (${locator})`)
          const document = store.documents.get(locator)
          if (document === undefined) return { found: false }
          const parsed = parseDocument(document)
          if (!parsed.ok) throw storeError('malformed', parsed.reason)
          return { found: true, entries: parsed.entries, invalid: parsed.invalid }
        },
        async ready () {
          store.readyCalls++
          if (store.readyError !== undefined) throw storeError('unavailable', store.readyError)
        },
        async close () {}
      }
    }
  }
}
