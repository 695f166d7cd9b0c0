// OpenTelemetry traces (issue #18), off unless OTEL_TRACES_EXPORTER names an exporter: a span per
// request on the public port and, under it, a span per layer read (backend, layer,
// cache status, outcome). Never a token, a value, a locator or an identity claim: locators and
// claims hold tenant ids, so they are added only with NFSS_TRACE_IDENTIFIERS=true.
// When tracing is off none of this runs and no OpenTelemetry package is even loaded: startTracing
// imports them, and the app and the resolver only check whether a trace is there.
// The request span is made here with @opentelemetry/api in three hooks, not by @fastify/otel: that
// instrumentation (0.21, which does run on Fastify 5) always adds an onError hook that writes the
// thrown error's message into the span status (our store errors name paths, so a 503 would carry
// a locator; recordExceptions: false does not stop it), marks 4xx server spans as errors (the
// SDK cannot set that back), records the query string in url.path, and its base class hooks
// every require() of the process (require-in-the-middle) for an instrumentation that patches nothing.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Context, Span } from '@opentelemetry/api'
import type { SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { ConfigInvalid } from './errors.js'
import { packageRoot } from './package-root.js'
import type { PlannedRead, StoreRead, StoreReader } from './resolver.js'
import { storeErrorKind, type StoreError } from './store/errors.js'

export type ExporterName = 'otlp' | 'console'

export interface TracingSettings {
  /** otlp: OTLP over HTTP/protobuf, configured by OTEL_EXPORTER_OTLP_*; console: stdout. */
  exporters: readonly ExporterName[]
  /** NFSS_TRACE_IDENTIFIERS=true: locators and the identity's claims in spans. */
  identifiers: boolean
  /** Tests: every span is also handed here as it ends (a SimpleSpanProcessor). */
  testExporter?: SpanExporter
}

/** One request's trace, handed by the secret route to the resolver (src/resolver.ts). */
export interface RequestTrace {
  /** One layer read in a child span of the request's; answers what `read` answers (a failure annotated). */
  read: (planned: PlannedRead, read: StoreReader, annotate: (err: unknown) => StoreError) => StoreRead | Promise<StoreRead>
}

export interface Tracing {
  readonly settings: TracingSettings
  /** The request spans, on the public app: registered before any other plugin, hook or route. */
  register: (app: FastifyInstance) => Promise<void>
  /** Exports what has ended (waiting at most SHUTDOWN_MS), then stops; serve calls it on SIGTERM. */
  shutdown: () => Promise<void>
}

/** What the hooks keep per request besides the reads. */
interface OfRequest extends RequestTrace {
  span: Span
  outcome: string | undefined
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set while tracing is on and the request is sampled; never decorated when tracing is off. */
    nfssTrace?: RequestTrace | null
  }
}

/** The longest shutdown waits for the exporters; serve adds it to its grace period. */
export const SHUTDOWN_MS = 5000

const OTLP_ENDPOINTS = ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT']

/**
 * Whether the environment turns tracing on, and how. Off unless OTEL_TRACES_EXPORTER lists
 * `otlp` and/or `console` (the specification's default, otlp, is not assumed: a secret source
 * does not start sending data because a variable is missing); OTEL_SDK_DISABLED=true turns it
 * off whatever else is set; `none` is off. An exporter or OTLP protocol this build cannot do, or
 * an NFSS_TRACE_IDENTIFIERS other than true/false, fails start-up (NFSS_CONFIG_INVALID).
 * `note` says why tracing is off when that may surprise (an OTLP endpoint without an exporter, an
 * exporter with OTEL_SDK_DISABLED=true).
 */
