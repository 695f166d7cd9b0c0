// Verified claims -> the identity (projectId, nfObjectId, nfObjectType) the answer is for.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config/schema.js'
import { identityFromClaims, type Identity } from '../core/identity.js'
import { TokenRefused } from './verify-jwt.js'

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity | null
  }
}

async function identity (app: FastifyInstance, { auth }: { auth: Config['auth'] }): Promise<void> {
  app.decorateRequest('identity', null)
  app.addHook('onRequest', (request: FastifyRequest, _reply, done) => {
    const result = identityFromClaims(request.claims ?? {}, {
      nowSeconds: Date.now() / 1000,
      clockToleranceSeconds: auth.clockToleranceSeconds,
      maxTokenAgeSeconds: auth.maxTokenAgeSeconds,
      maxTokenLifetimeSeconds: auth.maxTokenLifetimeSeconds
    })
    if (!result.ok) {
      done(new TokenRefused(result.reason, true))
      return
    }
    request.identity = result.identity
    done()
  })
}

export default fp(identity, { name: 'identity', dependencies: ['verify-jwt'] })
