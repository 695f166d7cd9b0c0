// Starts nf-secret-source from a loaded config: backends, the public app and its listener.
import { readFileSync } from 'node:fs'
import type http from 'node:http'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Backend, BackendDefinition } from './store/port.js'
import { backendDefinitions } from '../backends/registry.js'
import { createBackends } from './create-backends.js'
import { buildApp, type Transport } from './app.js'
import { createAuditLog } from './plugins/audit-log.js'
import refuseBody from './plugins/refuse-body.js'
import type { LoadedConfig } from './config/load.js'
import type { StoreReader } from './resolver.js'
import { cachedReader, type StoreCall } from './cache.js'
import type { BackendConfig, Config } from './config/schema.js'
import { DEFAULT_CALL_TIMEOUT_SECONDS } from './core/limits.js'
import { storeErrorKind, type StoreError } from './store/errors.js'
import { createMetrics, type Metrics } from './metrics.js'
import { buildOpsApp } from './ops.js'
import { watchStoreHealth } from './store-health.js'
import { watchSecrets } from './secret-rotation.js'
import { callStore } from './store-call.js'
import { createBudgets, registerBudgetMetrics, type CallBudget } from './call-budget.js'

export interface Service {
  app: FastifyInstance
  ops: FastifyInstance
  backends: Backend[]
  metrics: Metrics
  /** The public URL the secret route answers on. */
  url: string
  /** Base URL of the ops listener (/healthz, /readyz, /stores, /metrics). */
  opsUrl: string
  /** Reopens the audit log file (log.audit.destination; SIGHUP after logrotate). */
  reopenAuditLog: () => void
  /** Drains: readiness fails, in-flight requests finish, backends close. */
  close: () => Promise<void>
}

export interface ServiceOptions {
  /** The store types to build from; tests add in-process test backends here. */
  definitions?: readonly BackendDefinition<any>[]
}

/** Each backend's per-call timeout, from its config. */
export function storeTimeouts (config: Config): (backend: Backend) => number {
  const seconds = new Map(config.backends.map(b => [b.name, b.timeoutSeconds]))
  return backend => (seconds.get(backend.name) ?? DEFAULT_CALL_TIMEOUT_SECONDS) * 1000
}

export function directReader (timeoutMsOf: (backend: Backend) => number): StoreReader {
  return async (backend, locator) => ({ result: await callStore(backend, locator, timeoutMsOf(backend)), cache: 'off' })
}

/** callStore under the backend's call budget, counted and timed per backend and outcome. */
function instrumentedCall (timeoutMsOf: (backend: Backend) => number, metrics: Metrics, budgets: ReadonlyMap<string, CallBudget>): StoreCall {
  return async (backend, locator, priority) => {
    const started = performance.now()
    try {
      const result = await callStore(backend, locator, timeoutMsOf(backend), budgets.get(backend.name), priority)
      metrics.storeCall(backend.name, result.found ? 'found' : 'not_found', (performance.now() - started) / 1000)
      return result
    } catch (err) {
      metrics.storeCall(backend.name, storeErrorKind(err as StoreError), (performance.now() - started) / 1000)
      throw err
    }
  }
}

