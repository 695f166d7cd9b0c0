// type: kubernetes — Kubernetes Secrets selected by namespace + label selector per layer
// (docs/backends/kubernetes.md). A layer's locator is "<namespace>/<label selector>"; the Secrets
// it selects become ENV entries (envFrom-like) or, with a mount-path annotation, FILE entries.
// Strategy "informer" (default) serves reads from a watched in-memory copy; "list" LISTs per read.
import { Type } from '@sinclair/typebox'
import { MAX_TIMER_SECONDS } from '../../src/core/limits.js'
import { BackendConfigError, isStoreError, storeError } from '../../src/store/errors.js'
import { kubeStoreError, KubeApi, loadKubeConfig, type KubeSeam } from './client.js'
import { DEFAULT_RETRY_DELAY_MS, DEFAULT_WATCH_TIMING, informerStrategy } from './informer.js'
import { parseLocator, parseSelector } from './labels.js'
import { compileLayout, DEFAULT_MANAGED_LABEL, DEFAULT_NAMESPACE, DEFAULT_SELECTORS, type Layout } from './layout.js'
import { listStrategy } from './list.js'
import { namespaceCheck } from './namespaces.js'
import { mergeSecrets } from './secrets.js'
import type { Backend, BackendContext, BackendDefinition, ReadResult } from '../../src/store/port.js'

const options = Type.Object({
  kubeconfig: Type.Optional(Type.String({ minLength: 1, description: 'kubeconfig file, relative to the config file; default: KUBECONFIG, ~/.kube/config, else the pod\'s service account' })),
  context: Type.Optional(Type.String({ minLength: 1, description: 'kubeconfig context to use; default: its current-context' })),
  strategy: Type.Union([Type.Literal('informer'), Type.Literal('list')], {
    default: 'informer',
    description: 'informer: list + watch, reads from memory (needs list and watch); list: one LIST per layer read'
  }),
  namespace: Type.String({ minLength: 1, default: DEFAULT_NAMESPACE, description: 'namespace template of every layer: fixed ("northflank") or per project ("nf-{projectId}")' }),
  namespaces: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }), { description: 'namespace template per layer, overriding namespace' })),
  managedLabel: Type.String({ minLength: 1, default: DEFAULT_MANAGED_LABEL, description: 'label selector every Secret read must also match (the informer\'s filter)' }),
  staleLimitSeconds: Type.Number({ minimum: 2, maximum: MAX_TIMER_SECONDS, default: 600, description: 'informer: seconds after the apiserver\'s last word (LIST, event, bookmark) that the Secrets in memory are still served; under ~120 s a quiet cluster is re-listed every limit/2' })
})

type KubernetesOptions = typeof options

/** The layout the loader has already checked: its namespaces tell the informer what to watch. */
function layoutOf (config: Parameters<BackendDefinition<KubernetesOptions>['create']>[0], layers: readonly string[]): Layout {
  const layout = compileLayout(config, layers)
  if ('problems' in layout) {
    const first = layout.problems[0] as { key: string, problem: string }
    throw new BackendConfigError(first.key, first.problem)
  }
  return layout
}

export function createKubernetesBackend (config: Parameters<BackendDefinition<KubernetesOptions>['create']>[0], context: BackendContext, seam: KubeSeam = {}): Backend {
  const layout = layoutOf(config, context.layers)
  const api = new KubeApi(loadKubeConfig(config, context.baseDir), seam)
  // A configured namespace that does not exist is a store that is not there (namespaces.ts).
  const namespaceThere = namespaceCheck(api)
  const source = config.strategy === 'list'
    ? listStrategy(api, config.managedLabel, layout.fixedNamespaces, namespaceThere)
    : informerStrategy({
      api,
      managedLabel: config.managedLabel,
      logger: context.logger,
      staleLimitMs: config.staleLimitSeconds * 1000,
      retryDelayMs: seam.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
      watch: seam.watchTiming ?? DEFAULT_WATCH_TIMING,
      fixedNamespaces: layout.fixedNamespaces,
      clusterWide: layout.templatedNamespaces,
      namespaceThere
    })

  async function read (locator: string, signal: AbortSignal): Promise<ReadResult> {
    // Locators come from locate(); one that does not parse was not made by this backend.
    const parsed = parseLocator(locator)
    if (parsed === undefined) throw storeError('malformed', `locator ${locator} is not <namespace>/<label selector>`)
    const requirements = parseSelector(parsed.selector)
    if (typeof requirements === 'string') throw storeError('malformed', `locator ${locator}: ${requirements}`)
    return mergeSecrets(await source.select(parsed.namespace, { text: parsed.selector, requirements }, signal))
  }

  return {
    name: config.name,
    type: 'kubernetes',
    servesFromMemory: config.strategy !== 'list',
    locate: context.locate,
    async read (locator, signal) {
      try {
        return await read(locator, signal)
      } catch (err) {
        throw isStoreError(err) ? err : kubeStoreError(err, `read ${locator}`) // e.g. an abort before any call
      }
    },
    async ready (signal) {
      try {
        await source.ready(signal)
      } catch (err) {
        throw isStoreError(err) ? err : kubeStoreError(err, 'readiness')
      }
    },
    async close () {
      await source.close()
    }
  }
}

export const kubernetesDefinition: BackendDefinition<KubernetesOptions> = {
  type: 'kubernetes',
  options,
  // The apiserver rate-limits clients (API priority and fairness); the list strategy's LISTs are
  // the calls that count (the informer reads from memory).
  budget: { callsPerSecond: 20, burst: 40, concurrency: 8, maxQueue: 2000 },
  locators: {
    defaults: DEFAULT_SELECTORS,
    compile (config, layers) {
      const layout = compileLayout(config, layers)
      return 'problems' in layout ? layout : { templates: layout.templates }
    }
  },
  create: (config, context) => createKubernetesBackend(config, context)
}
