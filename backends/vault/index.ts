// type: vault — HashiCorp Vault / OpenBao KV (v2 or v1); one KV secret per locator, whose data is
// the secret document (docs/backends/vault.md). Logs in once and keeps the token alive
// (vault-session.ts); reads are one GET each.
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { Type } from '@sinclair/typebox'
import { DEFAULT_CALL_TIMEOUT_SECONDS } from '../../src/core/limits.js'
import { DEFAULT_TEMPLATES } from '../../src/core/locator.js'
import { BackendConfigError, storeError } from '../../src/store/errors.js'
import { relativePathProblem } from '../../src/store/templates.js'
import type { Backend, BackendContext, BackendDefinition, ReadResult } from '../../src/store/port.js'
import { authOptions, resolveAuth } from './auth.js'
import { answerError, apiPath, createVaultHttp, errorMessages, type VaultAnswer, type VaultCall, type VaultTls } from './http.js'
import { mountProblem, notFoundProblem, readResultOf, secretPath, segmentsOf, type KvVersion } from './kv.js'
import { VaultSession } from './session.js'

const options = Type.Object({
  address: Type.String({ pattern: '^https?://[^/]', description: 'Vault / OpenBao address, e.g. https://vault.internal:8200' }),
  mount: Type.String({ minLength: 1, default: 'secret', description: 'path of the KV mount, e.g. secret or team/kv' }),
  kvVersion: Type.Integer({ minimum: 1, maximum: 2, default: 2, description: 'KV engine version of the mount' }),
  namespace: Type.Optional(Type.String({ minLength: 1, description: 'namespace (Vault Enterprise, OpenBao), sent as X-Vault-Namespace' })),
  tls: Type.Optional(Type.Object({
    ca: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA that signed Vault\'s certificate' })),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of a client certificate (with key)' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the client certificate\'s key' }))
  }, { additionalProperties: false, description: 'file paths, relative to the config file' })),
  auth: authOptions
})

type VaultOptions = typeof options
type VaultConfig = Parameters<BackendDefinition<VaultOptions>['create']>[0]

