// server.rateLimit: refused tokens per client address, counted in @fastify/rate-limit's store.
// Only a request whose token is refused is counted, and only such a request is ever answered
// 429: a valid token is never limited. Keyed by the client address as server.trustProxy
// resolves it (IPv6 by /64), so behind a proxy one client's bad tokens limit that client alone,
// and even when every request comes from one proxy address, Northflank's valid tokens still pass.
// (Limiting before token work made the limit global behind a proxy: five bad requests from anyone
// and a valid token got 429. Verifying an HS256 token costs microseconds, so nothing is saved by
// refusing before it.)
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

export interface RefusalVerdict {
  /** True once this address has more than `max` refused tokens in the window. */
  limited: boolean
  retryAfterSeconds: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Counts a refused token for the request's client address; null when server.rateLimit is off. */
    countRefusal: ((request: FastifyRequest) => Promise<RefusalVerdict>) | null
  }
}

export interface RefusalLimitOptions {
  /** Refused tokens allowed per client address per window; 0 turns the limit off. */
  max: number
  windowSeconds: number
}

async function refusalLimit (app: FastifyInstance, { max, windowSeconds }: RefusalLimitOptions): Promise<void> {
  if (max === 0) {
    app.decorate('countRefusal', null)
    return
  }
  await app.register(rateLimit, { global: false }) // no route is limited as such: only countRefusal counts
  const count = app.createRateLimit({ max, timeWindow: windowSeconds * 1000 })
  app.decorate('countRefusal', async (request: FastifyRequest): Promise<RefusalVerdict> => {
    const result = await count(request)
    if (result.isAllowed) return { limited: false, retryAfterSeconds: 0 }
    return { limited: result.isExceeded, retryAfterSeconds: result.ttlInSeconds }
  })
}

export default fp(refusalLimit, { name: 'refusal-limit', fastify: '5.x' })
