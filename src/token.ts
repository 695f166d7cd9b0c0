// Signs test tokens shaped like Northflank's (for `token`, the demo and the tests).
import { createSigner } from 'fast-jwt'
import type { Identity } from './core/identity.js'

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** "24h", "30m", "90s", "2d" or plain seconds -> seconds. */
export function parseDuration (text: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim())
  if (match === null) throw new Error(`not a duration: ${text} (use e.g. 90s, 30m, 24h, 2d)`)
  return Number(match[1]) * (UNITS[match[2] || 's'] ?? 1)
}

export interface SignOptions {
  secret: string
  ttlSeconds?: number
  algorithm?: 'HS256' | 'HS384' | 'HS512'
  /** Seconds since the epoch; defaults to now. */
  issuedAt?: number
}

export function signToken (identity: Identity, { secret, ttlSeconds = 86400, algorithm = 'HS256', issuedAt }: SignOptions): string {
  const iat = Math.floor(issuedAt ?? Date.now() / 1000)
  const sign = createSigner({ key: secret, algorithm, clockTimestamp: iat * 1000, expiresIn: Math.round(ttlSeconds) * 1000 })
  return sign({ ...identity })
}
