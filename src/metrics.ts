// Prometheus metrics (prom-client), on the ops port only. Labels carry names, never values.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { LocatorCache } from './cache.js'
import type { CacheStatus } from './resolver.js'

export type StoreOutcome = 'found' | 'not_found' | 'denied' | 'unavailable' | 'malformed'

export interface Metrics {
  registry: Registry
  request: (status: number, seconds: number) => void
  storeCall: (backend: string, outcome: StoreOutcome, seconds: number) => void
  cacheRead: (backend: string, status: CacheStatus) => void
  invalidEntry: (backend: string, locator: string, key: string) => void
  watchCaches: (caches: Map<string, LocatorCache>) => void
}

const PREFIX = 'nf_secret_source_'

export function createMetrics (): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: PREFIX })
  const requests = new Counter({ name: `${PREFIX}requests_total`, help: 'Secret requests by HTTP status', labelNames: ['status'], registers: [registry] })
  const latency = new Histogram({
    name: `${PREFIX}request_duration_seconds`,
    help: 'Secret request latency by HTTP status',
    labelNames: ['status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry]
  })
  const storeCalls = new Counter({ name: `${PREFIX}store_calls_total`, help: 'Store calls by backend and outcome', labelNames: ['backend', 'outcome'], registers: [registry] })
  const storeLatency = new Histogram({
    name: `${PREFIX}store_call_duration_seconds`,
    help: 'Store call latency by backend and outcome',
    labelNames: ['backend', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  const cacheReads = new Counter({ name: `${PREFIX}cache_reads_total`, help: 'Layer reads by backend and cache result (hit, miss, coalesced, stale, off)', labelNames: ['backend', 'result'], registers: [registry] })
  const invalid = new Counter({ name: `${PREFIX}invalid_entries_total`, help: 'Entries skipped (or refused in strict mode) because their name or path is invalid', labelNames: ['backend', 'locator', 'key'], registers: [registry] })
  // Label children bound once per label set: hashing a label object on every request showed in the profile.
  const requestsBy = memo((status: string) => requests.labels(status))
  const latencyBy = memo((status: string) => latency.labels(status))
  const storeCallsBy = memo((backend: string, outcome: string) => storeCalls.labels(backend, outcome))
  const storeLatencyBy = memo((backend: string, outcome: string) => storeLatency.labels(backend, outcome))
  const cacheReadsBy = memo((backend: string, result: string) => cacheReads.labels(backend, result))
  let watched = new Map<string, LocatorCache>()
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${PREFIX}cache_entries`,
    help: 'Cached locators by backend',
    labelNames: ['backend'],
    registers: [registry],
    collect () {
      for (const [backend, cache] of watched) this.set({ backend }, cache.size)
    }
  })
  return {
    registry,
    request: (status, seconds) => {
      requestsBy(String(status)).inc()
      latencyBy(String(status)).observe(seconds)
    },
    storeCall: (backend, outcome, seconds) => {
      storeCallsBy(backend, outcome).inc()
      storeLatencyBy(backend, outcome).observe(seconds)
    },
    cacheRead: (backend, result) => cacheReadsBy(backend, result).inc(),
    invalidEntry: (backend, locator, key) => invalid.inc({ backend, locator, key }),
    watchCaches: caches => { watched = caches }
  }
}

function memo<Args extends string[], T> (create: (...args: Args) => T): (...args: Args) => T {
  const made = new Map<string, T>()
  return (...args) => {
    const key = args.join('\0')
    let value = made.get(key)
    if (value === undefined) {
      value = create(...args)
      made.set(key, value)
    }
    return value
  }
}
