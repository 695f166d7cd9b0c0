// Maps the error catalog to answers. Details (why a token was refused, which path a store
// denied) go to the server log; the caller gets the stable code and a short message.
import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { RateLimited, STORE_ERROR_STATUS } from '../errors.js'
import { isStoreError } from '../store/errors.js'
import './refusal-limit.js'
import { TokenRefused } from './verify-jwt.js'

const REALM = 'Bearer realm="nf-secret-source"'

async function errorHandler (app: FastifyInstance): Promise<void> {
  app.setErrorHandler(async (err: FastifyError, request, reply) => {
    if (err instanceof TokenRefused) {
      // server.rateLimit counts refused tokens only (src/plugins/refusal-limit.ts).
      const verdict = app.countRefusal === null ? undefined : await app.countRefusal(request)
      if (verdict?.limited === true) {
        // Past the limit the refusal is in the audit line only: a flood of bad tokens is not
        // also a flood of warnings.
        request.auditNote = `rate limited: ${err.reason}`
        const limited = new RateLimited(verdict.retryAfterSeconds)
        return await reply.code(429).header('retry-after', String(verdict.retryAfterSeconds))
          .send({ error: 'Too Many Requests', code: limited.code, message: limited.message })
      }
      request.log.warn({ reason: err.reason }, 'token refused')
      request.auditNote = err.reason
      return await reply.code(401)
        .header('www-authenticate', err.tokenPresented ? `${REALM}, error="invalid_token"` : REALM)
        .send({ error: 'Unauthorized', code: err.code, message: err.message })
    }
    if (isStoreError(err)) {
      request.log.error({ backend: err.backend, layer: err.layer, locator: err.locator, code: err.code, detail: err.message }, 'store read failed')
      request.auditNote = `${err.code} ${err.backend ?? ''}/${err.layer ?? ''}`
      // The call budget (or the store's own Retry-After) knows when a slot is expected.
      if (err.retryAfterMs !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))))
      return await reply.code(STORE_ERROR_STATUS).send({ error: 'Service Unavailable', code: err.code, message: `backend "${err.backend ?? '?'}" could not read layer "${err.layer ?? '?'}"` })
    }
    if (err.code === 'NFSS_INVALID_ENTRIES' || err.code === 'NFSS_DEADLINE_EXCEEDED') {
      request.log.error({ code: err.code }, err.message)
      request.auditNote = err.code
      return await reply.code(err.statusCode ?? 503).send({ error: err.statusCode === 502 ? 'Bad Gateway' : 'Service Unavailable', code: err.code, message: err.message })
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return await reply.code(err.statusCode).send({ error: STATUS_CODES[err.statusCode] ?? 'Client Error', code: err.code, message: err.message })
    }
    request.log.error({ err }, 'unexpected error')
    return await reply.code(500).send({ error: 'Internal Server Error', message: 'internal error' })
  })
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'Not Found', message: 'no such route' }))
}

export default fp(errorHandler, { name: 'error-handler' })
