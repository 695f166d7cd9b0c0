// The public app. The request flow, in the order the plugins run:
//   verify JWT -> identity -> layers -> locators per backend -> read (parallel, timed, validated per store read) -> merge -> answer
import type http from 'node:http'
import type https from 'node:https'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Backend } from './store/port.js'
import { ConfigInvalid } from './errors.js'
import type { Config } from './config/schema.js'
import auditLog from './plugins/audit-log.js'
import errorHandler from './plugins/error-handler.js'
import identity from './plugins/identity.js'
import refusalLimit from './plugins/refusal-limit.js'
import refuseBody from './plugins/refuse-body.js'
import secretsRoute from './plugins/secrets-route.js'
import verifyJwt from './plugins/verify-jwt.js'
import type { Metrics } from './metrics.js'
import type { SecretSet } from './secret-rotation.js'
import { lazyRequestLogger } from './request-logger.js'
import { createResolver, type StoreReader } from './resolver.js'
import { activeTracing, type Tracing } from './tracing.js'

export interface AppOptions {
  config: Config
  backends: readonly Backend[]
  logger: Logger
  /** Where the audit lines go (log.audit, src/plugins/audit-log.ts createAuditLog); default: `logger` at info. */
  audit?: Logger
  /** The store reads, normally the cache in front of callStore. */
  read: StoreReader
  metrics?: Pick<Metrics, 'request' | 'invalidEntry'>
  /** Listener options: plain HTTP, or built-in TLS (src/server.ts transportOptions). */
  transport?: Transport
  /** The JWT secrets in force when they can change at run time; default: config.auth.secrets. */
  secrets?: SecretSet
  /** OpenTelemetry request spans; default: the tracing serve started from OTEL_* (none: off, nothing registered). */
  tracing?: Tracing
}

export type Transport = { http: http.ServerOptions } | { https: https.ServerOptions }

export async function buildApp ({ config, backends, logger, audit, read, metrics, secrets, transport = { http: {} }, tracing = activeTracing() }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(transport as { http: http.ServerOptions }),
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // the audit line replaces Fastify's request logs
    childLoggerFactory: lazyRequestLogger,                  // request.log made on first use: a warm answer logs nothing through it
    return503OnClosing: true,
    trustProxy: trustProxyOption(config.server.trustProxy), // request.ip: the client behind the proxies trusted here
    bodyLimit: 1024 // GET only: nobody needs to send us a body
  })
  if (tracing !== undefined) await tracing.register(app) // first, to see every route: a span per request (src/tracing.ts)
  await app.register(errorHandler)                        // catalog errors -> JSON; 401 with WWW-Authenticate, 429 past the refusal limit
  await app.register(auditLog, { audit, metrics })        // one line (and metrics) per request, at any log.level, no values
  await app.register(refuseBody)                          // a request with a body: 400 and the connection closes
  await app.register(refusalLimit, config.server.rateLimit) // optional: refused tokens per client address (a valid token is never limited)
  await app.register(verifyJwt, { auth: config.auth, secrets }) // Authorization: Bearer <JWT> -> verified claims (secrets may rotate)
  await app.register(identity, { auth: config.auth })     // claims -> projectId / nfObjectId / nfObjectType; exp within maxTokenLifetimeSeconds
  await app.register(secretsRoute, {                      // layers -> locators -> read -> merge -> answer
    path: config.server.path,
    resolver: createResolver(config.layers, backends, read),
    strict: config.strict,
    deadlineMs: config.server.requestTimeoutSeconds * 1000,
    onInvalidEntry: metrics?.invalidEntry
  })
  return app
}

/**
 * server.trustProxy for Fastify: false, a hop count, or the proxies' addresses (proxy-addr).
 * Fastify 5.12 takes a bare number as "trust nothing" (a hop count cannot tell a proxy from a
 * client that reached the port directly), so the count is given as a function: the N nearest
 * hops are trusted. A bad IPv6 address, which the schema takes loosely, is a config error.
 */
function trustProxyOption (trust: Config['server']['trustProxy']): false | string[] | ((address: string, hop: number) => boolean) {
  if (trust === false || trust === 0) return false
  if (typeof trust === 'number') return (_address, hop) => hop < trust
  try {
    Fastify({ trustProxy: trust })
  } catch (err) {
    throw new ConfigInvalid(`  - server.trustProxy: ${(err as Error).message}`)
  }
  return trust
}