/** Test seam, never reachable from config: sees every HTTP call (to count store calls, logins, renewals). */
export interface VaultSeam {
  observe?: (call: VaultCall) => void
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

function readTls (tls: VaultConfig['tls'], baseDir: string, fail: (key: string, problem: string) => Error): VaultTls | undefined {
  if (tls === undefined) return undefined
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw fail('tls', 'needs both cert and key, or neither')
  const pem: VaultTls = {}
  for (const key of ['ca', 'cert', 'key'] as const) {
    const file = tls[key]
    if (file === undefined) continue
    try {
      pem[key] = readFileSync(resolve(baseDir, file), 'utf8')
    } catch (err) {
      throw fail(`tls.${key}`, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  return pem
}

export function createVaultBackend (config: VaultConfig, { logger, baseDir, locate }: BackendContext, seam: VaultSeam = {}): Backend {
  const fail = (key: string, problem: string): Error => new BackendConfigError(key, problem)
  const mountName = config.mount.replace(/^\/+|\/+$/g, '')
  const mountProblemText = relativePathProblem(mountName)
  if (mountProblemText !== undefined) throw fail('mount', mountProblemText)
  const mount = segmentsOf(mountName)
  const version = config.kvVersion as KvVersion
  let auth: ReturnType<typeof resolveAuth>
  try {
    auth = resolveAuth(config.auth, baseDir)
  } catch (err) {
    throw fail('auth', (err as Error).message.replace(/^auth /, ''))
  }
  const tls = readTls(config.tls, baseDir, fail)
  const address = new URL(config.address)
  if (address.protocol === 'http:' && !LOOPBACK.has(address.hostname)) {
    logger.warn({ address: address.origin }, 'vault address is plain http: tokens and secrets cross the network unencrypted')
  }

  const http = createVaultHttp({ address: config.address, namespace: config.namespace, tls, observe: seam.observe })
  const timeoutMs = (typeof config.timeoutSeconds === 'number' ? config.timeoutSeconds : DEFAULT_CALL_TIMEOUT_SECONDS) * 1000
  const session = new VaultSession({ http, auth, logger, callTimeoutMs: timeoutMs })

  /** One call with the session's token; a 403 to a dead token gets one fresh token and one retry. */
  async function withToken (signal: AbortSignal, call: (token: string) => Promise<VaultAnswer>): Promise<{ answer: VaultAnswer, token: string }> {
    const token = await session.token(signal)
    const answer = await call(token)
    if (answer.status !== 403) return { answer, token }
    const fresh = await session.replaceRejected(token, signal)
    return fresh === undefined ? { answer, token } : { answer: await call(fresh), token: fresh }
  }

  /** 403: a log line naming the path and who we are (method, mount, role, policies), never the token. */
  function denied (answer: VaultAnswer, path: string, what: string, token: string): Error {
    const who = session.describe()
    logger.warn({ path, ...who, ...(config.namespace === undefined ? {} : { namespace: config.namespace }), status: answer.status }, 'vault denied access')
    const role = who.role === undefined ? '' : ` role ${who.role}`
    return storeError('denied', `${what}: HTTP ${answer.status}${errorMessages(answer, [token])} (auth ${who.authMethod}${role})`)
  }

  async function read (locator: string, signal: AbortSignal): Promise<ReadResult> {
    signal.throwIfAborted()
    const segments = secretPath(mount, version, locator)
    const path = apiPath(segments)
    const what = `read ${path}`
    const { answer, token } = await withToken(signal, async token => await http.call('GET', segments, { token, signal, what }))
    if (answer.status === 404) {
      // Only an empty-errors 404 (or a deleted v2 version) is missing: a missing mount is not an empty layer.
      const problem = notFoundProblem(answer, version)
      if (problem !== undefined) throw storeError('unavailable', `${what}: HTTP 404${errorMessages(answer, [token])} (${problem})`)
    }
    if (answer.status === 200 || answer.status === 404) return readResultOf(answer, version, what)
    if (answer.status === 401 || answer.status === 403) throw denied(answer, path, what, token)
    throw answerError(answer, what, [token])
  }

  // Readiness: the token is valid (lookup-self) and the mount exists as the configured KV engine.
  // sys/internal/ui/mounts/<mount> answers for any token with some capability inside the mount,
  // so a read-only policy suffices (sys/mounts would need a policy on sys/).
  async function ready (signal: AbortSignal): Promise<void> {
    const lookup = await withToken(signal, async token => await http.call('GET', ['auth', 'token', 'lookup-self'], { token, signal, what: 'token lookup-self (readiness)' }))
    if (lookup.answer.status !== 200) throw answerError(lookup.answer, 'token lookup-self (readiness)', [lookup.token])
    const uiPath = ['sys', 'internal', 'ui', 'mounts', ...mount]
    const what = `mount lookup ${apiPath(uiPath)} (readiness)`
    const { answer, token } = await withToken(signal, async token => await http.call('GET', uiPath, { token, signal, what }))
    if (answer.status === 403) throw denied(answer, apiPath(uiPath), `${what}: mount ${mountName} does not exist or no policy grants anything in it`, token)
    if (answer.status !== 200) throw answerError(answer, what, [token])
    const problem = mountProblem(answer, version)
    if (problem !== undefined) throw storeError('unavailable', `${what}: ${problem}`)
  }

  return {
    name: config.name,
    type: 'vault',
    locate,
    read,
    ready,
    async close () {
      await session.close()
      await http.close()
    }
  }
}

export const vaultDefinition: BackendDefinition<VaultOptions> = {
  type: 'vault',
  options,
  // Vault and OpenBao have no fixed quota (operators set rate-limit quotas, which answer 429):
  // a bound that protects a shared cluster, recovering after 429s.
  budget: { callsPerSecond: 200, burst: 100, concurrency: 32, maxQueue: 2000 },
  locators: { defaults: DEFAULT_TEMPLATES, check: relativePathProblem },
  create: (config, context) => createVaultBackend(config, context)
}
