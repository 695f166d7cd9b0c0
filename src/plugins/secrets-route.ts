// GET <server.path>: the identity's layers read, merged and validated, in Northflank's format.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Identity } from '../core/identity.js'
import { InvalidEntries } from '../errors.js'
import type { Resolver } from '../resolver.js'

export interface SecretsRouteOptions {
  path: string
  resolver: Resolver
  strict: boolean
  deadlineMs: number
  /** Called once per skipped entry (metrics). */
  onInvalidEntry?: (backend: string, locator: string, key: string) => void
}

async function secretsRoute (app: FastifyInstance, options: SecretsRouteOptions): Promise<void> {
  app.get(options.path, async (request, reply) => {
    const resolution = await options.resolver.resolve(request.identity as Identity, options.deadlineMs)
    for (const { key, reason, source } of resolution.invalid) {
      request.log.warn({ backend: source.backend, layer: source.layer, locator: source.locator, key, reason }, 'invalid entry skipped')
      options.onInvalidEntry?.(source.backend, source.locator, key)
    }
    const entries = resolution.entries.map(r => r.entry)
    request.auditAnswer = {
      env: entries.flatMap(e => e.type === 'ENV' ? [e.key] : []),
      files: entries.flatMap(e => e.type === 'FILE' ? [e.path] : []),
      skipped: resolution.invalid.length,
      reads: resolution.reads
    }
    // Never part of the secrets: in strict mode an invalid entry fails the whole answer.
    if (options.strict && resolution.invalid.length > 0) throw new InvalidEntries(resolution.invalid.length)
    reply.header('cache-control', 'no-store')
    return { secrets: entries }
  })
}

export default fp(secretsRoute, { name: 'secrets-route', dependencies: ['identity'] })
