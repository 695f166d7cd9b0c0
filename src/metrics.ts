// Prometheus metrics (prom-client), on the ops port only. Labels carry names, never values.
// Per-request counts and the request latency are kept as plain numbers and handed to prom-client
// when /metrics is scraped: prom-client hashes the label object on every inc() and observe(),
// which showed in the profile.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { CacheReadOutcome, LocatorCache } from './cache.js'
import { ENV_NAME, type InvalidEntry } from './core/entries.js'
import { pathProblem } from './core/validate.js'
import { StatusHistogram } from './status-histogram.js'

export type StoreOutcome = 'found' | 'not_found' | 'denied' | 'unavailable' | 'malformed'

export interface Metrics {
  registry: Registry
  request: (status: number, seconds: number) => void
  storeCall: (backend: string, outcome: StoreOutcome, seconds: number) => void
  cacheRead: (backend: string, outcome: CacheReadOutcome) => void
  cacheRefresh: (backend: string, result: 'ok' | 'failed') => void
  /** One invalid entry of one store read (not one per request): labels are bounded, the key is not one. */
  invalidEntry: (backend: string, layer: string, entry: Pick<InvalidEntry, 'key' | 'kind'>) => void
  watchCaches: (caches: Map<string, LocatorCache>) => void
}

const PREFIX = 'nf_secret_source_'

/** The bounded reason label of an invalid entry (the detail is in the log, once per store read). */
export type InvalidReason = 'name' | 'value'

/**
 * name: the key itself cannot be served (not an ENV name; a relative or unnormalised path);
 * value: the name is fine, its value or attributes are not (null, a list, a bad mode, encoding,
 * owner, an unknown attribute, bytes a variable cannot hold). A store may say it (`kind`);
 * otherwise it is read from the key: one starting with "/" is a file path, else an ENV name.
 */
export function invalidReason (entry: Pick<InvalidEntry, 'key' | 'kind'>): InvalidReason {
  if (entry.kind !== undefined) return entry.kind
  const { key } = entry
  const nameIsFine = key.startsWith('/') ? pathProblem(key) === undefined : ENV_NAME.test(key)
  return nameIsFine ? 'value' : 'name'
}

/**
 * Monotonic counts per label set (up to three labels), kept as numbers; copied into a prom-client
 * Counter on scrape. Nested maps, not a joined key: no string is built per count.
 */
class Tally<Labels extends string> {
  readonly #counts = new Map<string, Map<string, Map<string, { labels: Record<Labels, string>, n: number }>>>()
  constructor (private readonly names: readonly Labels[]) {}

  inc (a: string, b = '', c = ''): void {
    let byB = this.#counts.get(a)
    if (byB === undefined) this.#counts.set(a, byB = new Map())
    let byC = byB.get(b)
    if (byC === undefined) byB.set(b, byC = new Map())
    const slot = byC.get(c)
    if (slot !== undefined) slot.n++
    else byC.set(c, { labels: Object.fromEntries(this.names.map((name, i) => [name, [a, b, c][i] ?? ''])) as Record<Labels, string>, n: 1 })
  }

  copyTo (counter: Counter<Labels>): void {
    counter.reset()
    for (const byB of this.#counts.values()) for (const byC of byB.values()) for (const { labels, n } of byC.values()) counter.inc(labels, n)
  }
}

export function createMetrics (): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: PREFIX })
  const requestCounts = new Tally(['status'] as const)
  const cacheCounts = new Tally(['backend', 'result'] as const)
  const invalidCounts = new Tally(['backend', 'layer', 'reason'] as const)
  // eslint-disable-next-line no-new
  new Counter({ name: `${PREFIX}requests_total`, help: 'Secret requests by HTTP status', labelNames: ['status'], registers: [registry], collect () { requestCounts.copyTo(this) } })
  const latency = new StatusHistogram(`${PREFIX}request_duration_seconds`, 'Secret request latency by HTTP status',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registry)
  const storeCalls = new Counter({ name: `${PREFIX}store_calls_total`, help: 'Store calls by backend and outcome', labelNames: ['backend', 'outcome'], registers: [registry] })
  const storeLatency = new Histogram({
    name: `${PREFIX}store_call_duration_seconds`,
    help: 'Store call latency by backend and outcome',
    labelNames: ['backend', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry]
  })
  // eslint-disable-next-line no-new
  new Counter({ name: `${PREFIX}cache_reads_total`, help: 'Layer reads by backend and cache result (hit, miss, coalesced, stale, off, error, cached_error)', labelNames: ['backend', 'result'], registers: [registry], collect () { cacheCounts.copyTo(this) } })
  const refreshes = new Counter({ name: `${PREFIX}cache_refreshes_total`, help: 'Refresh-ahead store calls by backend and result (ok, failed): hot entries refreshed before they expire', labelNames: ['backend', 'result'], registers: [registry] })
  // Labels bounded by the config (backends x layers x 2 reasons), whatever the identities and keys:
  // which locator and key is in the warning logged once per store read.
  // eslint-disable-next-line no-new
  new Counter({
    name: `${PREFIX}invalid_entries_total`,
    help: 'Invalid entries skipped (or refused in strict mode), once per store read, by backend, layer and reason (name: the ENV name or file path; value: its value or attributes)',
    labelNames: ['backend', 'layer', 'reason'],
    registers: [registry],
    collect () { invalidCounts.copyTo(this) }
  })
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
      requestCounts.inc(String(status))
      latency.observe(status, seconds)
    },
    storeCall: (backend, outcome, seconds) => {
      storeCalls.inc({ backend, outcome })
      storeLatency.observe({ backend, outcome }, seconds)
    },
    cacheRead: (backend, result) => cacheCounts.inc(backend, result),
    cacheRefresh: (backend, result) => { refreshes.inc({ backend, result }) },
    invalidEntry: (backend, layer, entry) => invalidCounts.inc(backend, layer, invalidReason(entry)),
    watchCaches: caches => { watched = caches }
  }
}
