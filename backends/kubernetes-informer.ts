// Strategy "informer" (default): LIST once, then WATCH, keeping the managed Secrets in memory, so
// a read costs no API call and a change is served as soon as its watch event arrives.
// Fixed namespaces: one watcher per namespace. Any templated namespace: one cluster-wide watcher
// (one connection however many projects exist, no first-request delay for a new namespace).
// When the apiserver cannot be reached after the first sync, reads are served from the last
// synced state (logged as stale) for up to staleLimitMs while the watch is retried with backoff.
import type { Logger } from 'pino'
import { storeError, type StoreError } from '../src/errors.js'
import { httpStatusOf, kubeStoreError, type KubeApi } from './kubernetes-client.js'
import { matchesSelector } from './kubernetes-labels.js'
import { listAll } from './kubernetes-list.js'
import { mapSecret, type MappedSecret, type SecretSource, type SelectorQuery } from './kubernetes-secrets.js'

const LIST_PAGE_SIZE = 500
/** How long past its timeoutSeconds a watch may stay open before it counts as a dead connection. */
const WATCHDOG_GRACE_SECONDS = 30
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
  /** How long the last synced state may be served while the watch fails; Infinity for ever. */
  staleLimitMs: number
  retryDelayMs: { initial: number, max: number }
  watch: { watchSeconds: number, connectTimeoutMs: number }
}

interface Waiter {
  resolve: () => void
  reject: (err: unknown) => void
}

class SecretWatcher {
  #byNamespace = new Map<string, Map<string, MappedSecret>>()
  #resourceVersion = ''
  /** The watch said 410 Gone: its resourceVersion is too old, the next step is a re-list. */
  #gone = false
  #synced = false
  /** Set while the watch fails after a sync: reads are then served from a stale state. */
  #failingSince: number | undefined
  #lastError: StoreError | undefined
  readonly #waiters = new Set<Waiter>()
  #closed = false
  #stream: AbortController | undefined
  /** Aborts the LIST in flight and the retry delay on close. */
  readonly #lifetime = new AbortController()
  readonly #what: string

  constructor (private readonly options: WatcherOptions) {
    this.#what = options.namespace === undefined ? 'secrets in all namespaces' : `secrets in namespace ${options.namespace}`
    void this.#run()
  }

  async #run (): Promise<void> {
    let delay = this.options.retryDelayMs.initial
    while (!this.#closed) {
      let step = 'watch'
      try {
        if (this.#resourceVersion === '') {
          step = 'list'
          await this.#relist()
          step = 'watch'
        }
        const started = Date.now()
        const ended = await this.#watchOnce()
        if (this.#gone) {
          this.#gone = false
          this.#resourceVersion = ''
          continue
        }
        if (ended !== null && ended !== undefined) throw ended
        if (Date.now() - started < SHORTEST_HEALTHY_WATCH_MS) await this.#sleep(delay)
        else delay = this.options.retryDelayMs.initial
      } catch (err) {
        if (this.#closed) return
        // 410 Gone: the resourceVersion is too old to resume from; list again at once.
        if (httpStatusOf(err) === 410) { this.#resourceVersion = ''; continue }
        this.#failed(kubeStoreError(err, `${step} ${this.#what}`))
        await this.#sleep(delay * (0.8 + Math.random() * 0.4))
        delay = Math.min(delay * 2, this.options.retryDelayMs.max)
      }
    }
  }

  async #relist (): Promise<void> {
    const started = Date.now()
    const { items, resourceVersion } = await listAll(this.options.api, this.options.namespace, this.options.managedLabel, this.#lifetime.signal, LIST_PAGE_SIZE)
    const fresh = new Map<string, Map<string, MappedSecret>>()
    for (const item of items) this.#put(fresh, mapSecret(item))
    this.#byNamespace = fresh
    this.#resourceVersion = resourceVersion
    if (!this.#synced) this.options.logger.info({ secrets: items.length, ms: Date.now() - started }, `kubernetes informer synced ${this.#what}`)
    this.#synced = true
    this.#healthy()
  }

  /** Resolves when the stream ends: null when the server ended it, the error otherwise. */
  async #watchOnce (): Promise<unknown> {
    return await new Promise<unknown>(resolve => {
      let ended = false
      const { watchSeconds, connectTimeoutMs } = this.options.watch
      const timeoutSeconds = watchSeconds + Math.floor(Math.random() * watchSeconds / 5)
      const limits = { connectMs: connectTimeoutMs, lifetimeMs: (timeoutSeconds + WATCHDOG_GRACE_SECONDS) * 1000 }
      const done = (err: unknown): void => { ended = true; this.#stream = undefined; resolve(err) }
      const params = { labelSelector: this.options.managedLabel, resourceVersion: this.#resourceVersion, timeoutSeconds }
      this.options.api.watch(this.options.namespace, params, limits, (type, object) => { this.#event(type, object) }, done).then(controller => {
        if (ended) return
        this.#stream = controller
        if (this.#closed) controller.abort()
        else this.#healthy() // open again: the server replays what changed since resourceVersion
      }, done)
    })
  }

  #event (type: string, object: any): void {
    if (type === 'ERROR') {
      // A Status, usually 410 Gone after a long disconnect: end the stream and list again.
      if (object?.code === 410) {
        this.#gone = true
        this.#stream?.abort()
      }
      return
    }
    if (this.#gone) return
    if (type === 'ADDED' || type === 'MODIFIED') this.#put(this.#byNamespace, mapSecret(object))
    if (type === 'DELETED') {
      const { namespace = '', name = '' } = object?.metadata ?? {}
      const inNamespace = this.#byNamespace.get(namespace)
      inNamespace?.delete(name)
      if (inNamespace?.size === 0) this.#byNamespace.delete(namespace)
    }
    const version = object?.metadata?.resourceVersion
    if (typeof version === 'string' && version !== '') this.#resourceVersion = version
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
        logger.warn({ detail: err.message }, `kubernetes watch of ${this.#what} failed: serving the last synced state (stale) while retrying`)
      } else if (!repeated) {
        logger.warn({ detail: err.message, staleMs: Date.now() - this.#failingSince }, `kubernetes watch of ${this.#what} still failing (stale)`)
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
    if (this.#failingSince !== undefined && Date.now() - this.#failingSince > this.options.staleLimitMs && this.#lastError !== undefined) {
      throw this.#lastError // stale for longer than allowed: the reason the watch fails
    }
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
    this.#lifetime.abort()
    this.#stream?.abort()
    for (const waiter of [...this.#waiters]) waiter.reject(storeError('unavailable', `${this.#what}: backend closed`))
  }
}

export function informerStrategy (options: Omit<WatcherOptions, 'namespace'> & { fixedNamespaces: ReadonlySet<string>, clusterWide: boolean }): SecretSource {
  const { fixedNamespaces, clusterWide, ...common } = options
  const watchers = new Map<string, SecretWatcher>()
  const ALL = '*'
  if (clusterWide) watchers.set(ALL, new SecretWatcher({ ...common, namespace: undefined, logger: common.logger.child({ namespace: ALL }) }))
  else for (const namespace of fixedNamespaces) watchers.set(namespace, new SecretWatcher({ ...common, namespace, logger: common.logger.child({ namespace }) }))

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
