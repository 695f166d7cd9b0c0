// Authorization: Bearer <JWT> -> verified claims, with fast-jwt (the verifier @fastify/jwt wraps,
// used directly because the list of secrets changes at run time: rotation without a restart).
// One verifier per configured secret, tried in order, so a rotated-in secret verifies beside the
// old one; the list is swapped whole when auth.secrets changes (src/secret-rotation.ts). Only HS
// algorithms are configurable: with a shared secret, alg none and RS/ES headers (algorithm
// confusion) are refused by fast-jwt's allow-list.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { createVerifier } from 'fast-jwt'
import fp from 'fastify-plugin'
import type { Config } from '../config/schema.js'
import { Unauthorized } from '../errors.js'
import type { SecretSet } from '../secret-rotation.js'

declare module 'fastify' {
  interface FastifyRequest {
    claims: Record<string, unknown> | null
  }
}

type Verify = (token: string) => Record<string, unknown>

// base64url header.payload.signature; fast-jwt parses, this only bounds what reaches it.
const BEARER = /^Bearer +[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/i
const MAX_TOKEN_LENGTH = 8192

export class TokenRefused extends Unauthorized {
  constructor (readonly reason: string, readonly tokenPresented: boolean) {
    super()
  }
}

export function bearerToken (header: string | undefined): string {
  if (header === undefined || header === '') throw new TokenRefused('no Authorization header', false)
  if (header.length > MAX_TOKEN_LENGTH) throw new TokenRefused('Authorization header too long', true)
  if (!BEARER.test(header)) throw new TokenRefused('Authorization header is not "Bearer <JWT>"', true)
  // test, not exec: no match array per request. The token has no space, so it is what follows the last one.
  return header.slice(header.lastIndexOf(' ') + 1)
}

/** Tries each secret; only a signature mismatch moves on to the next one. */
export function verifyWithAny (verifiers: readonly Verify[], token: string): Record<string, unknown> {
  for (const verify of verifiers) {
    try {
      return verify(token)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'FAST_JWT_INVALID_SIGNATURE') continue
      throw new TokenRefused(`${code ?? 'error'}: ${(err as Error).message}`, true)
    }
  }
  throw new TokenRefused('signature matches no configured secret', true)
}

/** One verifier per secret, with the configured algorithms, required exp and clock tolerance. */
export function verifiersFor (secrets: readonly string[], auth: Config['auth']): Verify[] {
  return secrets.map(key => createVerifier({ key, algorithms: auth.algorithms, requiredClaims: ['exp'], clockTolerance: auth.clockToleranceSeconds * 1000 }) as Verify)
}

async function verifyJwt (app: FastifyInstance, { auth, secrets }: { auth: Config['auth'], secrets?: SecretSet }): Promise<void> {
  let verifiers = verifiersFor(secrets?.current() ?? auth.secrets, auth)
  // Requests in flight keep the list they started with; the next one uses the new list.
  secrets?.onChange(next => { verifiers = verifiersFor(next, auth) })
  app.decorateRequest('claims', null)
  // Callback style: the work is synchronous, and an async hook costs a promise per request.
  app.addHook('onRequest', (request: FastifyRequest, _reply, done) => {
    try {
      request.claims = verifyWithAny(verifiers, bearerToken(request.headers.authorization))
    } catch (err) {
      done(err as Error)
      return
    }
    done()
  })
}

export default fp(verifyJwt, { name: 'verify-jwt', fastify: '5.x' })
