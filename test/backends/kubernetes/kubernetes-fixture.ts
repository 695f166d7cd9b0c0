// Shared plumbing of the kubernetes backend tests: one real kube-apiserver per test file
// (test/servers/kube-apiserver.ts), kubeconfig files for other users and dead ports, Secrets
// seeded through the API with the admin token, and backends built as the service builds them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import type { Test } from 'tap'
import type { Logger } from 'pino'
import type { KubeSeam } from '../../../backends/kubernetes/client.js'
import { parseLocator, parseSelector } from '../../../backends/kubernetes/labels.js'
import { DEFAULT_MANAGED_LABEL } from '../../../backends/kubernetes/layout.js'
import { ANNOTATIONS } from '../../../backends/kubernetes/secrets.js'
import { createKubernetesBackend, kubernetesDefinition } from '../../../backends/kubernetes/index.js'
import type { Backend } from '../../../src/store/port.js'
import type { Identity } from '../../../src/core/identity.js'
import { silentLogger } from '../../helpers/logger.js'
import { startForSuite } from '../../servers/common.js'
import { kubeApiserverUnavailable, startKubeApiserver, type KubeApiserver } from '../../servers/kube-apiserver.js'
import type { Seed } from '../contract.js'
import { backendConfig, storeContext } from '../kit.js'

/** Starts the apiserver for a test file, under suiteCanRun()'s rule (skip locally, fail under CI). */
export async function kubeForSuite (t: Test, suite: string): Promise<KubeApiserver | undefined> {
  return await startForSuite(t, `${suite} (kube-apiserver)`, kubeApiserverUnavailable(), async () => {
    const started = Date.now()
    const kube = await startKubeApiserver()
    t.teardown(kube.stop)
    t.comment(`kube-apiserver ready in ${Date.now() - started} ms`)
    return kube
  })
}

