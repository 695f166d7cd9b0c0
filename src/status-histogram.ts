// The request-latency histogram, labelled by HTTP status, counted per request in plain arrays and
// handed to the prom-client registry in the shape prom-client's own Histogram gives it, so a
// scrape reads the same (test/status-histogram.test.ts compares the two, line for line).
// prom-client's Histogram.observe builds a closure, a label object and a hash string and turns
// the bucket bound into a property name on every call; this observe allocates nothing. Measured
// alone, the CPU saved was within the A/B's noise (bench/results.md, "Warm path, second pass").
import type { Metric, Registry } from 'prom-client'

interface StatusCounts {
  labels: { status: string }
  /** Per bucket, not cumulative; the last slot is above every bound (+Inf only). */
  buckets: Float64Array
  sum: number
  count: number
}

interface Value {
  labels: Record<string, string | number>
  sharedLabels: Record<string, string>
  value: number
  metricName: string
}

/** What prom-client's registry reads of a metric (its typings say `type` is an enum; at run time it is this string). */
interface HistogramData<V> {
  name: string
  help: string
  type: 'histogram'
  values: V[]
  aggregator: 'sum'
}

export class StatusHistogram {
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly #bounds: readonly number[]
  // By status code: a request's status is a small integer, no string is built to find its counts.
  #byStatus = new Map<number, StatusCounts>()

  constructor (readonly name: string, readonly help: string, buckets: readonly number[], registry: Registry) {
    this.#bounds = [...buckets].sort((a, b) => a - b)
    registry.registerMetric(this as unknown as Metric)
  }

  observe (status: number, seconds: number): void {
    let counts = this.#byStatus.get(status)
    if (counts === undefined) {
      counts = { labels: { status: String(status) }, buckets: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 }
      this.#byStatus.set(status, counts)
    }
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && !(seconds <= (bounds[i] as number))) i++
    ;(counts.buckets[i] as number)++
    counts.sum += seconds
    counts.count++
  }

  reset (): void {
    this.#byStatus = new Map()
  }

  /** What the registry formats: the buckets (cumulative, then +Inf), sum and count per status, as prom-client's Histogram lists them. */
  async getForPromString (): Promise<HistogramData<Value>> {
    const values: Value[] = []
    for (const { labels, buckets, sum, count } of this.#byStatus.values()) {
      let cumulative = 0
      this.#bounds.forEach((le, i) => {
        cumulative += buckets[i] as number
        values.push({ labels: { le }, sharedLabels: labels, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: labels, value: count, metricName: `${this.name}_bucket` },
        { labels: {}, sharedLabels: labels, value: sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: labels, value: count, metricName: `${this.name}_count` }
      )
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  /** The same values with each status in its labels (registry.getMetricsAsJSON). */
  async get (): Promise<HistogramData<Omit<Value, 'sharedLabels'>>> {
    const data = await this.getForPromString()
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...value }) => ({ ...value, labels: { ...labels, ...sharedLabels } })) }
  }
}
