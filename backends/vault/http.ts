// The few Vault / OpenBao HTTP endpoints nf-secret-source needs (KV reads, logins, lookup-self,
// renew-self, a mount lookup), over undici with our own connection pool: a custom CA and a
// client certificate go into its connect options. Failures become typed store errors whose
// detail names the call and the HTTP status, never a token or a secret value.
import { Agent, fetch } from 'undici'
import { storeError, throttledError, type StoreError } from '../../src/store/errors.js'

/** PEM contents, already read from the configured files. */
export interface VaultTls {
  ca?: string
  cert?: string
  key?: string
}

/** One finished (or failed) HTTP call, for the test seam that counts store calls. */
export interface VaultCall {
  method: 'GET' | 'POST'
  path: string
  /** undefined when no HTTP answer came (network error, abort). */
  status?: number
}

export interface VaultHttpOptions {
  address: string
  namespace?: string
  tls?: VaultTls
  observe?: (call: VaultCall) => void
}

export interface VaultAnswer {
  status: number
  /** Parsed JSON body; undefined when the body was empty. */
  body: any
  /** Vault's `errors` list, for the log (see errorMessages()). */
  errors: string[]
}

export interface CallOptions {
  token?: string
  body?: unknown
  signal: AbortSignal
  /** Names the call in error details, e.g. "read secret/data/northflank/_global". */
  what: string
}

export interface VaultHttp {
  call: (method: VaultCall['method'], path: readonly string[], options: CallOptions) => Promise<VaultAnswer>
  close: () => Promise<void>
}

/** Path segments -> "a/b/c", each segment escaped: a locator can never add or remove a segment. */
export function apiPath (segments: readonly string[]): string {
  return segments.map(encodeURIComponent).join('/')
}

export function createVaultHttp (options: VaultHttpOptions): VaultHttp {
  const base = `${options.address.replace(/\/+$/, '')}/v1/`
  // Our own pool (not the global one) so close() can end its keep-alive sockets, and so the
  // CA / client certificate apply to Vault only.
  const agent = new Agent({ connect: { ...options.tls } })

  async function call (method: VaultCall['method'], path: readonly string[], { token, body, signal, what }: CallOptions): Promise<VaultAnswer> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token !== undefined) headers['x-vault-token'] = token
    if (options.namespace !== undefined) headers['x-vault-namespace'] = options.namespace
    if (body !== undefined) headers['content-type'] = 'application/json'
    const observed: VaultCall = { method, path: apiPath(path) }
    let text: string
    let status: number
    try {
      const response = await fetch(base + observed.path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        dispatcher: agent,
        // Never: a redirect would carry the token to another address. Vault standbys forward
        // requests to the active node themselves; a 3xx becomes an unavailable store below.
        redirect: 'manual'
      })
      status = response.status
      observed.status = status
      text = await response.text()
    } catch (err) {
      throw storeError('unavailable', `${what}: ${networkProblem(err, signal)}`)
    } finally {
      options.observe?.(observed)
    }
    let parsed: any
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
      } catch {
        // Not Vault: a proxy or load balancer page. Its text is not quoted (it may echo headers).
        throw storeError('unavailable', `${what}: HTTP ${status} with a body that is not JSON (a proxy in between?)`)
      }
    }
    const errors = Array.isArray(parsed?.errors) ? parsed.errors.filter((e: unknown): e is string => typeof e === 'string') : []
    return { status, body: parsed, errors }
  }

  return {
    call,
    async close () {
      if (!agent.closed && !agent.destroyed) await agent.close() // close() may be called twice
    }
  }
}

/** Only the error's name and system code: messages of network errors can quote URLs and headers. */
function networkProblem (err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return `aborted (${(signal.reason as Error | undefined)?.name ?? 'AbortError'})`
  const cause = (err as { cause?: { code?: unknown, name?: string } }).cause
  const code = typeof cause?.code === 'string' ? cause.code : cause?.name
  return `${(err as Error).name ?? 'Error'}${code === undefined ? '' : ` ${code}`}`
}

/**
 * Vault's error texts ("permission denied", "invalid role or secret ID") are useful in the log;
 * they are cut short and stripped of anything we sent as a credential, to be safe.
 */
export function errorMessages (answer: VaultAnswer, credentials: ReadonlyArray<string | undefined> = []): string {
  let text = answer.errors.join('; ').replace(/\s+/g, ' ').replace(/^1 error occurred: \* /, '').trim()
  for (const secret of credentials) {
    if (secret !== undefined && secret.length >= 4) text = text.split(secret).join('[redacted]')
  }
  return text === '' ? '' : `: ${text.slice(0, 160)}`
}

/** A non-2xx answer -> the store error for it. 401/403 are Denied; everything else is Unavailable. */
export function answerError (answer: VaultAnswer, what: string, credentials: ReadonlyArray<string | undefined> = []): StoreError {
  const detail = `${what}: HTTP ${answer.status}${errorMessages(answer, credentials)}`
  if (answer.status === 401 || answer.status === 403) return storeError('denied', detail)
  if (answer.status >= 300 && answer.status < 400) return storeError('unavailable', `${what}: HTTP ${answer.status} redirect not followed (the token is only sent to the configured address)`)
  if (answer.status === 429) return throttledError(`${detail} (rate limited)`)
  if (answer.status === 503 && answer.errors.some(e => /sealed/i.test(e))) return storeError('unavailable', `${detail} (sealed)`)
  return storeError('unavailable', detail)
}
