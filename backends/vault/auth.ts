// How the vault backend gets its token: the `auth` config (token, AppRole, Kubernetes, JWT) and
// the login that turns it into a Vault token. Keeping the token alive (renewal, re-login) is
// vault-session.ts; this file only knows how to obtain one.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { storeError } from '../../src/store/errors.js'
import { answerError, errorMessages, type VaultHttp } from './http.js'

const Mount = (fallback: string) => Type.Optional(Type.String({ minLength: 1, pattern: '^[^/](.*[^/])?$', description: `auth mount path (default ${fallback})` }))

// One object per method. Ajv applies `default` only in plain properties, so the defaults of
// these variants are applied in resolveAuth() and only described here.
const authVariants = {
  token: Type.Object({
    method: Type.Literal('token'),
    token: Type.Optional(Type.String({ minLength: 1, description: 'the token itself, usually "${env:VAULT_TOKEN}"' })),
    tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'file holding the token (Vault Agent sink); re-read when Vault stops accepting the token' }))
  }, { additionalProperties: false }),
  approle: Type.Object({
    method: Type.Literal('approle'),
    roleId: Type.String({ minLength: 1 }),
    secretId: Type.Optional(Type.String({ minLength: 1 })),
    secretIdFile: Type.Optional(Type.String({ minLength: 1, description: 're-read on every login' })),
    mount: Mount('approle')
  }, { additionalProperties: false }),
  kubernetes: Type.Object({
    method: Type.Literal('kubernetes'),
    role: Type.String({ minLength: 1 }),
    tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'service account token (default /var/run/secrets/kubernetes.io/serviceaccount/token); re-read on every login' })),
    mount: Mount('kubernetes')
  }, { additionalProperties: false }),
  jwt: Type.Object({
    method: Type.Literal('jwt'),
    role: Type.String({ minLength: 1 }),
    jwt: Type.Optional(Type.String({ minLength: 1 })),
    jwtFile: Type.Optional(Type.String({ minLength: 1, description: 're-read on every login' })),
    mount: Mount('jwt')
  }, { additionalProperties: false })
}

const AuthUnion = Type.Union(Object.values(authVariants))
export type AuthConfig = Static<typeof AuthUnion>

/**
 * `auth` as if/then per method rather than anyOf: a typo then gets one precise problem
 * ("auth.secret_id: unknown key") instead of one per variant. The merged `properties` are
 * there for the config loader, which learns key names (NFSS__ env overrides) from them.
 */
export const authOptions = Type.Unsafe<AuthConfig>({
  type: 'object',
  description: 'how nf-secret-source logs in: method token, approle, kubernetes or jwt',
  required: ['method'],
  properties: { ...Object.assign({}, ...Object.values(authVariants).map(v => v.properties)), method: { type: 'string', enum: Object.keys(authVariants) } },
  allOf: Object.entries(authVariants).map(([method, then]) => ({ if: { required: ['method'], properties: { method: { const: method } } }, then }))
})


const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

/** A credential: given in config, or a file read on every login (files rotate). */
type Credential = { value: string } | { file: string }

/** The auth config with its defaults applied and files resolved against the config folder. */
export type Auth =
  | { method: 'token', credential: Credential }
  | { method: 'approle', mount: string, roleId: string, credential: Credential }
  | { method: 'kubernetes' | 'jwt', mount: string, role: string, credential: Credential }

function exactlyOne (value: string | undefined, file: string | undefined, keys: string, baseDir: string): Credential {
  if ((value === undefined) === (file === undefined)) throw new Error(`auth needs exactly one of ${keys}`)
  return value !== undefined ? { value } : { file: resolve(baseDir, file as string) }
}

/** Applies defaults and checks what the schema cannot say ("exactly one of"); throws a config problem. */
export function resolveAuth (auth: AuthConfig, baseDir: string): Auth {
  switch (auth.method) {
    case 'token': return { method: 'token', credential: exactlyOne(auth.token, auth.tokenFile, 'token, tokenFile', baseDir) }
    case 'approle': return { method: 'approle', mount: auth.mount ?? 'approle', roleId: auth.roleId, credential: exactlyOne(auth.secretId, auth.secretIdFile, 'secretId, secretIdFile', baseDir) }
    case 'kubernetes': return { method: 'kubernetes', mount: auth.mount ?? 'kubernetes', role: auth.role, credential: { file: resolve(baseDir, auth.tokenFile ?? SERVICE_ACCOUNT_TOKEN) } }
    case 'jwt': return { method: 'jwt', mount: auth.mount ?? 'jwt', role: auth.role, credential: exactlyOne(auth.jwt, auth.jwtFile, 'jwt, jwtFile', baseDir) }
  }
}

