// Just enough JWT for the token endpoint: read client assertions (RS256 or PS256, as MSAL signs
// them) and mint the federated token a Kubernetes service account would present.
import { constants, createSign, createVerify, type KeyObject } from 'node:crypto'

export interface DecodedJwt {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  signingInput: string
  signature: Buffer
}

function decodePart (part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

export function decodeJwt (token: string): DecodedJwt | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const [h, p, s] = parts as [string, string, string]
  const header = decodePart(h)
  const payload = decodePart(p)
  if (header === undefined || payload === undefined) return undefined
  return { header, payload, signingInput: `${h}.${p}`, signature: Buffer.from(s, 'base64url') }
}

/** True when the signature verifies with `key` under the header's alg (RS256 or PS256 only). */
export function verifyJwtSignature (jwt: DecodedJwt, key: KeyObject): boolean {
  const verifier = createVerify('RSA-SHA256').update(jwt.signingInput)
  if (jwt.header.alg === 'RS256') return verifier.verify(key, jwt.signature)
  if (jwt.header.alg === 'PS256') {
    return verifier.verify({ key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, jwt.signature)
  }
  return false
}

export function signJwtRs256 (header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const encode = (part: Record<string, unknown>): string => Buffer.from(JSON.stringify(part)).toString('base64url')
  const signingInput = `${encode({ ...header, alg: 'RS256', typ: 'JWT' })}.${encode(payload)}`
  const signature = createSign('RSA-SHA256').update(signingInput).sign(key)
  return `${signingInput}.${signature.toString('base64url')}`
}
