// The Key Vault data plane as this backend uses it: two SecretClients on one credential (reads,
// whose retries are ours so that Retry-After is honoured only inside the call's deadline; and
// the background listing, with the SDK's own retries), SDK errors mapped onto store errors with
// only name, status and Key Vault error codes kept, and the validity of a secret's attributes.
import { readFileSync } from 'node:fs'
import { Agent, type AgentOptions } from 'node:https'
import type { LookupFunction } from 'node:net'
import { resolve } from 'node:path'
import { rootCertificates } from 'node:tls'
import type { TokenCredential } from '@azure/identity'
import { SecretClient, type KeyVaultSecret, type SecretProperties } from '@azure/keyvault-secrets'
import { BackendConfigError, isStoreError, storeError, throttledError, type StoreError } from '../../src/store/errors.js'

/** The transport settings of both clients and the credential. */
export function buildAgent (caFile: string | undefined, baseDir: string, lookup: LookupFunction | undefined): Agent | undefined {
  if (caFile === undefined && lookup === undefined) return undefined
  const options: AgentOptions = { keepAlive: true }
  if (caFile !== undefined) {
    let pem: string
    try {
      pem = readFileSync(resolve(baseDir, caFile), 'utf8')
    } catch (err) {
      throw new BackendConfigError('caFile', `cannot read ${caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new BackendConfigError('caFile', `${caFile} holds no PEM certificate`)
    // Added to the public roots, not instead of them: Entra ID keeps its public certificate.
    options.ca = [...rootCertificates, pem]
  }
  if (lookup !== undefined) options.lookup = lookup
  return new Agent(options)
}

export interface KeyVaultClients {
  /** Reads: no SDK retries (withRetries below decides, within the deadline). */
  reads: SecretClient
  /** The property listing: the SDK's retries, Retry-After included, bounded by the refresh timeout. */
  listing: SecretClient
}

export function createClients (vaultUrl: string, credential: TokenCredential, options: { agent?: Agent, maxAttempts: number, disableChallengeResourceVerification: boolean }): KeyVaultClients {
  const common = {
    ...(options.agent === undefined ? {} : { agent: options.agent }),
    ...(options.disableChallengeResourceVerification ? { disableChallengeResourceVerification: true } : {})
  }
  return {
    reads: new SecretClient(vaultUrl, credential, { ...common, retryOptions: { maxRetries: 0 } }),
    listing: new SecretClient(vaultUrl, credential, { ...common, retryOptions: { maxRetries: options.maxAttempts - 1 } })
  }
}

// ---- errors ---------------------------------------------------------------------------------

/** What an SDK or identity error may tell the log: never its message (principals, URLs, tokens). */
export interface ErrorFacts {
  name: string
  status?: number
  /** Key Vault's error.code (Forbidden, SecretNotFound, Throttled) or Entra ID's error (invalid_client). */
  code?: string
  /** Key Vault's error.innererror.code (SecretDisabled, ForbiddenByRbac). */
  inner?: string
}

interface SdkError {
  name?: unknown
  statusCode?: unknown
  code?: unknown
  details?: unknown
  errorResponse?: { error?: unknown }
  response?: { headers?: { get?: (name: string) => string | undefined } }
}

const SAFE_CODE = /^[A-Za-z0-9_.-]{1,64}$/

function safe (value: unknown): string | undefined {
  return typeof value === 'string' && SAFE_CODE.test(value) ? value : undefined
}

function innerCode (details: unknown): string | undefined {
  const error = (details as { error?: { innerError?: { code?: unknown }, innererror?: { code?: unknown } } } | undefined)?.error
  return safe(error?.innerError?.code ?? error?.innererror?.code)
}

export function errorFacts (err: unknown): ErrorFacts {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkError
  const facts: ErrorFacts = { name: safe(e.name) ?? 'Error' }
  if (typeof e.statusCode === 'number') facts.status = e.statusCode
  const code = safe(e.code) ?? safe(e.errorResponse?.error)
  if (code !== undefined) facts.code = code
  const inner = innerCode(e.details)
  if (inner !== undefined) facts.inner = inner
  return facts
}

export function describeFacts (facts: ErrorFacts): string {
  const parts = [
    facts.status === undefined ? undefined : `HTTP ${facts.status}`,
    facts.code,
    facts.inner
  ].filter((p): p is string => p !== undefined)
  return `${facts.name}${parts.length === 0 ? '' : ` (${parts.join(', ')})`}`
}

// Identity errors: the credential could not get a token (no credential in the chain, Entra ID
// refused the client) is a denial; Entra ID answering 5xx or 429 is an outage.
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AggregateAuthenticationError', 'AuthenticationRequiredError', 'AuthenticationError'])

export function isAbort (err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name
  return name === 'AbortError' || name === 'TimeoutError'
}

/** An SDK error -> a store error; `what` names the call and the secret (never a value). */
export function keyVaultStoreError (err: unknown, what: string): StoreError {
  if (isStoreError(err)) return err
  if (isAbort(err)) return storeError('unavailable', `${what}: aborted (call timeout or request deadline)`)
  const facts = errorFacts(err)
  const detail = `${what}: ${describeFacts(facts)}`
  if (CREDENTIAL_ERRORS.has(facts.name)) {
    const outage = facts.status !== undefined && (facts.status >= 500 || facts.status === 429)
    return storeError(outage ? 'unavailable' : 'denied', `${detail}: no token from the credential`)
  }
  if (facts.status === 401 || facts.status === 403) return storeError('denied', detail)
  if (facts.status === 429) return throttledError(`${detail}: throttled`, retryAfterMs(err))
  // Network errors (no status), 5xx, and anything unexpected.
  return storeError('unavailable', detail)
}

/** "Caller: appid=...;oid=..." from a Key Vault 403 message: ids, safe to log (never the message itself). */
export function callerOf (err: unknown): { appId?: string, objectId?: string } {
  const message = (err as { message?: unknown } | undefined)?.message
  if (typeof message !== 'string') return {}
  const appId = /appid=([0-9A-Za-z-]{1,64})/.exec(message)?.[1]
  const objectId = /oid=([0-9A-Za-z-]{1,64})/.exec(message)?.[1]
  return { ...(appId === undefined ? {} : { appId }), ...(objectId === undefined ? {} : { objectId }) }
}

// ---- retries within the deadline ------------------------------------------------------------

export interface CallBudget {
  signal: AbortSignal
  /** Epoch ms by which the call must have answered (the backend's timeoutSeconds from the read's start). */
  deadline: number
  maxAttempts: number
}

/** Retry-After (seconds or an HTTP date) or retry-after-ms, in ms; undefined when absent. */
export function retryAfterMs (err: unknown, now = Date.now()): number | undefined {
  const headers = (err as SdkError | undefined)?.response?.headers
  const header = (name: string): string | undefined => typeof headers?.get === 'function' ? headers.get(name) ?? undefined : undefined
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = header(name)
    if (value !== undefined && Number.isFinite(Number(value)) && Number(value) >= 0) return Number(value)
  }
  const value = header('retry-after')
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined
}

function isTransient (facts: ErrorFacts): boolean {
  if (CREDENTIAL_ERRORS.has(facts.name)) return false
  if (facts.status === undefined) return true // connection refused / reset, DNS
  return facts.status === 408 || (facts.status >= 500 && facts.status !== 501 && facts.status !== 505)
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { clearTimeout(timer); reject(signal.reason) }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Runs `call`, retrying throttling (after Retry-After) and transient failures (short backoff)
 * only while the wait still fits before the deadline; a Retry-After beyond it fails at once as
 * unavailable, so the service cache can serve its stale copy without waiting out the timeout.
 * Errors that are not retried are thrown as they are, for the caller to classify.
 */
export async function withRetries<T> (what: string, budget: CallBudget, call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    budget.signal.throwIfAborted()
    try {
      return await call()
    } catch (err) {
      if (budget.signal.aborted || isAbort(err)) throw keyVaultStoreError(err, what)
      const facts = errorFacts(err)
      const left = budget.deadline - Date.now()
      if (facts.status === 429) {
        const wait = retryAfterMs(err) ?? 250 * attempt
        if (attempt < budget.maxAttempts && wait < left) {
          await sleep(wait, budget.signal)
          continue
        }
        const why = attempt >= budget.maxAttempts ? `after ${attempt} attempt(s)` : `Retry-After ${Math.ceil(wait / 1000)} s is beyond the call's deadline (${Math.max(0, Math.floor(left))} ms left)`
        throw throttledError(`${what}: ${describeFacts(facts)}: throttled, ${why}`, wait)
      }
      if (isTransient(facts) && attempt < budget.maxAttempts) {
        const wait = Math.min(1000, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2)
        if (wait < left) {
          await sleep(wait, budget.signal)
          continue
        }
      }
      throw err
    }
  }
}

