// A configured (fixed) namespace must exist before its Secrets are served: the apiserver answers a
// LIST of Secrets in a namespace that does not exist with an empty list, which would read every
// layer there as empty (a partial answer). So "the store is there" is checked with
// GET /api/v1/namespaces/<name>:
// - 200: there. 404: NFSS_STORE_UNAVAILABLE, never an empty layer.
// - 403 (no get on namespaces, e.g. deploy/rbac/namespace-role.yaml): with access to Secrets that
//   comes from a RoleBinding inside the namespace, a LIST that succeeds proves the namespace exists
//   (a missing namespace has no RoleBinding, so the LIST is refused: NFSS_STORE_DENIED). With
//   cluster-wide access to Secrets (a SelfSubjectAccessReview says so) the LIST proves nothing:
//   NFSS_STORE_DENIED, asking for get on that namespace.
// A templated namespace (nf-{projectId}) is part of the locator, not of the store: a project whose
// namespace does not exist has an empty layer, like a project folder missing from a file store.
// A namespace found there is believed for NAMESPACE_PROOF_MS (the check costs one GET, not one per read).
import { isStoreError, storeError } from '../../src/store/errors.js'
import { kubeStoreError, type KubeApi } from './client.js'

export const NAMESPACE_PROOF_MS = 30_000

/** Throws the store error for a fixed namespace that is not there (or cannot be shown to be). */
export type NamespaceCheck = (namespace: string, signal: AbortSignal) => Promise<void>

export function namespaceCheck (api: Pick<KubeApi, 'namespaceStatus' | 'mayListSecretsEverywhere'>, now: () => number = Date.now): NamespaceCheck {
  const proven = new Map<string, number>()
  const inflight = new Map<string, Promise<void>>()
  return async (namespace, signal) => {
    const at = proven.get(namespace)
    if (at !== undefined && now() - at < NAMESPACE_PROOF_MS) return
    // Concurrent reads in one namespace share one check.
    let check = inflight.get(namespace)
    if (check === undefined) {
      check = prove(namespace, signal).finally(() => { inflight.delete(namespace) })
      inflight.set(namespace, check)
    }
    await check
  }

  async function prove (namespace: string, signal: AbortSignal): Promise<void> {
    let status
    try {
      status = await api.namespaceStatus(namespace, signal)
      if (status === 'forbidden' && await api.mayListSecretsEverywhere(signal)) {
        throw storeError('denied', `get namespace ${namespace}: HTTP 403, and with access to Secrets in every namespace a LIST cannot tell a missing namespace from an empty one: grant get on namespaces (resourceNames: [${namespace}]), see docs/backends/kubernetes.md`)
      }
    } catch (err) {
      throw isStoreError(err) ? err : kubeStoreError(err, `get namespace ${namespace}`)
    }
    if (status === 'missing') throw storeError('unavailable', `namespace ${namespace} does not exist: a configured namespace is part of the store, never an empty layer`)
    proven.set(namespace, now())
  }
}
