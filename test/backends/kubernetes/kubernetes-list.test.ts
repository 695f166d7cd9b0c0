// type: kubernetes, strategy list, against a real kube-apiserver: the shared contract, API calls
// per read, pagination, aborts in flight, and how Secrets map to entries (envFrom, mount-path
// files with binary data, priority/name order, escaped label values).
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { escapeLabelValue, matchesSelector, parseSelector, type Requirement } from '../../../backends/kubernetes/labels.js'
import { ANNOTATIONS, KEY_MODE_PREFIX } from '../../../backends/kubernetes/secrets.js'
import type { Backend } from '../../../src/store/port.js'
import type { Identity } from '../../../src/core/identity.js'
import { callStore } from '../../../src/store-call.js'
import { startFaultProxy } from '../../helpers/fault-proxy.js'
import { freePort } from '../../servers/common.js'
import { backendContract, sortEntries, uniqueIdentity } from '../contract.js'
import { KubeTestCluster, backendFactory, kubeForSuite, labelsFor, seedLocator, uniqueName } from './kubernetes-fixture.js'

t.setTimeout(300_000)
const kube = await kubeForSuite(t, 'kubernetes (strategy list)')
if (kube !== undefined) {
  const cluster = new KubeTestCluster(kube)
  t.teardown(() => { cluster.close() })
  const namespace = uniqueName('nfss-list')
  await cluster.ensureNamespace(namespace)
  const factory = backendFactory({ kubeconfig: cluster.kubeconfig({ name: 'admin' }), strategy: 'list', namespace })
  t.teardown(factory.closeAll)
  const requests: string[] = []
  const backend = factory.create({}, { seam: { onRequest: r => requests.push(`${r.verb} ${r.path}`) } })
  const read = async (b: Backend, locator: string): Promise<any> => await callStore(b, locator, 10_000)
  /** The LISTs among the requests (a read may also GET its namespace, once per 30 s). */
  const lists = (made: string[]): string[] => made.filter(r => r.startsWith('list '))
  const objectOf = (identity: Identity): { locator: string, labels: Record<string, string> } => {
    const locator = backend.locate('object', identity) as string
    return { locator, labels: labelsFor(locator.slice(namespace.length + 1)) }
  }

  await t.test('contract: strategy list, one fixed namespace', async t => {
    await backendContract(t, {
      backend,
      seed: async (layer, identity, seed) => { await seedLocator(cluster, backend.locate(layer, identity) as string, seed) },
      // Secrets are not documents; the one thing that cannot be read is an order that cannot be known.
      seedMalformed: async (layer, identity) => {
        const locator = backend.locate(layer, identity) as string
        await cluster.createSecret(namespace, { name: uniqueName('bad-priority'), labels: labelsFor(locator.slice(namespace.length + 1)), annotations: { [ANNOTATIONS.priority]: 'high' }, data: { A: '1' } })
      },
      denied: async () => ({ backend: factory.create({ kubeconfig: cluster.kubeconfig({ token: kube.restrictedToken }) }), layer: 'object', identity: uniqueIdentity() }),
      unreachable: async () => factory.create({ kubeconfig: cluster.kubeconfig({ server: `https://127.0.0.1:${await freePort()}` }) }),
      // A configured namespace that does not exist (the apiserver LISTs it as empty).
      missingStore: async () => factory.create({ namespace: uniqueName('nfss-missing') }),
      service: { backend: factory.configSource() },
      // One LIST, plus one GET of the namespace when its proof is older than 30 s (namespaces.ts).
      storeCalls: { count: () => requests.length, maxPerRead: 2 }
    })
  })

  t.test('list: locators are <namespace>/<selector> with the default labels', async t => {
    const identity: Identity = { projectId: 'p1', nfObjectId: 'api', nfObjectType: 'service' }
    t.equal(backend.locate('global', identity), `${namespace}/nf-secret-source/scope=global`)
    t.equal(backend.locate('project', identity), `${namespace}/nf-secret-source/project=p1,!nf-secret-source/object`)
    t.equal(backend.locate('object', identity), `${namespace}/nf-secret-source/project=p1,nf-secret-source/object=api`)
  })

  t.test('list: one LIST per read, with the layer selector AND the managed label; unmanaged Secrets are ignored', async t => {
    const identity = uniqueIdentity()
    const { locator, labels } = objectOf(identity)
    await cluster.createSecret(namespace, { name: uniqueName('managed'), labels, data: { MANAGED: 'yes' } })
    const { 'nf-secret-source/managed': _, ...unmanaged } = labels
    await cluster.createSecret(namespace, { name: uniqueName('unmanaged'), labels: unmanaged, data: { UNMANAGED: 'no' } })
    const before = requests.length
    t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'MANAGED', value: 'yes' }])
    t.same(lists(requests.slice(before)), [`list /api/v1/namespaces/${namespace}/secrets`])
  })

  t.test('list: more Secrets than one page are read page by page (limit/continue), all of them', async t => {
    const identity = uniqueIdentity()
    const { locator, labels } = objectOf(identity)
    for (let i = 0; i < 105; i += 15) {
      await Promise.all(Array.from({ length: Math.min(15, 105 - i) }, async (_, j) => {
        await cluster.createSecret(namespace, { name: `${uniqueName('page')}-${i + j}`, labels, data: { [`KEY_${i + j}`]: `v${i + j}` } })
      }))
    }
    const before = requests.length
    t.equal((await read(backend, locator)).entries.length, 105)
    t.equal(lists(requests.slice(before)).length, 2, '105 Secrets: 2 pages of 100')
  })

  t.test('list: partial answer when a store is missing: a configured namespace that does not exist is never an empty layer, whatever the RBAC', async t => {
    const missing = uniqueName('nfss-missing')
    const identity = uniqueIdentity()
    t.same((await kube.request('GET', `/api/v1/namespaces/${missing}/secrets`)).body.items, [], 'the apiserver LISTs a missing namespace as empty')
    const admin = factory.create({ namespace: missing })
    await t.rejects(read(admin, admin.locate('object', identity) as string), { code: 'NFSS_STORE_UNAVAILABLE', message: `namespace ${missing} does not exist` }, 'may get namespaces: 404 is unavailable')
    await t.rejects(admin.ready(AbortSignal.timeout(10_000)), { code: 'NFSS_STORE_UNAVAILABLE', message: `namespace ${missing} does not exist` }, 'and so is readiness')

    // deploy/rbac/namespace-role.yaml: Secrets through a RoleBinding inside the namespace, no get on namespaces.
    const saNamespace = uniqueName('nfss-sa')
    const token = await cluster.serviceAccountToken(saNamespace, 'reader')
    const subjects = [{ kind: 'ServiceAccount', name: 'reader', namespace: saNamespace }]
    const asReader = (extra: Record<string, unknown>): Backend => factory.create({ kubeconfig: cluster.kubeconfig({ token }), ...extra })
    const granted = uniqueName('nfss-granted')
    await cluster.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'reader', namespace: granted }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }] })
    await cluster.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader', namespace: granted }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' }, subjects })
    const inGranted = asReader({ namespace: granted })
    t.same(await read(inGranted, inGranted.locate('object', identity) as string), { found: false }, 'namespaced access: the namespace exists (its RoleBinding lives there), the layer is empty')
    await t.rejects(read(asReader({ namespace: missing }), `${missing}/nf-secret-source/scope=global`), { code: 'NFSS_STORE_DENIED' }, 'namespaced access: a missing namespace has no RoleBinding, the LIST is refused')

    // deploy/rbac/cluster-role.yaml: Secrets in every namespace, no get on namespaces: a LIST proves nothing.
    const everywhere = uniqueName('nfss-secrets-everywhere')
    await cluster.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: everywhere }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }] })
    await cluster.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: everywhere }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: everywhere }, subjects })
    await t.rejects(read(asReader({ namespace: missing }), `${missing}/nf-secret-source/scope=global`), { code: 'NFSS_STORE_DENIED', message: /get namespace .*: HTTP 403.*grant get on namespaces \(resourceNames: \[/ }, 'cluster-wide access without get on namespaces: denied, naming the permission')
    const namespaces = uniqueName('nfss-get-namespaces')
    await cluster.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: namespaces }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'], resourceNames: [missing, namespace] }] })
    await cluster.apply({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: namespaces }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: namespaces }, subjects })
    await t.rejects(read(asReader({ namespace: missing }), `${missing}/nf-secret-source/scope=global`), { code: 'NFSS_STORE_UNAVAILABLE', message: `namespace ${missing} does not exist` }, 'with get on the namespace: unavailable')
    const there = asReader({ namespace })
    t.same(await read(there, there.locate('object', identity) as string), { found: false }, 'with get on the namespace: an existing one reads')

    const perProject = factory.create({ namespace: 'nfl-{projectId}', namespaces: { global: namespace } })
    t.same(await read(perProject, perProject.locate('object', identity) as string), { found: false }, 'a per-project namespace that does not exist is that project\'s empty layer')
  })

  t.test('list: an abort cancels the LIST in flight', async t => {
    const proxy = await startFaultProxy(Number(new URL(kube.server).port))
    t.teardown(proxy.close)
    const slow = factory.create({ kubeconfig: cluster.kubeconfig({ server: `https://127.0.0.1:${new URL(proxy.url).port}` }) })
    const { locator } = objectOf(uniqueIdentity())
    t.same(await slow.read(locator, AbortSignal.timeout(10_000)), { found: false }, 'reads through the proxy')
    proxy.set({ kind: 'latency', ms: 5000 })
    const started = Date.now()
    await t.rejects(slow.read(locator, AbortSignal.timeout(200)))
    t.ok(Date.now() - started < 1500, `rejected ${Date.now() - started} ms after the start, not after the 5 s latency`)
  })

  t.test('mapping: a Secret without annotations is an envFrom; keys that are not ENV names are skipped', async t => {
    const { locator, labels } = objectOf(uniqueIdentity())
    const name = uniqueName('env')
    await cluster.createSecret(namespace, {
      name,
      labels,
      data: { DATABASE_URL: 'postgres://db/app', _UNDER: 'u', 'tls.crt': 'cert', 'not-an-env': 'x', LATIN1: Buffer.from([0x67, 0xfc, 0x6e]), NUL: Buffer.from('a\u0000b') }
    })
    const result = await read(backend, locator)
    t.same(sortEntries(result.entries), [{ type: 'ENV', key: 'DATABASE_URL', value: 'postgres://db/app' }, { type: 'ENV', key: '_UNDER', value: 'u' }])
    t.same(result.invalid.map((i: any) => i.key).sort(), [`${name}/LATIN1`, `${name}/NUL`, `${name}/not-an-env`, `${name}/tls.crt`])
    t.match(result.invalid.find((i: any) => i.key === `${name}/tls.crt`).reason, /not an environment variable name.*mount-path/)
    t.notMatch(JSON.stringify(result.invalid), /cert|postgres/, 'reasons never hold values')
  })

  t.test('mapping: mount-path gives one FILE per key; binary data round-trips exactly as base64', async t => {
    const { locator, labels } = objectOf(uniqueIdentity())
    const binary = randomBytes(4096)
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('text after a BOM\n')])
    await cluster.createSecret(namespace, {
      name: uniqueName('files'),
      labels,
      annotations: { [ANNOTATIONS.mountPath]: '/etc/tls/', [ANNOTATIONS.fileMode]: '0400', [ANNOTATIONS.fileOwner]: '1000', [ANNOTATIONS.fileGroup]: 'inherit' },
      data: { 'tls.key': binary, 'tls.crt': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'bom.txt': bom, empty: '' }
    })
    const attributes = { permissions: { policy: 'AlwaysSet', mode: '0400' }, owner: { policy: 'AlwaysSetExplicit', value: '1000' }, group: { policy: 'AlwaysSetInherited' } }
    const result = await read(backend, locator)
    t.same(result.invalid, [])
    t.same(sortEntries(result.entries), [
      { type: 'FILE', path: '/etc/tls/bom.txt', data: bom.toString('utf8'), encoding: 'utf-8', ...attributes },
      { type: 'FILE', path: '/etc/tls/empty', data: '', encoding: 'utf-8', ...attributes },
      { type: 'FILE', path: '/etc/tls/tls.crt', data: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', encoding: 'utf-8', ...attributes },
      { type: 'FILE', path: '/etc/tls/tls.key', data: binary.toString('base64'), encoding: 'base64', ...attributes }
    ])
    const byPath = new Map(result.entries.map((e: any) => [e.path, e]))
    t.ok(Buffer.from((byPath.get('/etc/tls/tls.key') as any).data, 'base64').equals(binary), 'binary bytes are identical')
    t.ok(Buffer.from((byPath.get('/etc/tls/bom.txt') as any).data, 'utf8').equals(bom), 'the BOM is kept')
  })

  t.test('mapping: bad file annotations and annotation typos skip the Secret\'s keys, never serve them wrongly', async t => {
    const { locator, labels } = objectOf(uniqueIdentity())
    const badMode = uniqueName('bad-mode')
    const typo = uniqueName('typo')
    const stray = uniqueName('stray')
    await cluster.createSecret(namespace, { name: badMode, labels, annotations: { [ANNOTATIONS.mountPath]: '/etc/a', [ANNOTATIONS.fileMode]: 'rwx' }, data: { key: 'x' } })
    await cluster.createSecret(namespace, { name: typo, labels, annotations: { 'nf-secret-source/mountpath': '/etc/b' }, data: { KEY: 'x' } })
    await cluster.createSecret(namespace, { name: stray, labels, annotations: { [ANNOTATIONS.fileMode]: '0400' }, data: { OTHER: 'x' } })
    await cluster.createSecret(namespace, { name: uniqueName('relative'), labels, annotations: { [ANNOTATIONS.mountPath]: 'etc/c' }, data: { key: 'x' } })
    const result = await read(backend, locator)
    t.same(result.entries, [])
    t.same(result.invalid.map((i: any) => i.key).sort(), [`${badMode}/key`, `${stray}/OTHER`, `${typo}/KEY`, 'etc/c/key'].sort())
  })

  t.test('mapping: every Northflank policy from annotations (KeepOrSet through -policy annotations) and a mode per key', async t => {
    const { locator, labels } = objectOf(uniqueIdentity())
    await cluster.createSecret(namespace, {
      name: uniqueName('policies'),
      labels,
      annotations: {
        [ANNOTATIONS.mountPath]: '/etc/app',
        [ANNOTATIONS.fileMode]: '0644',
        [ANNOTATIONS.fileModePolicy]: 'KeepOrSet',
        [`${KEY_MODE_PREFIX}key.pem`]: '0400',
        [ANNOTATIONS.fileOwner]: '1000',
        [ANNOTATIONS.fileOwnerPolicy]: 'KeepOrSet',
        [ANNOTATIONS.fileGroup]: 'inherit'
      },
      data: { 'key.pem': 'secret key', 'app.conf': 'debug=false' }
    })
    const bad = uniqueName('per-key-typo')
    await cluster.createSecret(namespace, { name: bad, labels, annotations: { [ANNOTATIONS.mountPath]: '/etc/b', [`${KEY_MODE_PREFIX}missing`]: '0400' }, data: { present: 'x' } })
    const result = await read(backend, locator)
    const owner = { policy: 'KeepOrSetExplicit', value: '1000' }
    const group = { policy: 'AlwaysSetInherited' }
    t.same(sortEntries(result.entries), [
      { type: 'FILE', path: '/etc/app/app.conf', data: 'debug=false', encoding: 'utf-8', permissions: { policy: 'KeepOrSet', mode: '0644' }, owner, group },
      { type: 'FILE', path: '/etc/app/key.pem', data: 'secret key', encoding: 'utf-8', permissions: { policy: 'KeepOrSet', mode: '0400' }, owner, group }
    ], 'file-mode.key.pem sets that key\'s mode, the Secret\'s policy and owner apply to both')
    t.same(result.invalid.map((i: any) => i.key), [`${bad}/present`], 'a per-key mode for a key the Secret does not hold is an unknown annotation')
  })

  t.test('mapping: several Secrets apply in name order (later wins), unless nf-secret-source/priority orders them', async t => {
    const { locator, labels } = objectOf(uniqueIdentity())
    const create = async (name: string, data: Record<string, string>, priority?: string): Promise<void> => {
      await cluster.createSecret(namespace, { name, labels, data, ...(priority === undefined ? {} : { annotations: { [ANNOTATIONS.priority]: priority } }) })
    }
    const n = uniqueName('order')
    await create(`${n}-a`, { NAME: 'a', HIGH: 'a', LOW: 'a' })
    await create(`${n}-b`, { NAME: 'b' })
    await create(`${n}-c`, { LOW: 'c' }, '-1')
    await create(`${n}-0`, { HIGH: '0' }, '5')
    await create(`${n}-e`, { TIE: 'e' })
    await create(`${n}-d`, { TIE: 'd' }, '0')
    const values = Object.fromEntries((await read(backend, locator)).entries.map((e: any) => [e.key, e.value]))
    t.same(values, {
      NAME: 'b', // no priority: name order, later wins
      HIGH: '0', // priority 5 beats the default 0 although its name sorts first
      LOW: 'a', // priority -1 applies before everything else
      TIE: 'e' // equal priority (explicit 0 and none): by name
    })
  })

  t.test('labels: ids that are not label values are escaped injectively and still select their Secrets', async t => {
    const long = `L${'x'.repeat(100)}`
    const ids = [long, `${long}y`, 'trailing.', 'trailing_', 'trailing-', 'trailing']
    const identities = ids.map(projectId => ({ projectId, nfObjectId: 'svc', nfObjectType: 'service' }))
    const locators = identities.map(i => backend.locate('object', i) as string)
    t.equal(new Set(locators).size, ids.length, locators.join('\n'))
    for (const id of ids) t.ok(escapeLabelValue(id).length <= 63)
    for (const [i, identity] of identities.entries()) {
      await seedLocator(cluster, locators[i] as string, { env: { OWNER: identity.projectId.slice(-12) }, files: [] })
    }
    for (const [i, identity] of identities.entries()) {
      t.same((await read(backend, locators[i] as string)).entries, [{ type: 'ENV', key: 'OWNER', value: identity.projectId.slice(-12) }], `${identity.projectId.slice(-12)} sees only its own Secret`)
    }
  })

  t.test('selectors: the informer\'s in-memory matching selects exactly what the apiserver selects', async t => {
    const ns = uniqueName('nfss-match')
    const variants: Array<Record<string, string>> = [{}, { tier: 'db' }, { tier: 'web' }, { tier: 'db', zone: 'a' }, { zone: '' }, { zone: 'b', 'example.com/team': 'x' }]
    for (const [i, labels] of variants.entries()) await cluster.createSecret(ns, { name: `s${i}`, labels })
    const selectors = ['tier', '!tier', 'tier=db', 'tier==web', 'tier!=db', 'tier in (db,web)', 'tier notin (db)', 'zone=', 'zone,!tier', 'example.com/team=x', 'tier=db,zone in (a, b)']
    for (const selector of selectors) {
      const listed = await kube.request('GET', `/api/v1/namespaces/${ns}/secrets?labelSelector=${encodeURIComponent(selector)}`)
      const fromApi = listed.body.items.map((s: any) => s.metadata.name).sort()
      const requirements = parseSelector(selector) as Requirement[]
      const inMemory = variants.flatMap((labels, i) => matchesSelector(requirements, labels) ? [`s${i}`] : []).sort()
      t.same(inMemory, fromApi, selector)
    }
  })
}
