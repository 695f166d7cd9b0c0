// The kubernetes backend's only contact with the apiserver, through @kubernetes/client-node:
// kubeconfig loading (file, KUBECONFIG, ~/.kube/config or the pod's service account), paginated
// LISTs of Secrets that honour an AbortSignal, watch streams, and API errors -> store errors.
import type { Agent } from 'node:https'
import { resolve } from 'node:path'
import {
  AuthorizationV1Api, CoreV1Api, KubeConfig, Observable, VersionApi, Watch,
  type ConfigurationOptions, type RequestContext, type ResponseContext, type V1Secret
} from '@kubernetes/client-node'
import { BackendConfigError, storeError, throttledError, type StoreError } from '../../src/store/errors.js'

/** Test seam, never reachable from config. */
export interface KubeSeam {
  /** Sees every request made to the apiserver (each LIST page, each watch start). */
  onRequest?: (request: { verb: 'list' | 'watch' | 'get' | 'create', path: string }) => void
  /** Delays between watch retries (tests shorten them). */
  retryDelayMs?: { initial: number, max: number }
  /** Watch length and connect timeout (tests shorten them). */
  watchTiming?: { watchSeconds: number, connectTimeoutMs: number }
}

export interface KubeConfigOptions {
  kubeconfig?: string
  context?: string
}

/** Loads credentials once at start-up; a missing or unusable kubeconfig fails start-up, naming why. */
export function loadKubeConfig (options: KubeConfigOptions, baseDir: string): KubeConfig {
  const kc = new KubeConfig()
  const where = options.kubeconfig === undefined ? 'the default kubeconfig' : `kubeconfig ${options.kubeconfig}`
  try {
    if (options.kubeconfig !== undefined) kc.loadFromFile(resolve(baseDir, options.kubeconfig))
    else kc.loadFromDefault()
  } catch (err) {
    throw new BackendConfigError('kubeconfig', `cannot load ${where} (${(err as NodeJS.ErrnoException).code ?? (err as Error).name})`)
  }
  if (options.context !== undefined) {
    if (kc.getContextObject(options.context) === null) throw new BackendConfigError('context', `"${options.context}" is not in ${where}`)
    kc.setCurrentContext(options.context)
  }
  const cluster = kc.getCurrentCluster()
  // loadFromDefault() falls back to an unauthenticated http://localhost:8080 when it finds nothing.
  if (cluster === null || (options.kubeconfig === undefined && kc.getCurrentContext() === 'loaded-context' && cluster.server === 'http://localhost:8080')) {
    throw new BackendConfigError('kubeconfig', 'no cluster found: set kubeconfig, KUBECONFIG, or run in a pod with a service account token')
  }
  return kc
}

/** Who the apiserver says we are, from a 403's Status message ("User \"system:serviceaccount:ns:sa\" cannot ..."). */
function forbiddenUser (body: unknown): string | undefined {
  let status = body
  if (typeof body === 'string') {
    try { status = JSON.parse(body) } catch { return undefined }
  }
  const message = (status as { message?: unknown } | undefined)?.message
  const user = typeof message === 'string' ? /User "([^"]{1,253})"/.exec(message)?.[1] : undefined
  return user
}

export function httpStatusOf (err: unknown): number | undefined {
  const { code, statusCode } = (err ?? {}) as { code?: unknown, statusCode?: unknown }
  if (typeof code === 'number') return code // ApiException (LIST)
  if (typeof statusCode === 'number') return statusCode // Watch
  return undefined
}

/**
 * An API or network error -> a store error. `what` names the call and namespace. Only the status,
 * the error's name and code, and on 403 the user the apiserver names are kept: messages quote URLs,
 * and a Status body could echo request details.
 */
export function kubeStoreError (err: unknown, what: string): StoreError {
  const status = httpStatusOf(err)
  if (status === 401) return storeError('denied', `${what}: HTTP 401 (the credentials are not accepted)`)
  if (status === 403) {
    const user = forbiddenUser((err as { body?: unknown }).body)
    return storeError('denied', `${what}: HTTP 403 (forbidden${user === undefined ? '' : ` for ${user}`}; grant list and watch on secrets, see deploy/rbac)`)
  }
  if (status === 429) return throttledError(`${what}: HTTP 429 (the apiserver throttled the client)`)
  if (status !== undefined) return storeError('unavailable', `${what}: HTTP ${status}`)
  const { name, code } = (err ?? {}) as { name?: unknown, code?: unknown }
  const why = [typeof name === 'string' ? name : 'Error', typeof code === 'string' ? code : undefined].filter(Boolean).join(' ')
  return storeError('unavailable', `${what}: ${why}`)
}

export interface SecretPage {
  items: V1Secret[]
  resourceVersion: string
  continueToken?: string
}

export interface ListRequest {
  /** undefined lists every namespace (the cluster-wide informer). */
  namespace?: string
  labelSelector: string
  limit: number
  continueToken?: string
  signal: AbortSignal
}

