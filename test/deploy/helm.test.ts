// The Helm chart (deploy/helm/nf-secret-source): `helm lint`, `helm template` for the default values,
// every example in deploy/examples/ and an "every option on" set, checks of what it renders, the
// rendered config validated by the service's own config loader, and every rendered object sent
// to a REAL kube-apiserver as a server-side dry run (?dryRun=All&fieldValidation=Strict), with the
// Deployment's pod template also dry-run as a Pod in a namespace enforcing the "restricted" Pod
// Security Standard.
//
// helm is built by scripts/provision-helm.sh into .cache/bin/helm; the apiserver by
// scripts/provision-kube-apiserver.sh (test/servers/kube-apiserver.ts); `npm test` runs both
// (scripts/provision.sh) before tap. Locally a missing one
// skips with one loud line; under CI=true it is a failure with the reason.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { backendDefinitions } from '../../backends/registry.js'
import { loadConfig } from '../../src/config/load.js'
import { countingDefinition, countingStore } from '../helpers/counting-backend.js'
import { startTestService } from '../helpers/service.js'
import { cacheDir, repoRoot, suiteCanRun } from '../servers/common.js'
import { kubeApiserverUnavailable, startKubeApiserver, type KubeApiserver } from '../servers/kube-apiserver.js'

const helmBin = join(cacheDir, 'bin', 'helm')
const chart = join(repoRoot, 'deploy', 'helm', 'nf-secret-source')
const examplesDir = join(repoRoot, 'deploy', 'examples')
const release = 'nfss'
const fullname = 'nfss-nf-secret-source'

type Obj = Record<string, any>

/** Every option the chart has, switched on, so each template is rendered and checked by the apiserver. */
const everything = {
  replicaCount: 3,
  jwtSecret: { existingSecret: 'nf-jwt', key: 'current', additional: [{ existingSecret: 'nf-jwt-next', key: 'next' }] },
  image: { repository: 'registry.example.com/nf-secret-source', digest: 'sha256:' + 'a'.repeat(64) },
  imagePullSecrets: [{ name: 'regcred' }],
  env: [{ name: 'AWS_REGION', value: 'eu-west-1' }],
  envFrom: [{ secretRef: { name: 'store-credentials' } }],
  serviceAccount: { create: true, annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/r' }, automountToken: true },
  rbac: { create: true, clusterWide: true },
  podAntiAffinity: 'hard',
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'platform', effect: 'NoSchedule' }],
  priorityClassName: 'system-cluster-critical',
  podDisruptionBudget: { enabled: true, maxUnavailable: null, minAvailable: 2 },
  autoscaling: { enabled: true, minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 60, targetMemoryUtilizationPercentage: 80 },
  metrics: { serviceMonitor: { enabled: true, labels: { release: 'prom' } }, dashboard: { enabled: true }, prometheusRule: { enabled: true, labels: { release: 'prom' } } },
  networkPolicy: {
    enabled: true,
    publicFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
    opsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }]
  },
  terminationGracePeriodSeconds: 60,
  config: { server: { shutdownDelaySeconds: 10, requestTimeoutSeconds: 20 }, ops: { readyTimeoutSeconds: 8 } }
}

