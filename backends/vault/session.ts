// Keeps one Vault token alive for the backend's lifetime: log in once (concurrent callers share
// that login), renew the token with renew-self at 2/3 of its TTL, log in again when renewal is
// refused or the token nears its max TTL, and replace a token Vault has stopped accepting.
// Requests never log in by themselves unless there is no live token.
import type { Logger } from 'pino'
import { MAX_TIMER_MS } from '../../src/core/limits.js'
import { isStoreError, storeError, storeErrorKind, type StoreError } from '../../src/store/errors.js'
import { withTimeout } from '../../src/store/call-deadline.js'
import { describeAuth, expiryOf, logIn, lookupSelf, type Auth, type AuthDescription, type Lease } from './auth.js'
import { answerError, type VaultHttp } from './http.js'

// Waits are capped at setTimeout's limit (MAX_TIMER_MS): renewing a very long token early is harmless.
const RENEW_AT = 2 / 3
const MIN_RETRY_MS = 1000
// After a failed login, reads fail fast for this long instead of each trying a login of its own.
const LOGIN_RETRY_AFTER_MS = 2000
// Vault answers 403 to a dead token and to a path the policy denies alike, and a policy without
// lookup-self (no default policy) cannot tell them apart: at most one login per this interval is
// triggered by 403s, so denied reads cannot turn into a login per request.
const REJECTION_LOGIN_EVERY_MS = 30_000
// Answers to renew-self that refuse the token itself; any other failure is retried (retryLater).
const REFUSED = new Set([400, 401, 403])

export interface VaultSessionOptions {
  http: VaultHttp
  auth: Auth
  logger: Logger
  /** Bound on one login or renewal; they are shared, so not bound to one caller's signal. */
  callTimeoutMs: number
}

