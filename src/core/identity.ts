// Turns verified JWT claims into the identity a request is answered for.

export interface Identity {
  projectId: string
  nfObjectId: string
  nfObjectType: string
}

export const IDENTITY_CLAIMS = ['projectId', 'nfObjectId', 'nfObjectType'] as const

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export function isValidId (value: unknown): value is string {
  return typeof value === 'string' && ID.test(value) && !value.includes('..')
}

export interface TimeRules {
  nowSeconds: number
  clockToleranceSeconds: number
  maxTokenAgeSeconds: number
}

export type IdentityResult = { ok: true, identity: Identity } | { ok: false, reason: string }

/**
 * Checks the claims @fastify/jwt has already verified the signature and exp of.
 * fast-jwt does not refuse an iat in the future, so that check lives here.
 */
export function identityFromClaims (claims: Record<string, unknown>, rules: TimeRules): IdentityResult {
  for (const claim of IDENTITY_CLAIMS) {
    if (!(claim in claims)) return { ok: false, reason: `claim ${claim} is missing` }
    if (!isValidId(claims[claim])) return { ok: false, reason: `claim ${claim} is not a valid id` }
  }
  const { iat } = claims
  if (iat !== undefined) {
    if (typeof iat !== 'number' || !Number.isFinite(iat)) return { ok: false, reason: 'claim iat is not a number' }
    if (iat > rules.nowSeconds + rules.clockToleranceSeconds) return { ok: false, reason: 'token issued in the future' }
  }
  if (rules.maxTokenAgeSeconds > 0) {
    if (typeof iat !== 'number') return { ok: false, reason: 'claim iat is required when maxTokenAgeSeconds is set' }
    if (rules.nowSeconds - iat > rules.maxTokenAgeSeconds + rules.clockToleranceSeconds) return { ok: false, reason: 'token older than maxTokenAgeSeconds' }
  }
  return {
    ok: true,
    identity: {
      projectId: claims.projectId as string,
      nfObjectId: claims.nfObjectId as string,
      nfObjectType: claims.nfObjectType as string
    }
  }
}