const tmp = mkdtempSync(join(tmpdir(), 'nfss-helm-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const everythingFile = join(tmp, 'everything.yaml')
writeFileSync(everythingFile, stringify(everything))

const exampleFiles = readdirSync(examplesDir).filter(f => f.endsWith('.yaml')).sort()
/** name -> values files; namespace of each case is nfss-<name>. */
const cases: Array<{ name: string, values: string[] }> = [
  { name: 'default', values: [] },
  ...exampleFiles.map(f => ({ name: f.replace(/\.yaml$/, ''), values: [join(examplesDir, f)] })),
  { name: 'everything', values: [everythingFile] }
]

function helm (args: string[]): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(helmBin, args, { encoding: 'utf8', timeout: 60_000 })
  if (r.error !== undefined) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function render (values: string[], namespace: string): Obj[] {
  const r = helm(['template', release, chart, '--namespace', namespace, ...values.flatMap(v => ['-f', v])])
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`)
  return parseAllDocuments(r.stdout).map(d => d.toJSON() as Obj).filter(o => o !== null && typeof o === 'object')
}

/** `everything` with --set overrides. */
function renderWith (sets: string[]): Obj[] {
  const r = helm(['template', release, chart, '--namespace', 'nfss', '-f', everythingFile, ...sets.flatMap(v => ['--set', v])])
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`)
  return parseAllDocuments(r.stdout).map(d => d.toJSON() as Obj).filter(o => o !== null && typeof o === 'object')
}

function find (objects: Obj[], kind: string, name = fullname): Obj {
  const found = objects.find(o => o.kind === kind && o.metadata?.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name} in ${objects.map(o => `${o.kind}/${o.metadata?.name}`).join(', ')}`)
  return found
}

function configOf (objects: Obj[]): Obj {
  return parse(find(objects, 'ConfigMap').data['config.yaml'])
}

const helmMissing = existsSync(helmBin) ? undefined : `${helmBin} is missing: scripts/provision-helm.sh builds it (npm test runs it through scripts/provision.sh before tap)`
if (suiteCanRun(t, 'helm chart suite', helmMissing)) {
  t.comment(helm(['version', '--short']).stdout.trim())

  t.test('helm lint --strict: default values and every example', async t => {
    for (const c of cases) {
      const r = helm(['lint', '--strict', chart, '--namespace', `nfss-${c.name}`, ...c.values.flatMap(v => ['-f', v])])
      t.equal(r.status, 0, `lint ${c.name}${r.status === 0 ? '' : `:\n${r.stdout}${r.stderr}`}`)
    }
  })

  t.test('default values render a hardened, two-replica Deployment', async t => {
    const objects = render([], 'nfss')
    t.same(objects.map(o => o.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount'],
      'only the always-on objects (HPA, ServiceMonitor, NetworkPolicy, RBAC are opt-in)')

    const deployment = find(objects, 'Deployment')
    t.equal(deployment.spec.replicas, 2, '2 replicas')
    const pod = deployment.spec.template.spec
    t.ok(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution, 'soft pod anti-affinity')
    t.match(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } })
    t.equal(pod.automountServiceAccountToken, false, 'no service account token unless a backend needs it')
    const [container, ...others] = pod.containers
    t.equal(others.length, 0)
    t.match(container.securityContext, {
      runAsNonRoot: true,
      runAsUser: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] }
    })
    t.same(container.args, ['serve', '--config', '/etc/nf-secret-source/config.yaml'])
    t.match(container.livenessProbe, { httpGet: { path: '/healthz', port: 'ops' } })
    t.match(container.readinessProbe, { httpGet: { path: '/readyz', port: 'ops' }, timeoutSeconds: 6 }, 'readiness waits longer than ops.readyTimeoutSeconds (5)')
    t.same(container.ports.map((p: Obj) => [p.name, p.containerPort]), [['http', 8080], ['ops', 9090]])
    t.ok(container.resources.requests.cpu !== undefined && container.resources.requests.memory !== undefined, 'resource requests')
    t.same(container.env, [{ name: 'NF_JWT_SECRET', valueFrom: { secretKeyRef: { name: `${fullname}-jwt`, key: 'jwt-secret' } } }],
      'the JWT secret comes from an existing Secret, never from values')
    t.match(deployment.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/)

    const config = configOf(objects)
    t.same(config.auth.secrets, ['${env:NF_JWT_SECRET}'])
    t.match(config.server, { host: '0.0.0.0', port: 8080, shutdownDelaySeconds: 5, requestTimeoutSeconds: 10 })
    t.match(config.ops, { host: '0.0.0.0', port: 9090 })
    // serve's own longest shutdown (src/serve.ts): drain delay + headers + request + 5 s, + 5 s to flush traces.
    const serveWaits = config.server.shutdownDelaySeconds + 10 + config.server.requestTimeoutSeconds + 5 + 5
    t.ok(pod.terminationGracePeriodSeconds > serveWaits,
      `terminationGracePeriodSeconds ${String(pod.terminationGracePeriodSeconds)} is longer than serve's longest shutdown with tracing on (${serveWaits} s): the drain delay + a request's headers (10 s) + the slowest request + serve's margin + the trace flush`)

    const service = find(objects, 'Service')
    t.same(service.spec.ports, [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }], 'the Service exposes only the public port')
    t.match(find(objects, 'PodDisruptionBudget').spec, { maxUnavailable: 1 })
  })

  t.test('every option on', async t => {
    const objects = render([everythingFile], 'nfss')
    const kinds = objects.map(o => `${o.kind}/${o.metadata.name}`).sort()
    t.same(kinds, [
      `ClusterRole/${fullname}`, `ClusterRoleBinding/${fullname}`, `ConfigMap/${fullname}`, `ConfigMap/${fullname}-dashboard`, `Deployment/${fullname}`,
      `HorizontalPodAutoscaler/${fullname}`, `NetworkPolicy/${fullname}`, `PodDisruptionBudget/${fullname}`,
      `PrometheusRule/${fullname}`, `Service/${fullname}`, `Service/${fullname}-ops`, `ServiceAccount/${fullname}`, `ServiceMonitor/${fullname}`
    ])
    const deployment = find(objects, 'Deployment')
    t.notOk('replicas' in deployment.spec, 'the HPA owns the replica count')
    t.same(find(objects, 'ClusterRole').rules, [{ apiGroups: [''], resources: ['secrets'], verbs: ['list', 'watch'] }], 'least privilege: list and watch, no get')
    const fixed = renderWith(['rbac.namespaces={northflank}'])
    t.same(find(fixed, 'ClusterRole').rules[1], { apiGroups: [''], resources: ['namespaces'], verbs: ['get'], resourceNames: ['northflank'] }, 'clusterWide with a fixed namespace: get on that namespace only')
    t.same(configOf(objects).auth.secrets, ['${env:NF_JWT_SECRET}', '${env:NF_JWT_SECRET_1}'], 'rotation: two accepted secrets')
    const reloadable = renderWith(['jwtSecret.reloadable=true'])
    t.same(configOf(reloadable).auth.secrets, ['${file:/etc/nf-jwt/current}', '${env:NF_JWT_SECRET_1}'], 'reloadable: the Secret as a file, re-read at run time')
    const pod = find(reloadable, 'Deployment').spec.template.spec
    t.match(pod.volumes, [{ name: 'config' }, { name: 'tmp' }, { name: 'jwt-secret', secret: { secretName: 'nf-jwt', defaultMode: 0o400 } }])
    t.notOk(pod.containers[0].env.some((e: Obj) => e.name === 'NF_JWT_SECRET'), 'no environment variable for the main secret')
    const env = deployment.spec.template.spec.containers[0].env
    t.match(env[1], { name: 'NF_JWT_SECRET_1', valueFrom: { secretKeyRef: { name: 'nf-jwt-next', key: 'next' } } })
    t.equal(deployment.spec.template.spec.containers[0].image, `registry.example.com/nf-secret-source@sha256:${'a'.repeat(64)}`)
    t.equal(deployment.spec.template.spec.terminationGracePeriodSeconds, 60)
    t.equal(deployment.spec.template.spec.containers[0].readinessProbe.timeoutSeconds, 9)
    t.match(deployment.spec.template.spec.topologySpreadConstraints[0].labelSelector.matchLabels, { 'app.kubernetes.io/instance': release })
    t.same(find(objects, 'Service').spec.ports.map((p: Obj) => p.name), ['http'], 'still only the public port on the main Service')
    t.same(find(objects, 'Service', `${fullname}-ops`).spec.ports.map((p: Obj) => p.name), ['ops'], 'the ops port only on the scrape Service')
    const policy = find(objects, 'NetworkPolicy').spec
    t.same(policy.ingress.map((r: Obj) => r.ports[0].port), ['http', 'ops'])
    t.same(policy.policyTypes, ['Ingress', 'Egress'])
  })

  t.test('refuses values that cannot work', async t => {
    const refuse = (what: string, set: string[], message: RegExp): void => {
      const r = helm(['template', release, chart, ...set.flatMap(s => ['--set', s])])
      t.not(r.status, 0, `${what}: refused`)
      t.match(r.stderr, message, `${what}: says why`)
    }
    refuse('no backend', ['config.backends=null'], /config\.backends must list at least one store/)
    refuse('grace period shorter than the drain', ['terminationGracePeriodSeconds=5'], /terminationGracePeriodSeconds \(5\) must be at least/)
    refuse('unknown anti-affinity mode', ['podAntiAffinity=sometimes'], /podAntiAffinity must be/)
    refuse('rotation secret without a name', ['jwtSecret.additional[0].key=x'], /jwtSecret\.additional\[\]\.existingSecret is required/)
  })

  t.test('the rendered config is valid for the service (its own config loader)', async t => {
    const known = new Set(backendDefinitions.map(d => d.type))
    for (const c of cases) {
      const config = configOf(render(c.values, `nfss-${c.name}`))
      const types: string[] = config.backends.map((b: Obj) => String(b.type))
      const unknown = types.filter(type => !known.has(type))
      if (unknown.length > 0) {
        // A backend still being built (the kubernetes backend, issue 7) is reported, not failed;
        // once it is registered, its example is checked here like the others.
        t.comment(`!!! ${c.name}: backend type(s) ${unknown.join(', ')} not registered yet: config not validated`)
        continue
      }
      const env: NodeJS.ProcessEnv = {}
      for (const [, name] of JSON.stringify(config).matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)) env[name!] = 'x'.repeat(48)
      t.doesNotThrow(() => loadConfig({ document: config, env, baseDir: tmp }), `${c.name}: config.yaml passes the service's schema`)
    }
  })

  if (suiteCanRun(t, 'chart dry-run against kube-apiserver', kubeApiserverUnavailable())) {
    t.test('the apiserver accepts every rendered object (server-side dry run, strict field validation)', async t => {
      const started = Date.now()
      const kube = await startKubeApiserver()
      t.teardown(() => kube.stop())
      t.comment(`kube-apiserver ready in ${Date.now() - started} ms`)

      await installServiceMonitorCrd(t, kube)
      await installPrometheusRuleCrd(t, kube)
      const discovery = new Discovery(kube)

      // Namespaces the objects go to (really created: a dry run cannot create into a missing one).
      // Each case's own namespace enforces the "restricted" Pod Security Standard.
      const namespaces = new Set<string>(['northflank-secrets'])
      for (const c of cases) namespaces.add(`nfss-${c.name}`)
      for (const ns of namespaces) {
        const res = await kube.request('POST', '/api/v1/namespaces', {
          body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } } }
        })
        t.equal(res.status, 201, `namespace ${ns} created`)
      }

      // A Pod needs its ServiceAccount to exist (ServiceAccount admission): create them for real.
      const serviceAccounts = new Set<string>()
      const ensureServiceAccount = async (ns: string, name: string): Promise<void> => {
        if (serviceAccounts.has(`${ns}/${name}`)) return
        const res = await kube.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } })
        if (res.status !== 201 && res.status !== 409) throw new Error(`service account ${ns}/${name}: ${res.status} ${JSON.stringify(res.body?.message)}`)
        serviceAccounts.add(`${ns}/${name}`)
      }

      // Negative control: the namespace really refuses a pod that breaks "restricted".
      await ensureServiceAccount('nfss-default', 'control')
      const rootPod = await kube.request('POST', '/api/v1/namespaces/nfss-default/pods?dryRun=All', {
        body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'root' }, spec: { serviceAccountName: 'control', containers: [{ name: 'c', image: 'x' }] } }
      })
      t.equal(rootPod.status, 403, 'control: a pod without a security context is refused...')
      t.match(String(rootPod.body?.message), /violates PodSecurity "restricted/, '...by Pod Security admission')

      // Negative control: strict field validation really refuses a misspelt field.
      const typo = find(render([], 'nfss-default'), 'Deployment')
      typo.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true
      const refused = await kube.request('POST', '/apis/apps/v1/namespaces/nfss-default/deployments?dryRun=All&fieldValidation=Strict', { body: typo })
      t.equal(refused.status, 400, 'control: a misspelt field (readOnlyRootFileSystem) is refused...')
      t.match(String(refused.body?.message), /unknown field/, '...as an unknown field')

      for (const c of cases) {
        const namespace = `nfss-${c.name}`
        const objects = render(c.values, namespace)
        for (const obj of objects) {
          const { path, namespaced } = await discovery.resourcePath(obj)
          const ns = namespaced ? (obj.metadata.namespace ?? namespace) : undefined
          const url = `${ns === undefined ? path : path.replace('{ns}', ns)}?dryRun=All&fieldValidation=Strict`
          const res = await kube.request('POST', url, { body: obj })
          t.equal(res.status, 201, `${c.name}: ${obj.kind}/${obj.metadata.name} accepted${res.status === 201 ? '' : `: ${JSON.stringify(res.body?.message ?? res.body)}`}`)
        }
        // The Deployment's pod template as a Pod: Pod Security admission checks Pods, not Deployments.
        const deployment = find(objects, 'Deployment')
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { ...deployment.spec.template.metadata, name: `${fullname}-pod` },
          spec: deployment.spec.template.spec
        }
        await ensureServiceAccount(namespace, String(pod.spec.serviceAccountName ?? 'default'))
        const res = await kube.request('POST', `/api/v1/namespaces/${namespace}/pods?dryRun=All&fieldValidation=Strict`, { body: pod })
        t.equal(res.status, 201, `${c.name}: the pod template passes the "restricted" Pod Security Standard${res.status === 201 ? '' : `: ${JSON.stringify(res.body?.message ?? res.body)}`}`)
      }
    })
  }
}