// ---- secrets --------------------------------------------------------------------------------

/** Attributes that decide whether a secret is served (enabled, nbf, exp). */
export interface Validity {
  enabled?: boolean
  notBefore?: Date
  expiresOn?: Date
}

/** Why a secret must not be served now (disabled, expired, not yet valid), or undefined. */
export function inactiveReason (attributes: Validity, now = Date.now()): string | undefined {
  if (attributes.enabled === false) return 'disabled'
  if (attributes.expiresOn !== undefined && attributes.expiresOn.getTime() <= now) return 'expired'
  if (attributes.notBefore !== undefined && attributes.notBefore.getTime() > now) return 'not yet valid'
  return undefined
}

export type GetResult =
  | { kind: 'value', secret: KeyVaultSecret }
  | { kind: 'absent', why: 'missing' | 'disabled' }

/**
 * GET of one secret's latest version. 404 SecretNotFound is missing; 403 SecretDisabled (what
 * Key Vault answers for a disabled secret) is absent, never a denial.
 */
export async function getSecret (client: SecretClient, name: string, budget: CallBudget, onDenied: (err: unknown) => void): Promise<GetResult> {
  const what = `GET secret ${name}`
  try {
    return { kind: 'value', secret: await withRetries(what, budget, async () => await client.getSecret(name, { abortSignal: budget.signal })) }
  } catch (err) {
    const facts = errorFacts(err)
    if (facts.status === 404 && facts.code === 'SecretNotFound') return { kind: 'absent', why: 'missing' }
    if (facts.status === 403 && facts.inner === 'SecretDisabled') return { kind: 'absent', why: 'disabled' }
    if (facts.status === 403 || facts.status === 401) onDenied(err)
    throw keyVaultStoreError(err, what)
  }
}

export type { KeyVaultSecret, SecretProperties }