export function tracingFromEnv (env: NodeJS.ProcessEnv): { settings?: TracingSettings, note?: string } {
  const problems: string[] = []
  const flag = (env.NFSS_TRACE_IDENTIFIERS ?? '').trim().toLowerCase()
  if (!['', 'true', 'false'].includes(flag)) problems.push(`  - NFSS_TRACE_IDENTIFIERS: must be true or false, not "${env.NFSS_TRACE_IDENTIFIERS ?? ''}"`)
  const names = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map(n => n.trim().toLowerCase()).filter(n => n !== '')
  const disabled = (env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true'
  const unknown = names.filter(n => n !== 'otlp' && n !== 'console' && n !== 'none')
  if (!disabled && unknown.length > 0) problems.push(`  - OTEL_TRACES_EXPORTER: ${unknown.map(n => `"${n}"`).join(', ')} not supported (otlp, console or none)`)
  const exporters = [...new Set(names.filter((n): n is ExporterName => n === 'otlp' || n === 'console'))]
  if (!disabled && exporters.includes('otlp')) {
    for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
      const protocol = env[name]?.trim()
      if (protocol !== undefined && protocol !== '' && protocol !== 'http/protobuf') problems.push(`  - ${name}: "${protocol}" not supported (http/protobuf)`)
      if (protocol !== undefined && protocol !== '') break // the traces-specific variable wins
    }
  }
  if (problems.length > 0) throw new ConfigInvalid(problems.join('\n'))
  if (disabled) return names.length === 0 ? {} : { note: 'tracing off: OTEL_SDK_DISABLED=true (OTEL_TRACES_EXPORTER ignored)' }
  if (exporters.length === 0) {
    const endpoint = OTLP_ENDPOINTS.find(name => (env[name] ?? '') !== '')
    return endpoint === undefined || names.includes('none') ? {} : { note: `tracing off: ${endpoint} is set but OTEL_TRACES_EXPORTER is not (set it to otlp)` }
  }
  return { settings: { exporters, identifiers: flag === 'true' } }
}

let active: Tracing | undefined

/**
 * The tracing in force in this process (OpenTelemetry's SDK is process-wide too): set by
 * startTracing until its shutdown; buildApp registers it on the public app.
 */
export function activeTracing (): Tracing | undefined {
  return active
}

/** The answer's outcome for the request span: answered, or the error code the caller got. */
function outcomeOf (status: number, payload: unknown): string {
  if (status < 300) return 'answered'
  if (typeof payload === 'string' && payload.startsWith('{')) {
    try {
      const { code } = JSON.parse(payload) as { code?: unknown }
      if (typeof code === 'string') return code
    } catch {}
  }
  return status === 404 ? 'not_found' : `http_${status}`
}