/** Maps apiVersion + kind to the REST path, from the apiserver's own discovery documents. */
class Discovery {
  private readonly groups = new Map<string, Array<{ name: string, kind: string, namespaced: boolean }>>()
  constructor (private readonly kube: KubeApiserver) {}

  async resourcePath (obj: Obj): Promise<{ path: string, namespaced: boolean }> {
    const apiVersion = String(obj.apiVersion)
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
    let resources = this.groups.get(apiVersion)
    if (resources === undefined) {
      const res = await this.kube.request('GET', base)
      if (res.status !== 200) throw new Error(`discovery ${base}: ${res.status}`)
      resources = res.body.resources as Array<{ name: string, kind: string, namespaced: boolean }>
      this.groups.set(apiVersion, resources)
    }
    const resource = resources.find(r => r.kind === obj.kind && !r.name.includes('/'))
    if (resource === undefined) throw new Error(`the apiserver has no ${String(obj.kind)} in ${apiVersion}`)
    return resource.namespaced
      ? { path: `${base}/namespaces/{ns}/${resource.name}`, namespaced: true }
      : { path: `${base}/${resource.name}`, namespaced: false }
  }
}

/**
 * The dashboard and the alert rules only use metrics the service exports: every nf_secret_source_*
 * name in them (histogram series by their base name) is in the /metrics of a running service.
 */
