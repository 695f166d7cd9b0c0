// Store health, checked in the background: each store's ready() at most once per interval and
// never two at once, whatever the probe rate, so /readyz costs the stores nothing. Readiness uses
// only "checked once successfully since start": a store that goes down later is reported here
// (and in nf_secret_source_store_up) while the replica stays in service to serve stale copies.
import { Gauge, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import type { Backend } from './store/port.js'

export interface StoreState {
  /** The last check passed. */
  up: boolean
  /** Some check has passed since start. */
  everUp: boolean
  /** 'ok', 'not checked yet', or why the last check failed (a store error's detail: never a secret). */
  detail: string
  lastCheck?: string
  lastSuccess?: string
  consecutiveFailures: number
}

export interface StoreHealth {
  /** Every store has passed a check once since start. */
  allCheckedOnce: () => boolean
  states: () => Record<string, StoreState>
  /** Resolves when the checks in flight are done (tests, start-up). */
  settled: () => Promise<void>
  close: () => void
}

export interface StoreHealthOptions {
  intervalMs: number
  timeoutMs: number
  logger: Logger
  registry: Registry
}

export function watchStoreHealth (backends: readonly Backend[], { intervalMs, timeoutMs, logger, registry }: StoreHealthOptions): StoreHealth {
  const up = new Gauge({ name: 'nf_secret_source_store_up', help: 'the last background check of the store passed (1) or failed (0)', labelNames: ['backend'], registers: [registry] })
  const states = new Map<string, StoreState>(backends.map(b => [b.name, { up: false, everUp: false, detail: 'not checked yet', consecutiveFailures: 0 }]))
  const inFlight = new Map<string, Promise<void>>()
  for (const backend of backends) up.set({ backend: backend.name }, 0)

  async function check (backend: Backend): Promise<void> {
    const state = states.get(backend.name) as StoreState
    const now = (): string => new Date().toISOString()
    try {
      await backend.ready(AbortSignal.timeout(timeoutMs))
      if (!state.up && state.everUp) logger.info({ backend: backend.name }, 'store check passes again')
      Object.assign(state, { up: true, everUp: true, detail: 'ok', lastCheck: now(), lastSuccess: now(), consecutiveFailures: 0 })
    } catch (err) {
      const detail = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err as Error).message
      // One line per change of state, not one per interval.
      if (state.up || state.consecutiveFailures === 0) logger.warn({ backend: backend.name, detail }, 'store check failed')
      Object.assign(state, { up: false, detail, lastCheck: now(), consecutiveFailures: state.consecutiveFailures + 1 })
    }
    up.set({ backend: backend.name }, state.up ? 1 : 0)
  }

  function checkAll (): void {
    for (const backend of backends) {
      if (inFlight.has(backend.name)) continue
      const running = check(backend).finally(() => inFlight.delete(backend.name))
      inFlight.set(backend.name, running)
    }
  }

  checkAll()
  const timer = setInterval(checkAll, intervalMs)
  timer.unref()

  return {
    allCheckedOnce: () => [...states.values()].every(s => s.everUp),
    states: () => Object.fromEntries([...states].map(([name, s]) => [name, { ...s }])),
    settled: async () => { await Promise.allSettled([...inFlight.values()]) },
    close: () => { clearInterval(timer) }
  }
}