/** Starts the SDK (exporters, resource, W3C propagation) and makes it the active tracing. */
export async function startTracing (settings: TracingSettings, logger?: Logger): Promise<Tracing> {
  const [api, core, resources, sdk, semconv] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/semantic-conventions')
  ])
  const { SpanKind, SpanStatusCode } = api
  const processors = []
  if (settings.exporters.includes('otlp')) {
    // Endpoint, headers, timeout, compression and TLS files from OTEL_EXPORTER_OTLP_(TRACES_)*.
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto')
    processors.push(new sdk.BatchSpanProcessor(new OTLPTraceExporter())) // OTEL_BSP_*
  }
  if (settings.exporters.includes('console')) processors.push(new sdk.SimpleSpanProcessor(new sdk.ConsoleSpanExporter()))
  if (settings.testExporter !== undefined) processors.push(new sdk.SimpleSpanProcessor(settings.testExporter))
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults.
  const resource = resources.defaultResource()
    .merge(resources.resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: 'nf-secret-source', [semconv.ATTR_SERVICE_VERSION]: version }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }))
  // Sampler (OTEL_TRACES_SAMPLER, default parentbased_always_on) and span limits from the environment.
  const provider = new sdk.BasicTracerProvider({ resource, spanProcessors: processors })
  const tracer = provider.getTracer('nf-secret-source', version)
  // Nothing global but the diagnostics logger: no global tracer provider, no context manager (the
  // request's context is handed down explicitly, secret route -> resolver, so no AsyncLocalStorage
  // runs under every promise), and the W3C traceparent is read by this propagator alone.
  const propagator = new core.W3CTraceContextPropagator()
  if (logger !== undefined) {
    // Export failures and SDK warnings on the service log (OTEL_LOG_LEVEL, default warn); arguments
    // reduced to error names and messages.
    const log = logger.child({ component: 'opentelemetry' })
    const line = (level: 'error' | 'warn' | 'info' | 'debug' | 'trace') => (message: string, ...args: unknown[]) => {
      log[level]({ detail: args.map(a => a instanceof Error ? `${a.name}: ${a.message}` : typeof a === 'object' ? '[object]' : String(a)) }, message)
    }
    api.diag.setLogger({ error: line('error'), warn: line('warn'), info: line('info'), debug: line('debug'), verbose: line('trace') },
      { logLevel: core.diagLogLevelFromString(process.env.OTEL_LOG_LEVEL) ?? api.DiagLogLevel.WARN, suppressOverrideMessage: true })
  }

  const endRead = (span: Span, read: StoreRead): void => {
    span.setAttribute('nfss.cache.status', read.cache)
    span.setAttribute('nfss.outcome', read.result.found ? 'found' : 'not_found')
    if (read.result.found) span.setAttribute('nfss.entries', read.result.entries.length)
    span.end()
  }
  const failRead = (span: Span, err: StoreError): void => {
    // Whether a store call failed or a remembered failure answered is in cache_reads_total
    // (error / cached_error); the span says error.
    span.setAttributes({ 'nfss.cache.status': 'error', 'nfss.outcome': storeErrorKind(err), [semconv.ATTR_ERROR_TYPE]: err.code })
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.code }) // the code only: a store's message may name a path
    span.end()
  }
  const requestTrace = (span: Span, parent: Context): OfRequest => ({
    span,
    outcome: undefined,
    read (planned, read, annotate) {
      const child = tracer.startSpan(`read ${planned.layer}`, {
        kind: SpanKind.INTERNAL,
        attributes: {
          'nfss.layer': planned.layer,
          'nfss.backend': planned.backend.name,
          'nfss.backend.type': planned.backend.type,
          ...(settings.identifiers ? { 'nfss.locator': planned.locator } : {})
        }
      }, parent)
      try {
        const pending = read(planned.backend, planned.locator)
        if (!(pending instanceof Promise)) {
          endRead(child, pending)
          return pending
        }
        return pending.then(done => { endRead(child, done); return done }, (err: unknown) => {
          const failure = annotate(err)
          failRead(child, failure)
          throw failure
        })
      } catch (err) {
        const failure = annotate(err)
        failRead(child, failure)
        return Promise.reject(failure)
      }
    }
  })

  const tracing: Tracing = {
    settings,
    async register (app) {
      app.decorateRequest('nfssTrace', null)
      // The request span, started before any other hook (this one is registered first).
      app.addHook('onRequest', (request, _reply, done) => {
        const route = request.routeOptions.url
        const parent = propagator.extract(api.ROOT_CONTEXT, request.headers, api.defaultTextMapGetter)
        const span = tracer.startSpan(route === undefined ? request.method : `${request.method} ${route}`, {
          kind: SpanKind.SERVER,
          attributes: {
            [semconv.ATTR_HTTP_REQUEST_METHOD]: request.method,
            [semconv.ATTR_URL_PATH]: request.url.split('?', 1)[0] as string, // never the query string
            [semconv.ATTR_URL_SCHEME]: request.protocol,
            [semconv.ATTR_NETWORK_PROTOCOL_VERSION]: request.raw.httpVersion,
            ...(route === undefined ? {} : { [semconv.ATTR_HTTP_ROUTE]: route })
          }
        }, parent)
        // Unsampled: nothing to record, and the layer reads are not traced either.
        if (span.isRecording()) request.nfssTrace = requestTrace(span, api.trace.setSpan(parent, span))
        done()
      })
      // The answer as the caller got it: answered, or the code of the error body.
      app.addHook('onSend', (request, reply, payload, done) => {
        const trace = request.nfssTrace as OfRequest | null | undefined
        if (trace != null) trace.outcome = outcomeOf(reply.statusCode, payload)
        done(null, payload)
      })
      app.addHook('onResponse', (request, reply, done) => {
        const trace = request.nfssTrace as OfRequest | null | undefined
        if (trace != null) {
          const status = reply.statusCode
          const outcome = trace.outcome ?? outcomeOf(status, undefined)
          trace.span.setAttributes({ [semconv.ATTR_HTTP_RESPONSE_STATUS_CODE]: status, 'nfss.outcome': outcome })
          // HTTP conventions for a server span: 5xx is an error, 4xx is the caller's (status left unset).
          if (status >= 500) {
            trace.span.setAttribute(semconv.ATTR_ERROR_TYPE, outcome)
            trace.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome })
          }
          const { identity } = request
          if (settings.identifiers && identity != null) {
            trace.span.setAttributes({ 'nfss.identity.project_id': identity.projectId, 'nfss.identity.object_id': identity.nfObjectId, 'nfss.identity.object_type': identity.nfObjectType })
          }
          trace.span.end()
        }
        done()
      })
    },
    async shutdown () {
      if (active === tracing) active = undefined
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<'late'>(resolve => { timer = setTimeout(() => resolve('late'), SHUTDOWN_MS) })
      try {
        const flushed = await Promise.race([provider.shutdown().then(() => 'flushed' as const, (err: unknown) => err), late])
        if (flushed !== 'flushed') logger?.warn({ detail: flushed === 'late' ? `not done within ${SHUTDOWN_MS} ms` : String(flushed) }, 'tracing: spans may be lost at shutdown')
      } finally {
        clearTimeout(timer)
        if (logger !== undefined) api.diag.disable()
      }
    }
  }
  active = tracing
  return tracing
}
