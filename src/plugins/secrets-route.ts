// GET <server.path>: the identity's layers read, merged and validated, in Northflank's format.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { InvalidEntry } from '../core/entries.js'
import type { Identity } from '../core/identity.js'
import { InvalidEntries } from '../errors.js'
import type { Resolution, Resolver } from '../resolver.js'

export interface SecretsRouteOptions {
  path: string
  resolver: Resolver
  strict: boolean
  deadlineMs: number
  /** Called once per invalid entry of a store read, not per request (metrics: bounded labels). */
  onInvalidEntry?: (backend: string, layer: string, entry: InvalidEntry) => void
}

async function secretsRoute (app: FastifyInstance, options: SecretsRouteOptions): Promise<void> {
  const outcome = options.strict ? 'invalid entry refused the answer (strict)' : 'invalid entry skipped'
  const answer = (request: FastifyRequest, reply: FastifyReply, { answer, summary, invalidFirstSeen }: Resolution): void => {
    // Once per store read (a cache hit repeats nothing); the audit line counts them on every request.
    for (const { source, ...entry } of invalidFirstSeen) {
      request.log.warn({ backend: source.backend, layer: source.layer, locator: source.locator, key: entry.key, reason: entry.reason }, outcome)
      options.onInvalidEntry?.(source.backend, source.layer, entry)
    }
    request.auditAnswer = summary
    // Never part of the secrets: in strict mode an invalid entry fails the whole answer.
    if (options.strict && answer.invalid.length > 0) throw new InvalidEntries(answer.invalid.length)
    // answer.json is {"secrets": [...]} serialised once per distinct answer.
    void reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(answer.json)
  }
  // Not an async handler: when every layer is a cache hit the resolution is at hand, and the
  // answer is sent without a promise (a thrown error still reaches the error handler).
  app.get(options.path, (request, reply) => {
    const resolution = options.resolver.resolve(request.identity as Identity, options.deadlineMs, request.nfssTrace ?? undefined)
    if (resolution instanceof Promise) return resolution.then(r => { answer(request, reply, r) })
    answer(request, reply, resolution)
  })
}

export default fp(secretsRoute, { name: 'secrets-route', dependencies: ['identity'] })
