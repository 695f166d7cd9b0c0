// Strategy "informer" (default): LIST once, then WATCH, keeping the managed Secrets in memory, so
// a read costs no API call and a change is served as soon as its watch event arrives.
// Fixed namespaces: one watcher per namespace. Any templated namespace: one cluster-wide watcher
// (one connection however many projects exist, no first-request delay for a new namespace).
// Reads are served from memory only while the state is known to be current (kubernetes-freshness.ts):
// up to staleLimitMs after the apiserver's last word (a LIST, or an event or bookmark on a live
// watch), whether or not an outage has been noticed. Meanwhile the watch is retried with backoff.
import type { Logger } from 'pino'
import { isStoreError, storeError, type StoreError } from '../../src/store/errors.js'
import { withTimeout } from '../../src/store/call-deadline.js'
import { httpStatusOf, kubeStoreError, type KubeApi } from './client.js'
import { Freshness } from './freshness.js'
import { matchesSelector } from './labels.js'
import { listAll } from './list.js'
import type { NamespaceCheck } from './namespaces.js'
import { mapSecret, type MappedSecret, type SecretSource, type SelectorQuery } from './secrets.js'

const LIST_PAGE_SIZE = 500
/** How long past its timeoutSeconds a watch may stay open before it counts as a dead connection. */
const WATCHDOG_GRACE_SECONDS = 30
/** A LIST (all pages) not done within this many connect timeouts is abandoned and retried. */
const LIST_TIMEOUT_CONNECT_TIMEOUTS = 2
/**
 * The apiserver ends each watch after watchSeconds (plus up to 20% jitter) and the watcher resumes
 * from its resourceVersion without a re-list; a watch not answered within connectTimeoutMs is retried.
 */
export const DEFAULT_WATCH_TIMING = { watchSeconds: 300, connectTimeoutMs: 30_000 }
/** A watch that ends sooner than this without an error is retried after a delay, never in a tight loop. */
const SHORTEST_HEALTHY_WATCH_MS = 1000
export const DEFAULT_RETRY_DELAY_MS = { initial: 500, max: 30_000 }

export interface WatcherOptions {
  api: KubeApi
  /** undefined watches every namespace. */
  namespace: string | undefined
  managedLabel: string
  logger: Logger
  /** How long after the apiserver's last word the state may still be served; Infinity for ever. */
  staleLimitMs: number
  retryDelayMs: { initial: number, max: number }
  watch: { watchSeconds: number, connectTimeoutMs: number }
  /**
   * Configured namespaces this watcher serves, proven to exist before each LIST and each watch
   * (namespaces.ts): a LIST or watch in a namespace that does not exist is empty, not an error.
   */
  mustExist: readonly string[]
  namespaceThere: NamespaceCheck
}

interface Waiter { resolve: () => void, reject: (err: unknown) => void }
/** How a watch ended: `gone` on 410 Gone (list again at once), else the error, if any. */
interface WatchOutcome { gone: boolean, error: unknown }

class SecretWatcher {
  #byNamespace = new Map<string, Map<string, MappedSecret>>()
  #resourceVersion = ''
  /** The next step is a LIST: 410 Gone, an ERROR event, or the state needs re-confirming. */
  #relistWanted = false
  #synced = false
  /** Set while the watch fails after a sync (the log lines of an outage). */
  #failingSince: number | undefined
  #lastError: StoreError | undefined
  /** The read that found the state too old has been logged (once per episode). */
  #expiryLogged = false
  readonly #freshness: Freshness
  readonly #waiters = new Set<Waiter>()
  #closed = false
  /** Ends the watch attempt in flight (refresh, close). */
  #stopWatch: (() => void) | undefined
  /** Aborts the LIST in flight and the retry delay on close. */
  readonly #lifetime = new AbortController()
  readonly #what: string

  constructor (private readonly options: WatcherOptions) {
    this.#what = options.namespace === undefined ? 'secrets in all namespaces' : `secrets in namespace ${options.namespace}`
    this.#freshness = new Freshness(options.staleLimitMs, idleMs => { this.#refresh(idleMs) })
    void this.#run()
  }

