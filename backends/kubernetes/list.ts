// Strategy "list": every read is one LIST of Secrets per layer (namespace + label selector + the
// managed label), all pages. For clusters where nf-secret-source may not watch; the service's
// cache (cache.ttl) is what keeps the API calls down.
import type { V1Secret } from '@kubernetes/client-node'
import { isStoreError } from '../../src/store/errors.js'
import { kubeStoreError, type KubeApi } from './client.js'
import type { NamespaceCheck } from './namespaces.js'
import { mapSecret, type SecretSource } from './secrets.js'

/** Secrets per page: a layer rarely holds more than a few, so one page is the normal case. */
export const LIST_PAGE_SIZE = 100
/** A continue loop that never ends is an outage, not an endless read. */
const MAX_PAGES = 1000

/** Every page of one LIST (limit/continue): the apiserver serves them from one snapshot. */
export async function listAll (api: KubeApi, namespace: string | undefined, labelSelector: string, signal: AbortSignal, limit = LIST_PAGE_SIZE): Promise<{ items: V1Secret[], resourceVersion: string }> {
  const items: V1Secret[] = []
  let continueToken: string | undefined
  let resourceVersion = ''
  let pages = 0
  do {
    if (++pages > MAX_PAGES) throw new Error(`more than ${MAX_PAGES} pages`)
    const page = await api.listPage({ namespace, labelSelector, limit, continueToken, signal })
    items.push(...page.items)
    resourceVersion = page.resourceVersion
    continueToken = page.continueToken
  } while (continueToken !== undefined)
  return { items, resourceVersion }
}

export function listStrategy (api: KubeApi, managedLabel: string, fixedNamespaces: ReadonlySet<string>, namespaceThere: NamespaceCheck): SecretSource {
  /**
   * `call` (a LIST in `namespace`), then for a configured namespace the proof that it exists
   * (one GET per NAMESPACE_PROOF_MS, asked only after a LIST succeeded: an outage costs no extra calls).
   */
  async function inNamespace<T> (namespace: string, what: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
    let result: T
    try {
      result = await call()
    } catch (err) {
      throw isStoreError(err) ? err : kubeStoreError(err, what)
    }
    if (fixedNamespaces.has(namespace)) await namespaceThere(namespace, signal)
    return result
  }
  return {
    async select (namespace, selector, signal) {
      // The managed label is part of every read, so both strategies select the same Secrets.
      const { items } = await inNamespace(namespace, `list secrets in namespace ${namespace}`, signal, async () => await listAll(api, namespace, `${selector.text},${managedLabel}`, signal))
      return items.map(mapSecret)
    },
    // The read permission itself and the namespace, in every namespace known up front; with only
    // templated namespaces, reachability and TLS trust (a per-project namespace may not exist yet).
    async ready (signal) {
      if (fixedNamespaces.size === 0) {
        try {
          await api.version(signal)
        } catch (err) {
          throw kubeStoreError(err, 'GET /version (readiness)')
        }
      }
      for (const namespace of fixedNamespaces) {
        await inNamespace(namespace, `list secrets in namespace ${namespace} (readiness)`, signal, async () => await api.listPage({ namespace, labelSelector: managedLabel, limit: 1, signal }))
      }
    },
    async close () {}
  }
}
