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
  /** exp may be at most this far after iat (after now when iat is absent). */
  maxTokenLifetimeSeconds: number
}

export type IdentityResult = { ok: true, identity: Identity } | { ok: false, reason: string }

/**
 * Checks the claims fast-jwt has already verified the signature and exp of.
 * fast-jwt does not refuse an iat in the future, nor a token without an end (exp 1e400 parses
 * as Infinity, exp 1e15 is 31 million years away), so those checks live here.
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
  const lifetime = tokenLifetimeProblem(claims, rules)
  if (lifetime !== undefined) return { ok: false, reason: lifetime }
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

/**
 * A token must end: exp a finite number at most maxTokenLifetimeSeconds after iat, which the
 * issuer wrote (no clock of ours involved). Without iat, at most that far after now, plus the
 * clock tolerance (the issuer's clock may be ahead of ours).
 */
export function tokenLifetimeProblem (claims: Record<string, unknown>, rules: TimeRules): string | undefined {
  const { exp, iat } = claims
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'claim exp is not a finite number'
  const lifetime = typeof iat === 'number' ? exp - iat : exp - rules.nowSeconds - rules.clockToleranceSeconds
  if (lifetime > rules.maxTokenLifetimeSeconds) {
    return `token lives longer than auth.maxTokenLifetimeSeconds (${rules.maxTokenLifetimeSeconds} s) after ${typeof iat === 'number' ? 'iat' : 'now (no iat)'}`
  }
  return undefined
}
