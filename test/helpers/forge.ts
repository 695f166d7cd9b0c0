// Hand-built JWTs for attack tests: any header, any payload, any (or no) signature.
import { createHmac } from 'node:crypto'

const b64url = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

export function forgeToken (header: Record<string, unknown>, payload: Record<string, unknown>, secret?: string, hmac: 'sha256' | 'sha384' | 'sha512' = 'sha256'): string {
  const input = `${b64url(header)}.${b64url(payload)}`
  const signature = secret === undefined ? '' : createHmac(hmac, secret).update(input).digest('base64url')
  return `${input}.${signature}`
}

export function claimsNow (overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service', iat: now, exp: now + 3600, ...overrides }
}