  async #run (): Promise<void> {
    let delay = this.options.retryDelayMs.initial
    while (!this.#closed) {
      let step = 'watch'
      try {
        step = 'namespace check for'
        await this.#namespacesThere()
        step = 'watch'
        if (this.#resourceVersion === '' || this.#relistWanted) {
          step = 'list'
          await this.#relist()
          step = 'watch'
        }
        const started = Date.now()
        const { gone, error } = await this.#watchOnce()
        if (gone) { this.#relistWanted = true; continue }
        if (error !== undefined && error !== null) throw error
        if (this.#relistWanted) continue // stopped by #refresh
        if (Date.now() - started < SHORTEST_HEALTHY_WATCH_MS) {
          await this.#sleep(delay)
          delay = Math.min(delay * 2, this.options.retryDelayMs.max)
        } else delay = this.options.retryDelayMs.initial
      } catch (err) {
        if (this.#closed) return
        // 410 Gone: the resourceVersion is too old to resume from; list again at once.
        if (httpStatusOf(err) === 410) { this.#relistWanted = true; continue }
        this.#failed(isStoreError(err) ? err : kubeStoreError(err, `${step} ${this.#what}`))
        await this.#sleep(delay * (0.8 + Math.random() * 0.4))
        delay = Math.min(delay * 2, this.options.retryDelayMs.max)
      }
    }
  }

  /** Every configured namespace this watcher serves exists (a failure is handled like a failed LIST). */
  async #namespacesThere (): Promise<void> {
    if (this.options.mustExist.length === 0) return
    await withTimeout(this.#lifetime.signal, this.options.watch.connectTimeoutMs, async signal =>
      await Promise.all(this.options.mustExist.map(async namespace => { await this.options.namespaceThere(namespace, signal) })))
  }

  async #relist (): Promise<void> {
    const started = Date.now() // the LIST shows the state of a moment after this one
    const timeoutMs = this.options.watch.connectTimeoutMs * LIST_TIMEOUT_CONNECT_TIMEOUTS
    const listed = await withTimeout(this.#lifetime.signal, timeoutMs, async signal => {
      try {
        return await listAll(this.options.api, this.options.namespace, this.options.managedLabel, signal, LIST_PAGE_SIZE)
      } catch (err) {
        if (signal.aborted && !this.#closed) throw storeError('unavailable', `list ${this.#what}: no answer within ${timeoutMs / 1000} s`)
        throw err
      }
    })
    const fresh = new Map<string, Map<string, MappedSecret>>()
    for (const item of listed.items) this.#put(fresh, mapSecret(item))
    this.#byNamespace = fresh
    this.#resourceVersion = listed.resourceVersion
    this.#relistWanted = false
    if (!this.#synced) this.options.logger.info({ secrets: listed.items.length, ms: Date.now() - started }, `kubernetes informer synced ${this.#what}`)
    this.#synced = true
    this.#proven(started)
    this.#healthy()
  }

  /** Resolves when the stream ends: by the server, on an error, or stopped (refresh, close). */
  async #watchOnce (): Promise<WatchOutcome> {
    return await new Promise<WatchOutcome>(resolve => {
      const attempt = { ended: false, stopped: false, gone: false, error: undefined as unknown, controller: undefined as AbortController | undefined }
      const finish = (err: unknown): void => {
        if (attempt.ended) return
        attempt.ended = true
        if (this.#stopWatch === stop) this.#stopWatch = undefined
        resolve({ gone: attempt.gone, error: attempt.stopped ? undefined : attempt.error ?? err })
      }
      const stop = (): void => { attempt.stopped = true; attempt.controller?.abort(); finish(undefined) }
      this.#stopWatch = stop
      const onEvent = (type: string, object: any): void => {
        if (attempt.ended || attempt.gone || attempt.error !== undefined) return
        if (type !== 'ERROR') { this.#event(type, object); return }
        // A Status. 410 Gone (resourceVersion too old): list again at once. Anything else is a
        // failure, retried with backoff from a fresh LIST. The server ends the stream after it.
        const code: unknown = object?.code
        if (code === 410) attempt.gone = true
        else {
          attempt.error = Object.assign(new Error(`watch ERROR event (${String(object?.reason ?? 'no reason')})`), { statusCode: typeof code === 'number' ? code : undefined, body: object })
          this.#relistWanted = true
        }
        attempt.controller?.abort()
      }
      const { watchSeconds, connectTimeoutMs } = this.options.watch
      const timeoutSeconds = watchSeconds + Math.floor(Math.random() * watchSeconds / 5)
      const limits = { connectMs: connectTimeoutMs, lifetimeMs: (timeoutSeconds + WATCHDOG_GRACE_SECONDS) * 1000 }
      const params = { labelSelector: this.options.managedLabel, resourceVersion: this.#resourceVersion, timeoutSeconds }
      // The client asks for bookmarks (allowWatchBookmarks): they prove a quiet watch is alive.
      this.options.api.watch(this.options.namespace, params, limits, onEvent, finish).then(controller => {
        attempt.controller = controller
        if (attempt.ended || this.#closed) controller.abort()
        else this.#healthy() // open again; the server replays what changed since resourceVersion
      }, finish)
    })
  }

  #event (type: string, object: any): void {
    if (type === 'ADDED' || type === 'MODIFIED') this.#put(this.#byNamespace, mapSecret(object))
    else if (type === 'DELETED') {
      const { namespace = '', name = '' } = object?.metadata ?? {}
      const inNamespace = this.#byNamespace.get(namespace)
      inNamespace?.delete(name)
      if (inNamespace?.size === 0) this.#byNamespace.delete(namespace)
    } else if (type !== 'BOOKMARK') return
    const version = object?.metadata?.resourceVersion
    if (typeof version === 'string' && version !== '') this.#resourceVersion = version
    this.#proven(Date.now())
  }

  #proven (at: number): void {
    this.#freshness.proven(at)
    this.#expiryLogged = false
  }

  /** Nothing from the apiserver for half the limit: re-confirm the state with a LIST. */
  #refresh (idleMs: number): void {
    if (this.#closed) return
    this.options.logger.debug({ idleMs }, `no watch event or bookmark for ${this.#what} lately: listing again to confirm the state is current`)
    this.#relistWanted = true
    this.#stopWatch?.()
  }

  #put (byNamespace: Map<string, Map<string, MappedSecret>>, secret: MappedSecret): void {
    let inNamespace = byNamespace.get(secret.namespace)
    if (inNamespace === undefined) byNamespace.set(secret.namespace, (inNamespace = new Map()))
    inNamespace.set(secret.name, secret)
  }

  #failed (err: StoreError): void {
    const repeated = this.#lastError?.message === err.message
    this.#lastError = err
    const { logger } = this.options
    if (this.#synced) {
      if (this.#failingSince === undefined) {
        this.#failingSince = Date.now()
        logger.warn({ detail: err.message, sinceLastContactMs: this.#freshness.ageMs(), staleLimitMs: this.options.staleLimitMs }, `kubernetes watch of ${this.#what} failed: serving the last synced state (stale) while retrying`)
      } else if (!repeated) {
        logger.warn({ detail: err.message, staleMs: Date.now() - this.#failingSince, sinceLastContactMs: this.#freshness.ageMs() }, `kubernetes watch of ${this.#what} still failing (stale)`)
      }
      return
    }
    if (!repeated) logger.warn({ detail: err.message }, `kubernetes informer cannot sync ${this.#what}; retrying`)
    for (const waiter of [...this.#waiters]) waiter.reject(err)
  }

  #healthy (): void {
    this.#lastError = undefined
    if (this.#failingSince !== undefined) {
      this.options.logger.info({ staleMs: Date.now() - this.#failingSince }, `kubernetes watch of ${this.#what} re-established: serving live Secrets again`)
      this.#failingSince = undefined
    }
    for (const waiter of [...this.#waiters]) waiter.resolve()
  }

  async #sleep (ms: number): Promise<void> {
    const { signal } = this.#lifetime
    await new Promise<void>(resolve => {
      const wake = (): void => { clearTimeout(timer); signal.removeEventListener('abort', wake); resolve() }
      const timer = setTimeout(wake, ms)
      timer.unref()
      signal.addEventListener('abort', wake, { once: true })
    })
  }

  /** Waits for the first sync; fails at once with the last error while the informer cannot sync. */
  async #usable (signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    if (this.#closed) throw storeError('unavailable', `${this.#what}: backend closed`)
    if (!this.#synced) {
      if (this.#lastError !== undefined) throw this.#lastError
      await new Promise<void>((resolve, reject) => {
        const finish = (): void => { this.#waiters.delete(waiter); signal.removeEventListener('abort', onAbort) }
        const waiter: Waiter = { resolve: () => { finish(); resolve() }, reject: err => { finish(); reject(err) } }
        const onAbort = (): void => { waiter.reject(storeError('unavailable', `${this.#what}: not synced yet`)) }
        this.#waiters.add(waiter)
        signal.addEventListener('abort', onAbort, { once: true })
      })
    }
    if (this.#freshness.expired()) throw this.#expired()
  }

  /** The error for a read of a state older than the limit: the watch's last error, if it has one. */
  #expired (): StoreError {
    const ageSeconds = Math.round((this.#freshness.ageMs() ?? 0) / 1000)
    const limitSeconds = this.options.staleLimitMs / 1000
    if (!this.#expiryLogged) {
      this.#expiryLogged = true
      this.options.logger.warn({ sinceLastContactMs: this.#freshness.ageMs(), staleLimitMs: this.options.staleLimitMs, detail: this.#lastError?.message },
        `kubernetes informer: no word from the apiserver about ${this.#what} for ${ageSeconds} s (staleLimitSeconds ${limitSeconds}): reads fail until it answers`)
    }
    return this.#lastError ?? storeError('unavailable', `${this.#what}: no word from the apiserver for ${ageSeconds} s, longer than staleLimitSeconds (${limitSeconds})`)
  }

  async select (namespace: string, selector: SelectorQuery, signal: AbortSignal): Promise<MappedSecret[]> {
    await this.#usable(signal)
    const inNamespace = this.#byNamespace.get(namespace)
    return inNamespace === undefined ? [] : [...inNamespace.values()].filter(s => matchesSelector(selector.requirements, s.labels))
  }

  async ready (signal: AbortSignal): Promise<void> {
    await this.#usable(signal)
  }

  close (): void {
    this.#closed = true
    this.#freshness.close()
    this.#lifetime.abort()
    this.#stopWatch?.()
    for (const waiter of [...this.#waiters]) waiter.reject(storeError('unavailable', `${this.#what}: backend closed`))
  }
}

export function informerStrategy (options: Omit<WatcherOptions, 'namespace' | 'mustExist'> & { fixedNamespaces: ReadonlySet<string>, clusterWide: boolean }): SecretSource {
  const { fixedNamespaces, clusterWide, ...common } = options
  const watchers = new Map<string, SecretWatcher>()
  const ALL = '*'
  // The cluster-wide watcher also serves the configured namespaces (e.g. a fixed global one): they must exist.
  if (clusterWide) watchers.set(ALL, new SecretWatcher({ ...common, namespace: undefined, mustExist: [...fixedNamespaces], logger: common.logger.child({ namespace: ALL }) }))
  else for (const namespace of fixedNamespaces) watchers.set(namespace, new SecretWatcher({ ...common, namespace, mustExist: [namespace], logger: common.logger.child({ namespace }) }))

  return {
    async select (namespace, selector, signal) {
      const watcher = watchers.get(clusterWide ? ALL : namespace)
      // Locators only name watched namespaces; anything else was not produced by locate().
      if (watcher === undefined) throw storeError('malformed', `namespace ${namespace} is not watched by this backend`)
      return await watcher.select(namespace, selector, signal)
    },
    async ready (signal) {
      await Promise.all([...watchers.values()].map(async w => { await w.ready(signal) }))
    },
    async close () {
      for (const watcher of watchers.values()) watcher.close()
    }
  }
}