export async function startService ({ config, baseDir, secretSources }: LoadedConfig, logger: Logger, { definitions = backendDefinitions }: ServiceOptions = {}): Promise<Service> {
  // First: an audit file that cannot be opened fails start-up before any store is contacted.
  const audit = createAuditLog(logger, config.log.audit.destination, baseDir)
  const backends = await createBackends(config.backends, { logger, baseDir, layers: config.layers }, definitions)
  const settings = new Map(config.backends.map(b => [b.name, b]))
  const timeoutMsOf = storeTimeouts(config)
  const metrics = createMetrics()
  const budgets = createBudgets(config.backends, definitions, backends)
  registerBudgetMetrics(metrics.registry, budgets)
  const { read, caches } = cachedReader(
    backends.map(backend => ({ backend, cache: (settings.get(backend.name) as BackendConfig).cache })),
    instrumentedCall(timeoutMsOf, metrics, budgets),
    {
      onRead: metrics.cacheRead,
      onRefresh: metrics.cacheRefresh,
      onStale: (backend, locator, ageMs, err) => {
        logger.warn({ backend, locator, ageSeconds: Math.round(ageMs / 1000), code: (err as StoreError).code, detail: (err as Error).message }, 'store failed: served a stale copy')
      }
    })
  metrics.watchCaches(caches)

  let draining = false
  const secrets = watchSecrets({ sources: secretSources, initial: config.auth.secrets, intervalMs: config.auth.reloadIntervalSeconds * 1000, logger, registry: metrics.registry })
  const app = await buildApp({ config, backends, logger, audit: audit.logger, read, metrics, secrets, transport: transportOptions(config.server, baseDir) })
  const health = watchStoreHealth(backends, { intervalMs: config.ops.storeCheckIntervalSeconds * 1000, timeoutMs: config.ops.readyTimeoutSeconds * 1000, logger, registry: metrics.registry })
  const ops = await buildOpsApp({ health, metrics, logger, draining: () => draining })
  await ops.register(refuseBody) // no ops route takes a body either
  limitConnections(app.server, config.server, logger)
  limitConnections(ops.server, config.server, logger.child({ listener: 'ops' }))
  try {
    await app.listen({ host: config.server.host, port: config.server.port })
    await ops.listen({ host: config.ops.host, port: config.ops.port })
  } catch (err) {
    health.close()
    secrets.close()
    await Promise.allSettled([app.close(), ops.close(), ...backends.map(b => b.close())])
    throw err
  }
  return {
    app,
    ops,
    backends,
    metrics,
    url: urlOf(app, config.server.host, config.server.path, config.server.tls === undefined ? 'http' : 'https'),
    opsUrl: urlOf(ops, config.ops.host, '/'),
    reopenAuditLog: audit.reopen,
    async close () {
      // Fail readiness first, give load balancers time to notice, then let in-flight requests finish.
      draining = true
      // close() waits for open keep-alive connections; one that turns idle after close began
      // would otherwise linger for Fastify's 72 s keep-alive timeout.
      app.server.keepAliveTimeout = 1
      if (config.server.shutdownDelaySeconds > 0) await new Promise(r => setTimeout(r, config.server.shutdownDelaySeconds * 1000))
      await app.close()
      await ops.close()
      health.close()
      secrets.close()
      await health.settled()
      await Promise.allSettled(backends.map(b => b.close()))
      await audit.flush()
    }
  }
}

/**
 * Slow clients (issue 15), for the public and the ops listener alike: the request line and
 * headers must arrive within server.headersTimeoutSeconds, else 408 and close. That is node's
 * requestTimeout too (which Fastify sets to 0, never), since no request may carry a body
 * (src/plugins/refuse-body.ts). An idle keep-alive connection closes after
 * server.keepAliveTimeoutSeconds (Fastify's default is 72 s), and at most server.maxConnections
 * are open per listener: more are closed as soon as they are accepted ('drop'), said once per
 * 10 s at most. Node looks for late requests every connectionsCheckingInterval, 30 s by default,
 * which would let a slow client live up to 30 s past its timeout: here once a second.
 */
export function limitConnections (server: http.Server, limits: Config['server'], logger: Logger): void {
  const headersMs = Math.max(1, Math.round(limits.headersTimeoutSeconds * 1000))
  server.headersTimeout = headersMs
  server.requestTimeout = headersMs
  server.keepAliveTimeout = Math.max(1, Math.round(limits.keepAliveTimeoutSeconds * 1000))
  server.maxConnections = limits.maxConnections
  // A plain property read when the server starts listening (node's setupConnectionsTracking).
  ;(server as http.Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(1000, headersMs)
  let dropped = 0
  let saidAt = -Infinity
  server.on('drop', () => {
    dropped++
    if (performance.now() - saidAt < 10_000) return
    logger.warn({ dropped, maxConnections: limits.maxConnections }, 'connections refused: server.maxConnections reached')
    dropped = 0
    saidAt = performance.now()
  })
}

/** Built-in TLS (optionally mTLS), the header size limit and the TLS handshake timeout, for the public listener. */
export function transportOptions (server: Config['server'], baseDir: string): Transport {
  if (server.tls === undefined) return { http: { maxHeaderSize: server.maxHeaderBytes } }
  const read = (file: string): Buffer => readFileSync(resolve(baseDir, file))
  const { cert, key, clientCa } = server.tls
  return {
    https: {
      cert: read(cert),
      key: read(key),
      minVersion: 'TLSv1.2',
      maxHeaderSize: server.maxHeaderBytes,
      // A client that connects and never completes the handshake: 120 s by default.
      handshakeTimeout: Math.max(1, Math.round(server.headersTimeoutSeconds * 1000)),
      ...(clientCa === undefined ? {} : { ca: read(clientCa), requestCert: true, rejectUnauthorized: true })
    }
  }
}

function urlOf (app: FastifyInstance, host: string, path: string, scheme = 'http'): string {
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return `${scheme}://${shown}:${port}${path}`
}