if (helmMissing === undefined) t.test('dashboard and alerts: every metric they use exists in /metrics', async t => {
  const objects = render([everythingFile], 'nfss')
  const dashboard = JSON.parse(find(objects, 'ConfigMap', `${fullname}-dashboard`).data['nf-secret-source.json'])
  t.match(find(objects, 'ConfigMap', `${fullname}-dashboard`).metadata.labels, { grafana_dashboard: '1' }, 'labelled for the Grafana sidecar')
  const panelExprs: string[] = dashboard.panels.flatMap((p: Obj) => p.targets.map((x: Obj) => x.expr))
  const rules: Obj[] = find(objects, 'PrometheusRule').spec.groups.flatMap((g: Obj) => g.rules)
  t.same(rules.map(r => r.alert).sort(), ['NfSecretSourceHigh503Rate', 'NfSecretSourceNotReady', 'NfSecretSourceServingStale', 'NfSecretSourceStoreDown'])
  const used = new Set([...panelExprs, ...rules.map(r => String(r.expr))].flatMap(e => e.match(/nf_secret_source_[a-z_]+/g) ?? [])
    .map(name => name.replace(/_(bucket|count|sum)$/, '')))
  const store = countingStore()
  const svc = await startTestService({ backends: [{ name: 'c', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(svc.close)
  const exported = await (await fetch(new URL('metrics', svc.service.opsUrl))).text()
  for (const name of [...used].sort()) t.match(exported, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`)
  t.ok(used.size >= 8, `${used.size} metrics used by the dashboard and the alerts`)
  t.match(find(objects, 'Service', `${fullname}-ops`).spec, { publishNotReadyAddresses: true }, 'replicas that are not ready are scraped too (the readiness alert counts them)')
})

/** prometheus-operator's duration format. */
const DURATION = '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'

/** PrometheusRule, like ServiceMonitor below: a test-made stand-in for prometheus-operator's CRD, checking the shape the chart renders. */
async function installPrometheusRuleCrd (t: Test, kube: KubeApiserver): Promise<void> {
  await installCrd(t, kube, 'prometheusrules', 'PrometheusRule', {
    type: 'object',
    required: ['groups'],
    properties: {
      groups: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'rules'],
          properties: {
            name: { type: 'string' },
            rules: { type: 'array', items: { type: 'object', required: ['alert', 'expr'], properties: { alert: { type: 'string' }, expr: { type: 'string' }, for: { type: 'string', pattern: DURATION }, labels: { type: 'object', additionalProperties: { type: 'string' } }, annotations: { type: 'object', additionalProperties: { type: 'string' } } } } }
          }
        }
      }
    }
  })
}

/**
 * ServiceMonitor is a prometheus-operator CRD, absent from a bare apiserver. The test installs a
 * CRD of that name whose schema checks the fields the chart renders (selector, endpoints with
 * port/path/interval/scrapeTimeout, namespaceSelector) and keeps the rest open, so the dry run
 * checks the object's group/version/kind, metadata and the shape of what the chart sets.
 */
async function installServiceMonitorCrd (t: Test, kube: KubeApiserver): Promise<void> {
  await installCrd(t, kube, 'servicemonitors', 'ServiceMonitor', {
    type: 'object',
    required: ['selector', 'endpoints'],
    'x-kubernetes-preserve-unknown-fields': true,
    properties: {
      selector: { type: 'object', properties: { matchLabels: { type: 'object', additionalProperties: { type: 'string' } } } },
      namespaceSelector: { type: 'object', properties: { any: { type: 'boolean' }, matchNames: { type: 'array', items: { type: 'string' } } } },
      endpoints: {
        type: 'array',
        items: {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
          properties: {
            port: { type: 'string' },
            path: { type: 'string' },
            interval: { type: 'string', pattern: DURATION },
            scrapeTimeout: { type: 'string', pattern: DURATION }
          }
        }
      }
    }
  })
}

/** A monitoring.coreos.com/v1 CRD whose spec is checked against `spec`; waits until it is served. */
async function installCrd (t: Test, kube: KubeApiserver, plural: string, kind: string, spec: Obj): Promise<void> {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.monitoring.coreos.com` },
    spec: {
      group: 'monitoring.coreos.com',
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec } } } }]
    }
  }
  const res = await kube.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd })
  t.equal(res.status, 201, `${kind} CRD installed (test-made stand-in for prometheus-operator's)`)
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const r = await kube.request('GET', '/apis/monitoring.coreos.com/v1')
    if (r.status === 200 && (r.body.resources ?? []).some((x: Obj) => x.kind === kind)) return
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`the ${kind} CRD was not served within 30 s`)
}