/** Who we are at Vault, for log lines (never the token). */
export interface AuthDescription {
  authMethod: string
  authMount?: string
  role?: string
  policies?: string[]
}

export function describeAuth (auth: Auth): AuthDescription {
  if (auth.method === 'token') return { authMethod: 'token' }
  return { authMethod: auth.method, authMount: auth.mount, ...(auth.method === 'approle' ? {} : { role: auth.role }) }
}

/** A token and what Vault said about its lifetime. */
export interface Lease {
  token: string
  /** Date.now() after which the token is dead; undefined: it never expires (e.g. a root token). */
  expiresAt?: number
  renewable: boolean
  /** Seconds one renewal should give; a renewal that gives less has reached the max TTL. */
  fullTtlSeconds: number
  description: AuthDescription
}

export function expiryOf (ttlSeconds: number, now = Date.now()): number | undefined {
  return ttlSeconds > 0 ? now + ttlSeconds * 1000 : undefined
}

async function credentialValue (credential: Credential, what: string): Promise<string> {
  if ('value' in credential) return credential.value
  try {
    const text = (await readFile(credential.file, 'utf8')).trim()
    if (text === '') throw Object.assign(new Error('empty'), { code: 'EMPTY' })
    return text
  } catch (err) {
    // Denied: nothing Vault can fix; the file (mount, sink, projected token) is missing or empty.
    throw storeError('denied', `${what} file ${credential.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

/** Asks Vault about a token; undefined when Vault refuses it (expired, revoked, unknown). */
export async function lookupSelf (http: VaultHttp, token: string, signal: AbortSignal): Promise<Record<string, any> | undefined> {
  const answer = await http.call('GET', ['auth', 'token', 'lookup-self'], { token, signal, what: 'token lookup-self' })
  if (answer.status === 401 || answer.status === 403) return undefined
  if (answer.status !== 200 || typeof answer.body?.data !== 'object' || answer.body.data === null) throw answerError(answer, 'token lookup-self', [token])
  return answer.body.data
}

/** One login: a new token from the configured method (for `token`: the token, checked with lookup-self). */
export async function logIn (http: VaultHttp, auth: Auth, signal: AbortSignal): Promise<Lease> {
  const base = describeAuth(auth)
  if (auth.method === 'token') {
    const token = await credentialValue(auth.credential, 'token')
    const data = await lookupSelf(http, token, signal)
    if (data === undefined) throw storeError('denied', 'token lookup-self: the configured token is not valid (expired, revoked or unknown)')
    const ttl = Number(data.ttl ?? 0)
    const period = Number(data.period ?? 0)
    return {
      token,
      // ttl 0 with an expire_time means "expiring now"; without one, a token that never expires.
      expiresAt: ttl > 0 ? expiryOf(ttl) : data.expire_time == null ? undefined : Date.now(),
      renewable: data.renewable === true,
      fullTtlSeconds: period > 0 ? period : Number(data.creation_ttl ?? ttl),
      description: { ...base, role: typeof data.display_name === 'string' ? data.display_name : undefined, policies: stringList(data.policies) }
    }
  }
  const what = `${auth.method} login at auth/${auth.mount}`
  const secret = await credentialValue(auth.credential, auth.method === 'approle' ? 'secretId' : auth.method === 'jwt' ? 'jwt' : 'service account token')
  const body = auth.method === 'approle' ? { role_id: auth.roleId, secret_id: secret } : { role: auth.role, jwt: secret }
  const answer = await http.call('POST', ['auth', ...auth.mount.split('/'), 'login'], { body, signal, what })
  const credentials = [secret, auth.method === 'approle' ? auth.roleId : undefined]
  // A refused login is Denied whatever the code: approle and jwt answer 400 for bad credentials.
  if (answer.status >= 400 && answer.status < 500 && answer.status !== 429) throw storeError('denied', `${what}: HTTP ${answer.status}${errorMessages(answer, credentials)}`)
  if (answer.status !== 200) throw answerError(answer, what, credentials)
  const result = answer.body?.auth
  if (typeof result?.client_token !== 'string' || result.client_token === '') throw storeError('unavailable', `${what}: answer has no auth.client_token`)
  const ttl = Number(result.lease_duration ?? 0)
  const metadata = (result.metadata ?? {}) as Record<string, unknown>
  const role = typeof metadata.role_name === 'string' ? metadata.role_name : typeof metadata.role === 'string' ? metadata.role : base.role
  return {
    token: result.client_token,
    expiresAt: expiryOf(ttl),
    renewable: result.renewable === true,
    fullTtlSeconds: ttl,
    description: { ...base, role, policies: stringList(result.policies) }
  }
}

function stringList (value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined
}