let counter = 0
/** A DNS-label name no earlier test used (deleted namespaces stay Terminating: never reuse one). */
export function uniqueName (prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${++counter}`
}

export type SecretData = Record<string, string | Buffer>

export interface SecretSpec {
  name: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  data?: SecretData
}

export class KubeTestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'nfss-kube-'))
  readonly #namespaces = new Set<string>()

  constructor (readonly kube: KubeApiserver) {}

  /** A kubeconfig for `token` (default admin) at `server` (default the apiserver), trusting its CA. */
  kubeconfig (options: { token?: string, server?: string, name?: string } = {}): string {
    const path = join(this.dir, `${options.name ?? uniqueName('kubeconfig')}.json`)
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: options.server ?? this.kube.server, 'certificate-authority-data': Buffer.from(this.kube.caData).toString('base64') } }],
      users: [{ name: 'test-user', user: { token: options.token ?? this.kube.adminToken } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'test-user' } }],
      'current-context': 'test'
    }))
    return path
  }

  async ensureNamespace (namespace: string): Promise<void> {
    if (this.#namespaces.has(namespace)) return
    const res = await this.kube.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } })
    if (res.status !== 201 && res.status !== 409) throw new Error(`create namespace ${namespace}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
    this.#namespaces.add(namespace)
  }

  async createSecret (namespace: string, spec: SecretSpec): Promise<any> {
    await this.ensureNamespace(namespace)
    const res = await this.kube.request('POST', `/api/v1/namespaces/${namespace}/secrets`, { body: secretBody(spec) })
    if (res.status !== 201) throw new Error(`create secret ${namespace}/${spec.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }

  async patchSecret (namespace: string, name: string, patch: { data?: SecretData, labels?: Record<string, string | null>, annotations?: Record<string, string | null> }): Promise<void> {
    const body = {
      ...(patch.data === undefined ? {} : { data: encodeData(patch.data) }),
      metadata: { ...(patch.labels === undefined ? {} : { labels: patch.labels }), ...(patch.annotations === undefined ? {} : { annotations: patch.annotations }) }
    }
    const res = await this.kube.request('PATCH', `/api/v1/namespaces/${namespace}/secrets/${name}`, { body, contentType: 'application/merge-patch+json' })
    if (res.status !== 200) throw new Error(`patch secret ${namespace}/${name}: HTTP ${res.status}`)
  }

  async deleteSecret (namespace: string, name: string): Promise<void> {
    const res = await this.kube.request('DELETE', `/api/v1/namespaces/${namespace}/secrets/${name}`)
    if (res.status !== 200) throw new Error(`delete secret ${namespace}/${name}: HTTP ${res.status}`)
  }

  /** A ServiceAccount (no bindings) and a bound token for it from the TokenRequest API. */
  async serviceAccountToken (namespace: string, name: string): Promise<string> {
    await this.ensureNamespace(namespace)
    const sa = await this.kube.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } })
    if (sa.status !== 201 && sa.status !== 409) throw new Error(`create serviceaccount: HTTP ${sa.status}`)
    const tr = await this.kube.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } }
    })
    if (tr.status !== 201) throw new Error(`token request: HTTP ${tr.status}`)
    return tr.body.status.token as string
  }

  /** Creates any object (RBAC manifests from deploy/rbac) at its REST path. */
  async apply (object: any): Promise<void> {
    const { apiVersion, kind, metadata } = object
    const group = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion as string}`
    const plural = `${(kind as string).toLowerCase()}s`
    const path = metadata.namespace === undefined ? `${group}/${plural}` : `${group}/namespaces/${metadata.namespace as string}/${plural}`
    if (metadata.namespace !== undefined) await this.ensureNamespace(metadata.namespace)
    const res = await this.kube.request('POST', path, { body: object })
    if (res.status !== 201) throw new Error(`apply ${kind as string} ${metadata.name as string}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
  }

  close (): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function encodeData (data: SecretData): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, (typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('base64')]))
}

function secretBody (spec: SecretSpec): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: spec.name, labels: spec.labels ?? {}, annotations: spec.annotations ?? {} },
    data: encodeData(spec.data ?? {})
  }
}

/** The labels a Secret needs to be selected by a locator's selector (plus the managed label). */
export function labelsFor (selector: string, managedLabel = DEFAULT_MANAGED_LABEL): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const text of [selector, managedLabel]) {
    const requirements = parseSelector(text)
    if (typeof requirements === 'string') throw new Error(requirements)
    for (const r of requirements) {
      if (r.op === 'in') labels[r.key] = r.values[0] as string
      if (r.op === 'exists') labels[r.key] = 'true'
    }
  }
  return labels
}

/**
 * The contract's canonical data in the backend's native layout: the ENV keys as one plain Secret
 * (envFrom), each file as a Secret annotated with its folder as mount-path and its attributes.
 */
export async function seedLocator (cluster: KubeTestCluster, locator: string, seed: Seed, managedLabel?: string): Promise<void> {
  const parsed = parseLocator(locator)
  if (parsed === undefined) throw new Error(`not a locator: ${locator}`)
  const labels = labelsFor(parsed.selector, managedLabel)
  const base = uniqueName('seed')
  if (Object.keys(seed.env).length > 0) await cluster.createSecret(parsed.namespace, { name: `${base}-env`, labels, data: seed.env })
  for (const [i, file] of seed.files.entries()) {
    const annotations: Record<string, string> = { [ANNOTATIONS.mountPath]: posix.dirname(file.path) }
    if (file.mode !== undefined) annotations[ANNOTATIONS.fileMode] = file.mode
    if (file.owner !== undefined) annotations[ANNOTATIONS.fileOwner] = file.owner
    if (file.group !== undefined) annotations[ANNOTATIONS.fileGroup] = file.group
    const bytes = file.encoding === 'base64' ? Buffer.from(file.data, 'base64') : Buffer.from(file.data, 'utf8')
    await cluster.createSecret(parsed.namespace, { name: `${base}-file${i}`, labels, annotations, data: { [posix.basename(file.path)]: bytes } })
  }
}

/** Polls until a read of `locator` holds `count` entries (an informer sees a write a moment later). */
export async function untilEntries (backend: Backend, locator: string, count: number, timeoutMs = 10_000): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    const result = await backend.read(locator, AbortSignal.timeout(5000)).catch(() => undefined)
    if (result?.found === true && result.entries.length + result.invalid.length >= count) return Date.now() - started
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  throw new Error(`${locator} did not reach ${count} entries within ${timeoutMs} ms`)
}

export interface BackendFactory {
  create: (extra?: Record<string, unknown>, options?: { seam?: KubeSeam, logger?: Logger }) => Backend
  /** The backend config as the service builds it (schema defaults applied, validated). */
  configOf: (extra?: Record<string, unknown>) => any
  /** The backend as it is written in a config file (for a service started from config). */
  configSource: (extra?: Record<string, unknown>) => Record<string, unknown>
  closeAll: () => Promise<void>
}

export function backendFactory (base: Record<string, unknown>, layers = ['global', 'project', 'object']): BackendFactory {
  const backends: Backend[] = []
  const configSource = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'kube', type: 'kubernetes', ...base, ...extra })
  const configOf = (extra: Record<string, unknown> = {}): any => backendConfig(configSource(extra), { layers })
  return {
    configOf,
    configSource,
    create (extra = {}, options = {}) {
      const config = configOf(extra)
      const backend = createKubernetesBackend(config, storeContext(kubernetesDefinition, config, { logger: options.logger ?? silentLogger(), baseDir: process.cwd(), layers }), options.seam)
      backends.push(backend)
      return backend
    },
    async closeAll () {
      await Promise.allSettled(backends.map(async b => { await b.close() }))
    }
  }
}

export const anyIdentity = (n: string): Identity => ({ projectId: `p${n}`, nfObjectId: `o${n}`, nfObjectType: 'service' })
