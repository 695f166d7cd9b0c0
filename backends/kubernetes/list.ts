// Strategy "list": every read is one LIST of Secrets per layer (namespace + label selector + the
// managed label), all pages. For clusters where nf-secret-source may not watch; the service's
// cache (cache.ttl) is what keeps the API calls down.
import type { V1Secret } from '@kubernetes/client-node'
import { isStoreError } from '../../src/store/errors.js'
import { kubeStoreError, type KubeApi } from './client.js'
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

export function listStrategy (api: KubeApi, managedLabel: string, fixedNamespaces: ReadonlySet<string>): SecretSource {
  return {
    async select (namespace, selector, signal) {
      try {
        // The managed label is part of every read, so both strategies select the same Secrets.
        const { items } = await listAll(api, namespace, `${selector.text},${managedLabel}`, signal)
        return items.map(mapSecret)
      } catch (err) {
        throw isStoreError(err) ? err : kubeStoreError(err, `list secrets in namespace ${namespace}`)
      }
    },
    // The read permission itself in every namespace known up front; with only templated
    // namespaces, reachability and TLS trust (a per-project namespace may not exist yet).
    async ready (signal) {
      let what = 'GET /version (readiness)'
      try {
        if (fixedNamespaces.size === 0) await api.version(signal)
        for (const namespace of fixedNamespaces) {
          what = `list secrets in namespace ${namespace} (readiness)`
          await api.listPage({ namespace, labelSelector: managedLabel, limit: 1, signal })
        }
      } catch (err) {
        throw kubeStoreError(err, what)
      }
    },
    async close () {}
  }
}