/** Per-call options that attach `signal` to the HTTP request, so an abort cancels the call itself. */
function callOptions (signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [{
      pre: (context: RequestContext) => { context.setSignal(signal); return new Observable(Promise.resolve(context)) },
      post: (response: ResponseContext) => new Observable(Promise.resolve(response))
    }],
    middlewareMergeStrategy: 'append'
  }
}

/** What GET /api/v1/namespaces/<name> says: there, not there, or not ours to see (403). */
export type NamespaceStatus = 'exists' | 'missing' | 'forbidden'

export class KubeApi {
  readonly #core: CoreV1Api
  readonly #version: VersionApi
  readonly #authorization: AuthorizationV1Api

  constructor (readonly config: KubeConfig, private readonly seam: KubeSeam = {}) {
    this.#core = config.makeApiClient(CoreV1Api)
    this.#version = config.makeApiClient(VersionApi)
    this.#authorization = config.makeApiClient(AuthorizationV1Api)
  }

  /** GET one namespace (needs get on namespaces, cluster-scoped); other failures are thrown. */
  async namespaceStatus (name: string, signal: AbortSignal): Promise<NamespaceStatus> {
    signal.throwIfAborted()
    this.seam.onRequest?.({ verb: 'get', path: `/api/v1/namespaces/${name}` })
    try {
      await this.#core.readNamespace({ name }, callOptions(signal))
      return 'exists'
    } catch (err) {
      const status = httpStatusOf(err)
      if (status === 404) return 'missing'
      if (status === 403) return 'forbidden'
      throw err
    }
  }

  /** May these credentials list Secrets in every namespace? (a SelfSubjectAccessReview: any authenticated user may ask) */
  async mayListSecretsEverywhere (signal: AbortSignal): Promise<boolean> {
    signal.throwIfAborted()
    this.seam.onRequest?.({ verb: 'create', path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' })
    const review = await this.#authorization.createSelfSubjectAccessReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'list', resource: 'secrets' } } }
    }, callOptions(signal))
    return review.status?.allowed === true
  }

  /** One LIST page. The signal is attached to the request itself, so an abort cancels the HTTP call. */
  async listPage (request: ListRequest): Promise<SecretPage> {
    const { namespace, labelSelector, limit, continueToken, signal } = request
    signal.throwIfAborted()
    const path = namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${namespace}/secrets`
    this.seam.onRequest?.({ verb: 'list', path })
    const options = callOptions(signal)
    const page = namespace === undefined
      ? await this.#core.listSecretForAllNamespaces({ labelSelector, limit, _continue: continueToken }, options)
      : await this.#core.listNamespacedSecret({ namespace, labelSelector, limit, _continue: continueToken }, options)
    const next = page.metadata?._continue
    return { items: page.items, resourceVersion: page.metadata?.resourceVersion ?? '', ...(next === undefined || next === '' ? {} : { continueToken: next }) }
  }

  /** Reachability and TLS trust only (any authenticated user may read /version). */
  async version (signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    this.seam.onRequest?.({ verb: 'get', path: '/version' })
    await this.#version.getCode(callOptions(signal))
  }

  /**
   * Starts a watch from resourceVersion; resolves once the stream is open (or failed: `done` has
   * then already been called with the error). `done(null)` means the server ended the stream.
   * client-node's Watch has no timeout of its own, so a connection that hangs before the answer,
   * or stays open past `lifetimeMs` (the server promised to end it sooner), has its sockets
   * destroyed: `done` then reports an error and the caller notices the outage.
   */
  async watch (
    namespace: string | undefined,
    params: { labelSelector: string, resourceVersion: string, timeoutSeconds: number },
    limits: { connectMs: number, lifetimeMs: number },
    onEvent: (type: string, object: any) => void,
    done: (err: unknown) => void
  ): Promise<AbortController> {
    const path = namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${namespace}/secrets`
    this.seam.onRequest?.({ verb: 'watch', path })
    let agent: Agent | undefined
    // The same credentials, but the per-request agent is kept so that its sockets can be destroyed.
    const config = Object.create(this.config) as KubeConfig
    config.applyToFetchOptions = async opts => {
      const init = await this.config.applyToFetchOptions(opts)
      agent = init.agent as Agent | undefined
      return init
    }
    const kill = (): void => { agent?.destroy() }
    const connectTimer = setTimeout(kill, limits.connectMs)
    const lifetimeTimer = setTimeout(kill, limits.lifetimeMs)
    connectTimer.unref()
    lifetimeTimer.unref()
    const finish = (err: unknown): void => { clearTimeout(connectTimer); clearTimeout(lifetimeTimer); done(err) }
    const controller = await new Watch(config).watch(path, { ...params, allowWatchBookmarks: true }, onEvent, finish)
    clearTimeout(connectTimer)
    return controller
  }
}