/** Rejects when `signal` aborts; the shared work goes on for the other callers. */
async function untilAborted<T> (work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export class VaultSession {
  private lease: Lease | undefined
  private loggingIn: Promise<Lease> | undefined
  private timer: NodeJS.Timeout | undefined
  /** Aborts background logins and renewals on close(). */
  private readonly lifetime = new AbortController()
  private readonly options: VaultSessionOptions
  private warnedNoRelogin = false
  private failedLogin: { error: StoreError, at: number } | undefined
  private rejectionLoginAt: number | undefined

  constructor (options: VaultSessionOptions) {
    this.options = options
  }

  /** Who we are at Vault, for log lines: method, mount, role and policies, never the token. */
  describe (): AuthDescription {
    return this.lease?.description ?? describeAuth(this.options.auth)
  }

  /** A live token: the current one, or one shared login when there is none. */
  async token (signal: AbortSignal): Promise<string> {
    const lease = this.lease
    if (lease !== undefined && (lease.expiresAt === undefined || Date.now() < lease.expiresAt)) return lease.token
    return (await untilAborted(this.login(), signal)).token
  }

  /**
   * Vault answered 403 to `rejected`. If that token is dead (expired, revoked), returns a fresh
   * one (one shared login); if it is alive, the 403 is the policy speaking: undefined.
   */
  async replaceRejected (rejected: string, signal: AbortSignal): Promise<string | undefined> {
    if (this.lease !== undefined && this.lease.token !== rejected) return await this.token(signal) // already replaced
    if (this.loggingIn !== undefined) return (await untilAborted(this.loggingIn, signal)).token
    const expired = this.lease?.expiresAt !== undefined && Date.now() >= this.lease.expiresAt
    if (!expired && await lookupSelf(this.options.http, rejected, signal) !== undefined) return undefined
    // Another read may have started the login (or finished it) while this one looked the token up.
    const joining: Promise<Lease> | undefined = this.loggingIn as Promise<Lease> | undefined // (reassigned during the await)
    if (joining !== undefined) return (await untilAborted(joining, signal)).token
    if (this.lease?.token !== rejected && this.lease !== undefined) return await this.token(signal)
    // A literal token cannot be replaced: logging in again would only look it up once more.
    if (this.options.auth.method === 'token' && 'value' in this.options.auth.credential) return undefined
    if (this.rejectionLoginAt !== undefined && Date.now() - this.rejectionLoginAt < REJECTION_LOGIN_EVERY_MS) return undefined
    this.rejectionLoginAt = Date.now()
    this.lease = undefined
    return (await untilAborted(this.login(), signal)).token
  }

  async close (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    this.lifetime.abort()
  }

  /** Single flight: every caller during a login shares it. */
  private login (): Promise<Lease> {
    const failed = this.failedLogin
    if (this.loggingIn === undefined && failed !== undefined && Date.now() - failed.at < LOGIN_RETRY_AFTER_MS) {
      // A fresh error each time: the resolver labels errors per read.
      const detail = failed.error.message.replace(/^[^:]*: /, '')
      return Promise.reject(storeError(storeErrorKind(failed.error), `${detail} (login failed ${Date.now() - failed.at} ms ago; not retried yet)`))
    }
    this.loggingIn ??= this.freshLogin()
      .catch((err: unknown) => {
        const error = isStoreError(err) ? err : storeError('unavailable', `login: ${(err as Error).name}`)
        this.failedLogin = { error, at: Date.now() }
        throw error
      })
      .finally(() => { this.loggingIn = undefined })
    return this.loggingIn
  }

  /** `call` under the call timeout, cut short when the session closes. */
  private async withCallTimeout<T> (call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return await withTimeout(this.lifetime.signal, this.options.callTimeoutMs, call)
  }

  private async freshLogin (): Promise<Lease> {
    const lease = await this.withCallTimeout(async signal => await logIn(this.options.http, this.options.auth, signal))
    if (this.lifetime.signal.aborted) return lease // closed meanwhile: no timers
    this.lease = lease
    this.warnedNoRelogin = false
    this.failedLogin = undefined
    const ttlSeconds = lease.expiresAt === undefined ? 0 : Math.round((lease.expiresAt - Date.now()) / 1000)
    this.options.logger.info({ ...lease.description, ttlSeconds, renewable: lease.renewable }, 'vault login')
    this.schedule(lease, lease.renewable)
    return lease
  }

  /** Next step at 2/3 of the remaining TTL: renew-self, or (not renewable / near max TTL) a new login. */
  private schedule (lease: Lease, renew: boolean, delayMs?: number): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (lease.expiresAt === undefined || this.lifetime.signal.aborted) return
    const wait = delayMs ?? Math.max(0, (lease.expiresAt - Date.now()) * RENEW_AT)
    this.timer = setTimeout(() => { void (renew ? this.renew(lease) : this.relogin(lease)) }, Math.min(wait, MAX_TIMER_MS))
    this.timer.unref() // never keeps the process alive
  }

  private async renew (lease: Lease): Promise<void> {
    if (this.lease !== lease) return
    try {
      const answer = await this.withCallTimeout(async signal => await this.options.http.call('POST', ['auth', 'token', 'renew-self'], { token: lease.token, body: {}, signal, what: 'token renew-self' }))
      if (this.lease !== lease || this.lifetime.signal.aborted) return
      const ttl = Number(answer.body?.auth?.lease_duration ?? 0)
      if (REFUSED.has(answer.status) || (answer.status === 200 && ttl <= 0)) {
        // Refused (revoked, no longer renewable, policy without renew-self): log in again now.
        this.options.logger.warn({ ...lease.description, status: answer.status }, 'vault token renewal refused; logging in again')
        await this.relogin(lease)
        return
      }
      // 5xx (sealed, standby), 429 and the like say nothing about the token: try again later.
      if (answer.status !== 200) throw answerError(answer, 'token renew-self', [lease.token])
      const renewed: Lease = { ...lease, expiresAt: expiryOf(ttl), renewable: answer.body.auth.renewable === true }
      this.lease = renewed
      // Less than a full TTL back means the max TTL caps it: the next step is a new login.
      const nearMaxTtl = ttl < lease.fullTtlSeconds || !renewed.renewable
      this.options.logger.debug({ ...lease.description, ttlSeconds: ttl, nearMaxTtl }, 'vault token renewed')
      this.schedule(renewed, !nearMaxTtl)
    } catch (err) {
      this.retryLater(lease, true, err)
    }
  }

  /** A background login replacing `lease` before it dies; on failure the old token serves on. */
  private async relogin (lease: Lease): Promise<void> {
    if (this.lease !== lease || this.lifetime.signal.aborted) return
    if (this.options.auth.method === 'token' && 'value' in this.options.auth.credential) {
      if (!this.warnedNoRelogin) {
        this.options.logger.warn({ ...lease.description, expiresInSeconds: Math.round(((lease.expiresAt ?? Date.now()) - Date.now()) / 1000) },
          'vault token cannot be renewed any further and a literal token cannot be replaced: reads fail once it expires (use tokenFile or a login method)')
        this.warnedNoRelogin = true
      }
      return
    }
    try {
      await this.login()
    } catch (err) {
      this.retryLater(lease, false, err)
    }
  }

  /** Retries while the old token still lives; once it is dead the next read logs in itself. */
  private retryLater (lease: Lease, renew: boolean, err: unknown): void {
    if (this.lease !== lease || this.lifetime.signal.aborted) return
    const left = (lease.expiresAt ?? Infinity) - Date.now()
    const detail = isStoreError(err) ? err.message : (err as Error).name
    this.options.logger.warn({ ...lease.description, detail, secondsLeft: Math.round(left / 1000) }, `vault token ${renew ? 'renewal' : 're-login'} failed; will retry`)
    if (left > MIN_RETRY_MS) this.schedule(lease, renew, Math.max(MIN_RETRY_MS, left / 3))
  }
}
