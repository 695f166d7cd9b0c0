// The public app. The request flow, in the order the plugins run:
//   verify JWT -> identity -> layers -> locators per backend -> read (parallel, timed, validated per store read) -> merge -> answer
import type http from 'node:http'
import type https from 'node:https'
import rateLimit from '@fastify/rate-limit'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Backend } from './store/port.js'
import type { Config } from './config/schema.js'
import auditLog from './plugins/audit-log.js'
import errorHandler from './plugins/error-handler.js'
import identity from './plugins/identity.js'
import refuseBody from './plugins/refuse-body.js'
import secretsRoute from './plugins/secrets-route.js'
import verifyJwt from './plugins/verify-jwt.js'
import type { Metrics } from './metrics.js'
import { createResolver, type StoreReader } from './resolver.js'

export interface AppOptions {
  config: Config
  backends: readonly Backend[]
  logger: Logger
  /** The store reads, normally the cache in front of callStore. */
  read: StoreReader
  metrics?: Pick<Metrics, 'request' | 'invalidEntry'>
  /** Listener options: plain HTTP, or built-in TLS (src/server.ts transportOptions). */
  transport?: Transport
}

export type Transport = { http: http.ServerOptions } | { https: https.ServerOptions }

export async function buildApp ({ config, backends, logger, read, metrics, transport = { http: {} } }: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(transport as { http: http.ServerOptions }),
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }), // the audit line replaces Fastify's request logs
    return503OnClosing: true,
    bodyLimit: 1024 // GET only: nobody needs to send us a body
  })
  await app.register(errorHandler)                        // catalog errors -> JSON; 401 with WWW-Authenticate
  await app.register(auditLog, { metrics })               // one line (and metrics) per request, no values
  await app.register(refuseBody)                          // a request with a body: 400 and the connection closes
  if (config.server.rateLimit.max > 0) {                  // optional: per client IP, before any token work
    await app.register(rateLimit, { global: false })
    app.addHook('onRequest', app.rateLimit({ max: config.server.rateLimit.max, timeWindow: config.server.rateLimit.windowSeconds * 1000 }))
  }
  await app.register(verifyJwt, { auth: config.auth })    // Authorization: Bearer <JWT> -> verified claims
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
