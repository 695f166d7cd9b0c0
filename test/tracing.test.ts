// OpenTelemetry traces (src/tracing.ts): which OTEL_* variables turn them on; through the running
// service with an in-memory exporter, a request span with one child span per layer read (cache
// miss, then hit), W3C traceparent accepted, a failing store an error span and a 503, no token,
// value, locator or id in any span unless NFSS_TRACE_IDENTIFIERS; off, not a span and not a hook;
// serve flushes its spans to an OTLP receiver on SIGTERM.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import type { Identity } from '../src/core/identity.js'
import { activeTracing, startTracing, tracingFromEnv, type TracingSettings } from '../src/tracing.js'
import { signToken } from '../src/token.js'
import { countingDefinition, countingStore } from './helpers/counting-backend.js'
import { startTestService, TEST_SECRET } from './helpers/service.js'

const who: Identity = { projectId: 'proj-7f3a9', nfObjectId: 'obj-c41d2', nfObjectType: 'service' }
const failing: Identity = { projectId: 'proj-e2b8', nfObjectId: 'obj-f9a1', nfObjectType: 'job' }
const VALUES = ['value-global-1b7e', 'value-object-5d9c']

function traced (settings: Partial<TracingSettings> = {}) {
  const store = countingStore()
  store.documents.set('northflank/_global', { REGION: VALUES[0] })
  store.documents.set(`northflank/${who.projectId}/${who.nfObjectId}`, { API_KEY: VALUES[1] })
  const exporter = new InMemorySpanExporter()
  return { store, exporter, settings: { exporters: [], identifiers: false, testExporter: exporter, ...settings } }
}

/** The request span ends once the answer is written (onResponse): wait for it. */
async function spans (exporter: InMemorySpanExporter, count: number): Promise<ReadableSpan[]> {
  const deadline = Date.now() + 5000
  while (exporter.getFinishedSpans().length < count && Date.now() < deadline) await new Promise(r => setTimeout(r, 5))
  return exporter.getFinishedSpans()
}

/** Everything a span exports, as text to search. */
function serialized (all: readonly ReadableSpan[]): string {
  return JSON.stringify(all.map(s => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events, links: s.links, resource: s.resource.attributes })))
}

const requestSpan = (all: readonly ReadableSpan[]): ReadableSpan[] => all.filter(s => s.kind === 1) // SpanKind.SERVER
const readSpans = (all: readonly ReadableSpan[]): ReadableSpan[] => all.filter(s => s.name.startsWith('read '))

t.test('tracingFromEnv: off unless OTEL_TRACES_EXPORTER names an exporter; bad values fail start-up', async t => {
  t.same(tracingFromEnv({}), {}, 'nothing set: off')
  t.same(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' }), { settings: { exporters: ['otlp'], identifiers: false } })
  t.same(tracingFromEnv({ OTEL_TRACES_EXPORTER: ' OTLP , console ', NFSS_TRACE_IDENTIFIERS: 'true' }), { settings: { exporters: ['otlp', 'console'], identifiers: true } })
  t.same(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), {}, 'none: off, no note')
  t.match(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'TRUE' }), { settings: undefined, note: /OTEL_SDK_DISABLED/ })
  t.match(tracingFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), { settings: undefined, note: /OTEL_EXPORTER_OTLP_ENDPOINT is set but OTEL_TRACES_EXPORTER is not/ })
  t.same(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).settings?.exporters, ['otlp'], 'the traces-specific protocol wins')
  t.throws(() => tracingFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' }), { code: 'NFSS_CONFIG_INVALID', message: /OTEL_TRACES_EXPORTER: "zipkin" not supported/ })
  t.throws(() => tracingFromEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), { code: 'NFSS_CONFIG_INVALID', message: /OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" not supported/ })
  t.throws(() => tracingFromEnv({ NFSS_TRACE_IDENTIFIERS: 'yes' }), { code: 'NFSS_CONFIG_INVALID', message: /NFSS_TRACE_IDENTIFIERS/ })
})

