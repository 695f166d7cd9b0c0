// A real OpenBao dev server (test/servers/openbao.ts) seeded for the vault suites through its
// HTTP API with the root token: KV v1 and v2 mounts (two whose names contain "data"), a
// read policy over northflank/* that denies one project (and covers mounts never enabled), AppRoles, a JWT auth mount and a
// namespace. Under CI=true a missing server fails the file; locally it skips loudly.
import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { Test } from 'tap'
import { suiteCanRun } from '../../servers/common.js'
import { openBaoBinary, openBaoUnavailable, startOpenBao } from '../../servers/openbao.js'

export const KV1 = 'kv1'
/** Mounts whose names contain "data": the v2 "data/" segment must not be confused with them. */
export const DATA_MOUNTS = ['kvdata', 'data'] as const
export const NAMESPACE = 'team-a'
/** A namespace with no KV mount in it (the policy covers its secret/ anyway). */
export const EMPTY_NAMESPACE = 'team-empty'
/** The read policy denies every path of this project. */
export const FORBIDDEN_PROJECT = 'forbidden'
export const READ_POLICY = 'nfss-read'
/**
 * Mounts the read policy covers (v1 and v2 paths) that are never enabled at seeding: reads there
 * reach OpenBao's router (404 "no handler for route") instead of stopping at the policy (403).
 */
export const ABSENT_MOUNTS = ['absent', 'removed'] as const

const READ_POLICY_HCL = [
  ...['secret/data', `${KV1}`, ...DATA_MOUNTS.map(m => `${m}/data`), `${NAMESPACE}/secret/data`, `${EMPTY_NAMESPACE}/secret/data`, ...ABSENT_MOUNTS.flatMap(m => [m, `${m}/data`])].flatMap(prefix => [
    `path "${prefix}/northflank/*" { capabilities = ["read"] }`,
    `path "${prefix}/northflank/${FORBIDDEN_PROJECT}/*" { capabilities = ["deny"] }`
  ])
].join('\n')

export interface AppRoleCredentials { roleId: string, secretId: string }

export interface SeededOpenBao {
  address: string
  rootToken: string
  /** A call with the root token; JSON in and out. */
  root: (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number, json: any }>
  /** Writes a secret document in KV's own layout (v2: <mount>/data/<path> {data}; v1: <mount>/<path>). */
  write: (mount: string, version: 1 | 2, path: string, data: Record<string, unknown>, namespace?: string) => Promise<void>
  /** A child token with the read policy (default policy included: lookup-self, renew-self). */
  readerToken: (options?: { ttl?: string, renewable?: boolean, explicit_max_ttl?: string }) => Promise<string>
  /** AppRole `nfss` (token TTL 1 h) and `nfss-short` (token TTL 3 s, max TTL 6 s), both with the read policy. */
  approle: AppRoleCredentials
  shortApprole: AppRoleCredentials
  /** A JWT the `jwt/` auth mount (role nfss) accepts, signed here. */
  signJwt: (claims?: Record<string, unknown>) => string
}

function signWith (key: KeyObject, claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${part({ alg: 'ES256', typ: 'JWT' })}.${part({ sub: 'nf-secret-source', aud: 'nfss', iat: now, exp: now + 600, ...claims })}`
  return `${input}.${createSign('SHA256').update(input).sign({ key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}

async function seed (address: string, rootToken: string): Promise<SeededOpenBao> {
  const root: SeededOpenBao['root'] = async (method, path, body, headers = {}) => {
    const res = await fetch(`${address}/v1/${path}`, {
      method,
      headers: { 'x-vault-token': rootToken, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await res.text()
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) }
  }
  const must = async (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any> => {
    const answer = await root(method, path, body, headers)
    if (answer.status >= 300) throw new Error(`seeding OpenBao: ${method} ${path} -> ${answer.status} ${JSON.stringify(answer.json)}`)
    return answer.json
  }

  await must('POST', `sys/mounts/${KV1}`, { type: 'kv', options: { version: '1' } })
  for (const mount of DATA_MOUNTS) await must('POST', `sys/mounts/${mount}`, { type: 'kv', options: { version: '2' } })
  await must('POST', `sys/namespaces/${NAMESPACE}`, {})
  await must('POST', `sys/namespaces/${EMPTY_NAMESPACE}`, {})
  await must('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } }, { 'x-vault-namespace': NAMESPACE })
  await must('POST', `sys/policy/${READ_POLICY}`, { policy: READ_POLICY_HCL })

  await must('POST', 'sys/auth/approle', { type: 'approle' })
  const approleOf = async (role: string, settings: Record<string, unknown>): Promise<AppRoleCredentials> => {
    await must('POST', `auth/approle/role/${role}`, { token_policies: [READ_POLICY], ...settings })
    const roleId = (await must('GET', `auth/approle/role/${role}/role-id`)).data.role_id
    const secretId = (await must('POST', `auth/approle/role/${role}/secret-id`, {})).data.secret_id
    return { roleId, secretId }
  }
  const approle = await approleOf('nfss', { token_ttl: '1h', token_max_ttl: '2h' })
  const shortApprole = await approleOf('nfss-short', { token_ttl: '3s', token_max_ttl: '6s' })

  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await must('POST', 'sys/auth/jwt', { type: 'jwt' })
  await must('POST', 'auth/jwt/config', { jwt_validation_pubkeys: [publicKey.export({ type: 'spki', format: 'pem' })] })
  await must('POST', 'auth/jwt/role/nfss', { role_type: 'jwt', user_claim: 'sub', bound_audiences: ['nfss'], token_policies: [READ_POLICY], token_ttl: '1h' })

  return {
    address,
    rootToken,
    root,
    async write (mount, version, path, data, namespace) {
      const headers: Record<string, string> = namespace === undefined ? {} : { 'x-vault-namespace': namespace }
      await must('POST', version === 2 ? `${mount}/data/${path}` : `${mount}/${path}`, version === 2 ? { data } : data, headers)
    },
    async readerToken (options = {}) {
      return (await must('POST', 'auth/token/create', { policies: [READ_POLICY], ttl: '1h', ...options })).auth.client_token
    },
    approle,
    shortApprole,
    signJwt: (claims = {}) => signWith(privateKey, claims)
  }
}

/** Starts and seeds OpenBao for one test file; undefined when it cannot run here (skipped or failed). */
export async function openBaoForSuite (t: Test, suite: string): Promise<SeededOpenBao | undefined> {
  if (!suiteCanRun(t, `${suite} (OpenBao)`, openBaoUnavailable())) return undefined
  // A first build of the binary takes many minutes on 2 cores (tap's file timeout is 300 s).
  if (!existsSync(openBaoBinary)) t.setTimeout(30 * 60_000)
  const bao = await startOpenBao()
  t.teardown(bao.stop)
  return await seed(bao.address, bao.rootToken)
}
