// The request-latency histogram counts in plain arrays (src/status-histogram.ts); a scrape must
// read exactly as prom-client's own Histogram with the same observations would.
import fc from 'fast-check'
import { Histogram, Registry } from 'prom-client'
import t from 'tap'
import { StatusHistogram } from '../src/status-histogram.js'

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const observation = fc.record({
  status: fc.constantFrom(200, 401, 404, 429, 500, 503),
  // Bounds themselves included: a value equal to a bound is in that bucket (le).
  seconds: fc.oneof(fc.double({ min: 0, max: 30, noNaN: true }), fc.constantFrom(...BUCKETS))
})

function pair (): { ours: StatusHistogram, ourRegistry: Registry, reference: Histogram<'status'>, referenceRegistry: Registry } {
  const ourRegistry = new Registry()
  const referenceRegistry = new Registry()
  const ours = new StatusHistogram('latency_seconds', 'Latency by status', BUCKETS, ourRegistry)
  const reference = new Histogram({ name: 'latency_seconds', help: 'Latency by status', labelNames: ['status'], buckets: BUCKETS, registers: [referenceRegistry] })
  return { ours, ourRegistry, reference, referenceRegistry }
}

t.test('a scrape reads as prom-client\'s Histogram with the same observations, for any observations', async t => {
  await fc.assert(fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async observations => {
    const { ours, ourRegistry, reference, referenceRegistry } = pair()
    for (const { status, seconds } of observations) {
      ours.observe(status, seconds)
      reference.observe({ status }, seconds)
    }
    const [ourText, referenceText] = await Promise.all([ourRegistry.metrics(), referenceRegistry.metrics()])
    return ourText === referenceText
  }), { numRuns: 300 })
  t.pass('300 sets of observations')
})

t.test('the JSON form has each status in its labels, as prom-client\'s has', async t => {
  const { ours, ourRegistry, reference, referenceRegistry } = pair()
  for (const [status, seconds] of [[200, 0.0004], [200, 0.003], [503, 12]] as const) {
    ours.observe(status, seconds)
    reference.observe({ status }, seconds)
  }
  const strip = (metrics: Array<{ values: Array<Record<string, unknown>> }>): unknown => metrics.map(m => ({ ...m, values: m.values.map(({ exemplar: _exemplar, ...v }) => v) }))
  t.same(strip(await ourRegistry.getMetricsAsJSON() as never), strip(await referenceRegistry.getMetricsAsJSON() as never))
})

t.test('a value above every bound counts only in +Inf, and reset empties it', async t => {
  const { ours, ourRegistry } = pair()
  ours.observe(200, 99)
  const text = await ourRegistry.metrics()
  t.match(text, 'latency_seconds_bucket{le="10",status="200"} 0')
  t.match(text, 'latency_seconds_bucket{le="+Inf",status="200"} 1')
  t.match(text, 'latency_seconds_sum{status="200"} 99')
  ourRegistry.resetMetrics()
  t.notMatch(await ourRegistry.metrics(), 'status="200"')
})