t.test('a request span with one child span per layer read: cache miss, then hit; no token, value, locator or id', async t => {
  const { store, exporter, settings } = traced()
  const tracing = await startTracing(settings)
  const svc = await startTestService({ backends: [{ name: 'c', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(async () => { await svc.close(); await tracing.shutdown() })
  const token = svc.token(who)
  const get = async (headers: Record<string, string> = {}): Promise<Response> => await fetch(svc.url, { headers: { authorization: `Bearer ${token}`, ...headers } })

  t.equal((await get()).status, 200)
  let all = await spans(exporter, 4)
  t.equal(all.length, 4, 'one request span and three read spans')
  const [request] = requestSpan(all)
  t.match(request, {
    name: 'GET /',
    attributes: { 'http.request.method': 'GET', 'http.route': '/', 'url.path': '/', 'url.scheme': 'http', 'http.response.status_code': 200, 'nfss.outcome': 'answered' },
    status: { code: 0 }
  })
  const reads = readSpans(all)
  t.same(reads.map(s => s.attributes['nfss.layer']).sort(), ['global', 'object', 'project'])
  for (const read of reads) {
    t.equal(read.parentSpanContext?.spanId, request?.spanContext().spanId, `${read.name}: a child of the request span`)
    t.equal(read.spanContext().traceId, request?.spanContext().traceId)
    t.match(read.attributes, { 'nfss.backend': 'c', 'nfss.backend.type': 'counting', 'nfss.cache.status': 'miss' })
  }
  t.same(Object.fromEntries(reads.map(s => [s.name, s.attributes['nfss.outcome']])), { 'read global': 'found', 'read project': 'not_found', 'read object': 'found' })
  t.equal(reads.find(s => s.name === 'read object')?.attributes['nfss.entries'], 1)

  exporter.reset()
  t.equal((await get()).status, 200)
  all = await spans(exporter, 4)
  t.same(readSpans(all).map(s => s.attributes['nfss.cache.status']), ['hit', 'hit', 'hit'], 'second request: every layer a cache hit')

  // The caller's W3C traceparent is the parent; an unsampled one records nothing.
  exporter.reset()
  t.equal((await get({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })).status, 200)
  all = await spans(exporter, 4)
  for (const span of all) t.equal(span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c', `${span.name}: the caller's trace`)
  t.equal(requestSpan(all)[0]?.parentSpanContext?.spanId, 'b7ad6b7169203331')
  exporter.reset()
  t.equal((await get({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' })).status, 200)
  await new Promise(r => setTimeout(r, 50))
  t.equal(exporter.getFinishedSpans().length, 0, 'unsampled by the caller: no span')

  // A refused token (also in the query string) and a failing store.
  exporter.reset()
  const refused = await fetch(`${svc.url}?token=${token}x`, { headers: { authorization: `Bearer ${token}x` } })
  t.equal(refused.status, 401)
  const [unauthorized] = await spans(exporter, 1)
  t.match(unauthorized, { attributes: { 'http.response.status_code': 401, 'nfss.outcome': 'NFSS_UNAUTHORIZED', 'url.path': '/' }, status: { code: 0 } }, '4xx: the caller\'s error, span status unset')
  t.equal(unauthorized?.attributes['error.type'], undefined)
  store.failWith = 'denied'
  const down = await svc.fetchAs(failing)
  t.equal(down.status, 503)
  all = await spans(exporter, 5)
  const failed = requestSpan(all).find(s => s.attributes['http.response.status_code'] === 503)
  t.match(failed, { attributes: { 'nfss.outcome': 'NFSS_STORE_DENIED', 'error.type': 'NFSS_STORE_DENIED' }, status: { code: 2, message: 'NFSS_STORE_DENIED' } })
  const failedReads = readSpans(all).filter(s => s.status.code === 2)
  t.same(failedReads.map(s => s.attributes['nfss.layer']).sort(), ['object', 'project'], 'the project and object reads failed (global was cached)')
  for (const read of failedReads) t.match(read.attributes, { 'nfss.outcome': 'denied', 'nfss.cache.status': 'error', 'error.type': 'NFSS_STORE_DENIED' })
  t.match(readSpans(all).find(s => s.attributes['nfss.layer'] === 'global')?.attributes, { 'nfss.cache.status': 'hit', 'nfss.outcome': 'found' })
  t.match(await down.json(), { code: 'NFSS_STORE_DENIED' })
  store.failWith = undefined

  // Everything exported in this test, searched: the store's error message names the locator.
  const everything = serialized(exporter.getFinishedSpans()) + serialized(all)
  for (const secret of [token, TEST_SECRET, ...VALUES, 'northflank/', who.projectId, who.nfObjectId, failing.projectId, failing.nfObjectId, 'told to fail']) {
    t.notOk(everything.includes(secret), `no span holds ${secret.slice(0, 24)}`)
  }
  t.notOk(everything.includes('nfss.identity') || everything.includes('nfss.locator'), 'no identity or locator attribute')
})

t.test('NFSS_TRACE_IDENTIFIERS=true: locators and the identity in spans, still no token or value', async t => {
  const { store, exporter, settings } = traced({ identifiers: true })
  const tracing = await startTracing(settings)
  const svc = await startTestService({ backends: [{ name: 'c', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(async () => { await svc.close(); await tracing.shutdown() })
  t.equal((await svc.fetchAs(who)).status, 200)
  const all = await spans(exporter, 4)
  t.match(requestSpan(all)[0]?.attributes, { 'nfss.identity.project_id': who.projectId, 'nfss.identity.object_id': who.nfObjectId, 'nfss.identity.object_type': 'service' })
  t.same(readSpans(all).map(s => s.attributes['nfss.locator']).sort(), ['northflank/_global', `northflank/${who.projectId}/_shared`, `northflank/${who.projectId}/${who.nfObjectId}`].sort())
  const everything = serialized(all)
  for (const secret of [svc.token(who).split('.')[2] as string, TEST_SECRET, ...VALUES]) t.notOk(everything.includes(secret))
})

t.test('tracing off: no span, no hook, no request decoration (even with a global SDK registered)', async t => {
  t.equal(activeTracing(), undefined, 'the earlier tests shut theirs down')
  const exporter = new InMemorySpanExporter()
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
  const { store } = traced()
  const svc = await startTestService({ backends: [{ name: 'c', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(async () => { await svc.close(); trace.disable() })
  t.equal((await svc.fetchAs(who)).status, 200)
  t.equal((await svc.fetchAs(failing)).status, 200)
  await new Promise(r => setTimeout(r, 50))
  t.equal(exporter.getFinishedSpans().length, 0)
  t.notOk(svc.service.app.hasRequestDecorator('nfssTrace'))
})

t.test('serve: OTEL_TRACES_EXPORTER=otlp sends spans to the OTLP endpoint, flushed on SIGTERM', async t => {
  const received: Array<{ url?: string, type?: string, body: Buffer }> = []
  const collector = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ url: req.url, type: req.headers['content-type'], body: Buffer.concat(chunks) })
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  collector.listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => { collector.close() })
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`
  const child = spawn(process.execPath, ['--import=tsx', 'test/fixtures/serve-slow-store.ts'], {
    // A batch delay of 10 minutes: only the flush at shutdown can deliver the spans.
    env: { ...process.env, STORE_DELAY_MS: '0', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '600000', OTEL_SERVICE_NAME: 'nfss-under-test' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = new Promise<number | null>(resolve => child.on('exit', resolve))
  let out = ''
  child.stdout.on('data', d => { out += String(d) })
  const deadline = Date.now() + 30_000
  while (!out.includes('\n') && child.exitCode === null && Date.now() < deadline) await new Promise(r => setTimeout(r, 20))
  const { url } = JSON.parse(out.split('\n')[0] as string) as { url: string }
  const token = signToken({ projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }, { secret: TEST_SECRET })
  t.equal((await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status, 200)
  await new Promise(r => setTimeout(r, 100))
  t.equal(received.length, 0, 'nothing exported before shutdown (batch delay)')
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exit 0')
  t.ok(received.length >= 1, 'spans exported at shutdown')
  const [first] = received
  t.equal(first?.url, '/v1/traces')
  t.equal(first?.type, 'application/x-protobuf')
  const body = Buffer.concat(received.map(r => r.body))
  for (const text of ['GET /', 'read object', 'nfss.cache.status', 'nfss-under-test']) t.ok(body.includes(text), `the export holds ${text}`)
  for (const text of [token, 'northflank/']) t.notOk(body.includes(text), 'no token, no locator')
})
