// type: kubernetes, strategy informer (the default), against a real kube-apiserver: the shared
// contract with a namespace per project (one cluster-wide watch), reads without API calls,
// changes arriving through the watch, the whole service over HTTP, RBAC with a real service
// account token and the shipped deploy/rbac manifests, and the last state served while the
// apiserver is unreachable (through a fault proxy, then stopped for good: keep that test last).
// Freshness: reads fail staleLimitSeconds after the apiserver's last word, even before a failure is
// noticed (silent relay, blackhole, watches that open but deliver nothing, ERROR events), and a
// quiet healthy watch is never reported stale.
import { readFileSync } from 'node:fs'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import type { Backend } from '../../../src/store/port.js'
import type { Identity } from '../../../src/core/identity.js'
import { callStore } from '../../../src/store-call.js'
import { startFaultProxy } from '../../helpers/fault-proxy.js'
import { capturingLogger, silentLogger } from '../../helpers/logger.js'
import { startTestService } from '../../helpers/service.js'
import { freePort, waitUntil } from '../../servers/common.js'
import { backendContract, uniqueIdentity } from '../contract.js'
import { KubeApi, loadKubeConfig } from '../../../backends/kubernetes/client.js'
import { informerStrategy } from '../../../backends/kubernetes/informer.js'
import { namespaceCheck } from '../../../backends/kubernetes/namespaces.js'
import { parseSelector, type Requirement } from '../../../backends/kubernetes/labels.js'
import { DEFAULT_MANAGED_LABEL } from '../../../backends/kubernetes/layout.js'
import { ANNOTATIONS } from '../../../backends/kubernetes/secrets.js'
import { KubeTestCluster, backendFactory, kubeForSuite, labelsFor, seedLocator, uniqueName, untilEntries } from './kubernetes-fixture.js'

t.setTimeout(300_000)
const kube = await kubeForSuite(t, 'kubernetes (strategy informer)')
if (kube !== undefined) {
  const cluster = new KubeTestCluster(kube)
  t.teardown(() => { cluster.close() })
  const adminKubeconfig = cluster.kubeconfig({ name: 'admin' })
  const factory = backendFactory({ kubeconfig: adminKubeconfig })
  t.teardown(factory.closeAll)
  const fast = { retryDelayMs: { initial: 100, max: 400 } }
  const read = async (b: Backend, locator: string): Promise<any> => await callStore(b, locator, 10_000)
  const entryCount = (seed: { env: object, files: unknown[] }): number => Object.keys(seed.env).length + seed.files.length
  /** A fixed-namespace backend and a helper that seeds a layer and waits until the informer has it. */
  const fixedBackend = async (extra: Record<string, unknown> = {}, options: Parameters<typeof factory.create>[1] = {}): Promise<{ backend: Backend, namespace: string }> => {
    const namespace = uniqueName('nfss-fixed')
    await cluster.ensureNamespace(namespace)
    return { backend: factory.create({ namespace, ...extra }, options), namespace }
  }
  const object = (backend: Backend, identity: Identity): { locator: string, labels: Record<string, string> } => {
    const locator = backend.locate('object', identity) as string
    return { locator, labels: labelsFor(locator.slice(locator.indexOf('/') + 1)) }
  }

  /** Reads every 20 ms until one fails: how long after `from` it failed (Infinity: never, within timeoutMs), and why. */
  const firstFailure = async (readOnce: () => Promise<unknown>, from: number, timeoutMs = 10_000): Promise<{ afterMs: number, err?: any }> => {
    for (;;) {
      try { await readOnce() } catch (err) { return { afterMs: Date.now() - from, err } }
      if (Date.now() - from > timeoutMs) return { afterMs: Infinity }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
  /** Reads may fail this long after staleLimitSeconds has passed since the last contact (polling, timers). */
  const MARGIN_MS = 1000
  type StreamFault = 'none' | 'silent' | 'error-event'
  /**
   * The informer over the real apiserver, with faults injected where TLS hides them from a TCP proxy:
   * in the event stream. Setting a fault ends the open watches cleanly. 'silent': each watch is opened
   * for real (HTTP 200), none of its events is passed on, and it ends cleanly after 200 ms; LISTs hang.
   * 'error-event': what the apiserver sends when a watch fails on its side, an ERROR event with a
   * Status (code 500), then the end of the stream.
   */
  const faultyInformer = (t: Test, namespace: string, staleLimitSeconds: number, logger = silentLogger()): { set: (f: StreamFault) => void, value: () => Promise<string | undefined>, calls: { list: number, watch: number } } => {
    const real = new KubeApi(loadKubeConfig({ kubeconfig: adminKubeconfig }, process.cwd()))
    let fault: StreamFault = 'none'
    const calls = { list: 0, watch: 0 }
    /** Ends the watches that are open (the server closes them cleanly). */
    const live = new Set<() => void>()
    const api = {
      async listPage (request: Parameters<KubeApi['listPage']>[0]) {
        calls.list++
        if (fault === 'silent') await new Promise((_resolve, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true }))
        return await real.listPage(request)
      },
      async watch (...[namespace, params, limits, onEvent, done]: Parameters<KubeApi['watch']>) {
        calls.watch++
        let ended = false
        const end = (err: unknown): void => { if (!ended) { ended = true; live.delete(stop); done(err) } }
        const controller = await real.watch(namespace, params, limits, (type, object) => { if (fault === 'none') onEvent(type, object) }, err => { end(fault === 'none' ? err : null) })
        const stop = (): void => { controller.abort(); end(null) }
        if (ended) return controller
        live.add(stop)
        if (fault === 'silent') setTimeout(stop, 200)
        if (fault === 'error-event') setImmediate(() => { onEvent('ERROR', { kind: 'Status', status: 'Failure', reason: 'InternalError', message: 'injected', code: 500 }); stop() })
        return controller
      }
    } as unknown as KubeApi
    const source = informerStrategy({
      api, managedLabel: DEFAULT_MANAGED_LABEL, logger, staleLimitMs: staleLimitSeconds * 1000, retryDelayMs: fast.retryDelayMs,
      watch: { watchSeconds: 300, connectTimeoutMs: 1000 }, fixedNamespaces: new Set([namespace]), clusterWide: false, namespaceThere: namespaceCheck(real)
    })
    t.teardown(async () => { await source.close() })
    const selector = { text: DEFAULT_MANAGED_LABEL, requirements: parseSelector(DEFAULT_MANAGED_LABEL) as Requirement[] }
    const value = async (): Promise<string | undefined> => {
      const secrets = await source.select(namespace, selector, AbortSignal.timeout(5000))
      const entry = secrets.flatMap(s => s.entries).find(e => e.type === 'ENV' && e.key === 'VALUE')
      return entry?.type === 'ENV' ? entry.value : undefined
    }
    return { set: f => { fault = f; if (f !== 'none') for (const stop of [...live]) stop() }, value, calls }
  }
  const untilValue = async (value: () => Promise<string | undefined>, wanted: string, timeoutMs = 10_000): Promise<void> => {
    await waitUntil(`the value ${wanted} is served`, async () => await value().catch(() => undefined) === wanted, timeoutMs)
  }

  await t.test('contract: strategy informer, a namespace per project (one cluster-wide watch)', async t => {
    const globalNamespace = uniqueName('nfss-global')
    await cluster.ensureNamespace(globalNamespace) // a configured namespace is part of the store: it must exist
    const config = { namespace: 'nfi-{projectId}', namespaces: { global: globalNamespace } }
    const backend = factory.create(config, { seam: fast })
    const escaped = backend.locate('object', { projectId: 'Proj.1', nfObjectId: 'o', nfObjectType: 'service' })?.split('/')[0] ?? ''
    t.match(escaped, /^nfi-proj-1--[0-9a-f]{32}$/, 'an id that is not a DNS label is escaped in the namespace name')
    await backendContract(t, {
      backend,
      seed: async (layer, identity, seed) => {
        const locator = backend.locate(layer, identity) as string
        await seedLocator(cluster, locator, seed)
        await untilEntries(backend, locator, entryCount(seed))
      },
      seedMalformed: async (layer, identity) => {
        const { locator, labels } = object(backend, identity)
        await cluster.createSecret(locator.split('/')[0] as string, { name: 'bad-priority', labels, annotations: { [ANNOTATIONS.priority]: '1.5' }, data: { A: '1' } })
        await waitUntil('the informer sees the Secret', async () => await read(backend, locator).then(() => false, () => true), 10_000)
      },
      denied: async () => ({ backend: factory.create({ ...config, kubeconfig: cluster.kubeconfig({ token: kube.restrictedToken }) }), layer: 'object', identity: uniqueIdentity() }),
      unreachable: async () => factory.create({ ...config, kubeconfig: cluster.kubeconfig({ server: `https://127.0.0.1:${await freePort()}` }) }),
      // The configured global namespace does not exist: the cluster-wide watch would see it as empty.
      missingStore: async () => factory.create({ ...config, namespaces: { global: uniqueName('nfss-missing') } }, { seam: fast }),
      service: { skip: 'the informer end to end has its own case: "end to end: the service answers over HTTP from the apiserver"' },
      storeCalls: { skip: 'the informer reads from memory: no API call per read, counted in "after the sync, reads cost no API call"' }
    })
  })

  t.test('informer: after the sync, reads cost no API call (one LIST and one WATCH per namespace)', async t => {
    const requests: string[] = []
    const { backend, namespace } = await fixedBackend({}, { seam: { onRequest: r => requests.push(`${r.verb} ${r.path}`) } })
    await backend.ready(AbortSignal.timeout(10_000))
    const { locator } = object(backend, uniqueIdentity())
    await seedLocator(cluster, locator, { env: { A: '1', B: '2' }, files: [] })
    await untilEntries(backend, locator, 2)
    const before = requests.length
    const sizes = new Set<number>()
    for (let i = 0; i < 200; i++) sizes.add((await read(backend, locator)).entries.length)
    t.same([...sizes], [2], 'every read answered')
    t.equal(requests.length - before, 0, '200 reads, no API call')
    t.same(requests, [`get /api/v1/namespaces/${namespace}`, `list /api/v1/namespaces/${namespace}/secrets`, `watch /api/v1/namespaces/${namespace}/secrets`], 'the namespace proven to exist, one LIST, one WATCH')
  })

  t.test('informer: partial answer when a store is missing: a configured namespace that does not exist fails reads until it is created', async t => {
    const namespace = uniqueName('nfss-late')
    const backend = factory.create({ namespace }, { seam: fast })
    const { locator } = object(backend, uniqueIdentity())
    t.same((await kube.request('GET', `/api/v1/namespaces/${namespace}/secrets`)).body.items, [], 'the apiserver LISTs a missing namespace as empty')
    await t.rejects(read(backend, locator), { code: 'NFSS_STORE_UNAVAILABLE', message: `namespace ${namespace} does not exist` }, 'never an empty layer')
    await t.rejects(backend.ready(AbortSignal.timeout(10_000)), { code: 'NFSS_STORE_UNAVAILABLE' }, 'readiness says the same')
    await cluster.ensureNamespace(namespace)
    await waitUntil('the informer syncs once the namespace exists', async () => await read(backend, locator).then(r => r.found === false, () => false), 10_000)
    t.pass('created: the layer reads as empty, the informer synced without a restart')
  })

  t.test('informer: changes arrive through the watch without a restart, within a second or two', async t => {
    const { backend, namespace } = await fixedBackend()
    const { locator, labels } = object(backend, uniqueIdentity())
    const name = uniqueName('live')
    await cluster.createSecret(namespace, { name, labels, data: { VALUE: 'v1' } })
    t.comment(`created: visible after ${await untilEntries(backend, locator, 1)} ms`)
    const valueAfterChange = async (change: () => Promise<void>, wanted: string | undefined): Promise<number> => {
      await change()
      const started = Date.now()
      for (;;) {
        const result = await read(backend, locator)
        const value = result.found === true ? result.entries.find((e: any) => e.key === 'VALUE')?.value : undefined
        if (value === wanted) return Date.now() - started
        if (Date.now() - started > 5000) throw new Error(`still ${String(value)} after 5 s`)
        await new Promise(resolve => setTimeout(resolve, 5))
      }
    }
    const updated = await valueAfterChange(async () => { await cluster.patchSecret(namespace, name, { data: { VALUE: 'v2' } }) }, 'v2')
    t.ok(updated < 2000, `an update is served ${updated} ms after the PATCH returned`)
    const unlabelled = await valueAfterChange(async () => { await cluster.patchSecret(namespace, name, { labels: { 'nf-secret-source/managed': null } }) }, undefined)
    t.ok(unlabelled < 2000, `a Secret that loses the managed label leaves the layer after ${unlabelled} ms`)
    await cluster.patchSecret(namespace, name, { labels: { 'nf-secret-source/managed': 'true' } })
    await untilEntries(backend, locator, 1)
    const deleted = await valueAfterChange(async () => { await cluster.deleteSecret(namespace, name) }, undefined)
    t.ok(deleted < 2000, `a deleted Secret is gone after ${deleted} ms`)
    t.same(await read(backend, locator), { found: false }, 'an empty layer again')
  })

  t.test('end to end: the service answers over HTTP from the apiserver (kubeconfig file, informer), changes included', async t => {
    const namespace = uniqueName('nfss-e2e')
    const service = await startTestService({ backends: [{ name: 'kube', type: 'kubernetes', kubeconfig: adminKubeconfig, namespace, cache: { ttl: 0 } }] })
    t.teardown(service.close)
    const identity = uniqueIdentity()
    const backend = factory.create({ namespace })
    const locator = (layer: string): string => backend.locate(layer, identity) as string
    await seedLocator(cluster, locator('global'), { env: { E2E_GLOBAL: 'g', E2E_OVERRIDE: 'global' }, files: [] })
    await seedLocator(cluster, locator('project'), { env: { E2E_OVERRIDE: 'project' }, files: [] })
    const fileSecret = uniqueName('e2e-file')
    await cluster.createSecret(namespace, { name: fileSecret, labels: labelsFor(locator('object').slice(namespace.length + 1)), annotations: { [ANNOTATIONS.mountPath]: '/etc/e2e', [ANNOTATIONS.fileMode]: '0440' }, data: { 'key.bin': Buffer.from([0, 1, 2, 255]) } })
    await seedLocator(cluster, locator('object'), { env: { E2E_OVERRIDE: 'object' }, files: [] })
    const expected = (override: string): unknown => ({
      secrets: [
        { type: 'ENV', key: 'E2E_GLOBAL', value: 'g' },
        { type: 'ENV', key: 'E2E_OVERRIDE', value: override },
        { type: 'FILE', path: '/etc/e2e/key.bin', data: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64', permissions: { policy: 'AlwaysSet', mode: '0440' } }
      ]
    })
    let answer: unknown
    await waitUntil('the service answers with every layer', async () => {
      const res = await service.fetchAs(identity)
      answer = res.status === 200 ? await res.json() : res.status
      return JSON.stringify(answer) === JSON.stringify(expected('object'))
    }, 10_000).catch(() => {})
    t.same(answer, expected('object'))
    const objectEnv = (await kube.request('GET', `/api/v1/namespaces/${namespace}/secrets`)).body.items.find((s: any) => s.metadata.labels?.['nf-secret-source/object'] !== undefined && s.data.E2E_OVERRIDE !== undefined)
    await cluster.patchSecret(namespace, objectEnv.metadata.name, { data: { E2E_OVERRIDE: 'changed' } })
    await waitUntil('the change is served without a restart', async () => JSON.stringify(await (await service.fetchAs(identity)).json()) === JSON.stringify(expected('changed')), 5000)
    t.pass('the change is served without a restart')
  })

  t.test('RBAC: a service account without bindings gets 403 -> 503; with deploy/rbac it reads, and only reads', async t => {
    const saNamespace = uniqueName('nfss-sa')
    const token = await cluster.serviceAccountToken(saNamespace, 'reader')
    const saKubeconfig = cluster.kubeconfig({ token })
    const namespace = uniqueName('nfss-rbac')
    await cluster.ensureNamespace(namespace)
    const { logger, lines } = capturingLogger('info')
    const service = await startTestService({ backends: [{ name: 'kube', type: 'kubernetes', kubeconfig: saKubeconfig, namespace }] }, { logger })
    t.teardown(service.close)
    const res = await service.fetchAs(uniqueIdentity())
    t.equal(res.status, 503, 'denied is a 503, never an empty answer')
    t.match(await res.json(), { code: 'NFSS_STORE_DENIED' })
    t.match(lines(), `system:serviceaccount:${saNamespace}:reader`, 'the log names the service account')
    t.match(lines(), `namespace ${namespace}`, 'and the namespace')
    t.notMatch(lines(), token, 'never the token')

    const manifests = (file: string): any[] => parseAllDocuments(readFileSync(`deploy/rbac/${file}`, 'utf8')).map(d => d.toJS())
    for (const manifest of manifests('namespace-role.yaml')) {
      if (manifest.metadata.namespace !== undefined) manifest.metadata.namespace = namespace
      for (const subject of manifest.subjects ?? []) Object.assign(subject, { name: 'reader', namespace: saNamespace })
      await cluster.apply(manifest)
    }
    for (const strategy of ['informer', 'list']) {
      const reader = factory.create({ kubeconfig: saKubeconfig, namespace, strategy }, { seam: fast })
      const { locator, labels } = object(reader, uniqueIdentity())
      await cluster.createSecret(namespace, { name: uniqueName(`granted-${strategy}`), labels, data: { GRANTED: strategy } })
      await untilEntries(reader, locator, 1)
      t.same((await read(reader, locator)).entries, [{ type: 'ENV', key: 'GRANTED', value: strategy }], `namespace-role.yaml lets the ${strategy} strategy read`)
    }
    const write = await kube.request('POST', `/api/v1/namespaces/${namespace}/secrets`, { token, body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'nope' } } })
    t.equal(write.status, 403, 'the role cannot create Secrets')
    const other = await kube.request('GET', `/api/v1/namespaces/${namespace}/configmaps`, { token })
    t.equal(other.status, 403, 'nor read anything but Secrets')
    const byName = await kube.request('GET', `/api/v1/namespaces/${namespace}/secrets/nope`, { token })
    t.equal(byName.status, 403, 'least privilege: no get on Secrets, the backend only lists and watches')

    for (const manifest of manifests('cluster-role.yaml')) {
      for (const subject of manifest.subjects ?? []) Object.assign(subject, { name: 'reader', namespace: saNamespace })
      await cluster.apply(manifest)
    }
    const clusterWide = factory.create({ kubeconfig: saKubeconfig, namespace: 'nfr-{projectId}' }, { seam: fast })
    const identity = uniqueIdentity()
    const { locator, labels } = object(clusterWide, identity)
    await cluster.createSecret(locator.split('/')[0] as string, { name: 'granted', labels, data: { CLUSTER_WIDE: 'yes' } })
    await untilEntries(clusterWide, locator, 1)
    t.pass('cluster-role.yaml lets the cluster-wide informer read a project namespace')
  })

  t.test('stale: while the apiserver cannot be reached the last state is served, and the watch resumes after', async t => {
    const proxy = await startFaultProxy(Number(new URL(kube.server).port))
    t.teardown(proxy.close)
    const { logger, lines } = capturingLogger('info')
    const namespace = uniqueName('nfss-proxy')
    await cluster.ensureNamespace(namespace)
    const viaProxy = cluster.kubeconfig({ server: `https://127.0.0.1:${new URL(proxy.url).port}` })
    const backend = factory.create({ kubeconfig: viaProxy, namespace }, { seam: fast, logger })
    const { locator, labels } = object(backend, uniqueIdentity())
    const name = uniqueName('outage')
    await cluster.createSecret(namespace, { name, labels, data: { VALUE: 'before' } })
    await untilEntries(backend, locator, 1)

    proxy.set({ kind: 'reset' }) // drops the watch and refuses every new connection
    await waitUntil('the watcher notices', async () => lines().includes('(stale)'), 10_000)
    await cluster.patchSecret(namespace, name, { data: { VALUE: 'during' } })
    t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'VALUE', value: 'before' }], 'the last synced state is served')
    await t.resolves(backend.ready(AbortSignal.timeout(1000)), 'and the backend stays ready')

    proxy.set({ kind: 'none' })
    const started = Date.now()
    await waitUntil('the change made during the outage arrives', async () => (await read(backend, locator)).entries[0]?.value === 'during', 10_000)
    t.comment(`caught up ${Date.now() - started} ms after the apiserver became reachable again`)
    t.match(lines(), 're-established', 'the recovery is logged')
  })

  t.test('stale: a watch that hangs (connection accepted, never answered) is given up and retried', async t => {
    const proxy = await startFaultProxy(Number(new URL(kube.server).port))
    t.teardown(proxy.close)
    const { logger, lines } = capturingLogger('info')
    const watches: string[] = []
    const namespace = uniqueName('nfss-hang')
    await cluster.ensureNamespace(namespace)
    const seam = { ...fast, watchTiming: { watchSeconds: 300, connectTimeoutMs: 300 }, onRequest: (r: { verb: string }) => { if (r.verb === 'watch') watches.push(r.verb) } }
    const backend = factory.create({ kubeconfig: cluster.kubeconfig({ server: `https://127.0.0.1:${new URL(proxy.url).port}` }), namespace }, { seam, logger })
    const { locator, labels } = object(backend, uniqueIdentity())
    await cluster.createSecret(namespace, { name: uniqueName('hang'), labels, data: { STILL: 'here' } })
    await untilEntries(backend, locator, 1)

    proxy.set({ kind: 'blackhole' })
    const before = watches.length
    await waitUntil('three more watch attempts', async () => watches.length - before >= 3, 10_000)
    t.pass(`${watches.length - before} watch attempts: none is waited on for ever`)
    t.match(lines(), '(stale)', 'the outage is logged as stale')
    t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'STILL', value: 'here' }], 'the last state is served')
    proxy.set({ kind: 'none' })
    await waitUntil('the watch is re-established', async () => lines().includes('re-established'), 10_000)
  })

  t.test('stale: reads fail staleLimitSeconds after the last word from the apiserver, before a silently dead watch is noticed', async t => {
    const relay = await startSilentRelay(Number(new URL(kube.server).port))
    t.teardown(relay.close)
    const { logger, lines } = capturingLogger('info')
    const viaRelay = cluster.kubeconfig({ server: `https://127.0.0.1:${relay.port}` })
    // Default watch timing: the dead watch would be noticed only after 5-6 minutes.
    const { backend, namespace } = await fixedBackend({ kubeconfig: viaRelay, staleLimitSeconds: 2 }, { seam: fast, logger })
    const { locator, labels } = object(backend, uniqueIdentity())
    await cluster.createSecret(namespace, { name: uniqueName('silent'), labels, data: { VALUE: 'before' } })
    await untilEntries(backend, locator, 1)

    relay.silence() // the peer vanished: no FIN, no RST, nothing more arrives on the open watch
    const silencedAt = Date.now()
    t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'VALUE', value: 'before' }], 'the last state is served at first')
    const { afterMs, err } = await firstFailure(async () => await read(backend, locator), silencedAt)
    t.ok(afterMs <= 2000 + MARGIN_MS, `reads fail ${afterMs} ms after contact was lost (staleLimitSeconds 2, margin ${MARGIN_MS} ms)`)
    t.match(err, { code: 'NFSS_STORE_UNAVAILABLE' }, 'as unavailable (503), never empty')
    t.notMatch(lines(), 'failed: serving the last synced state', 'although no failure has been noticed yet')
    t.match(lines(), 'reads fail', 'the reason is logged')
  })

  t.test('stale: after the watch is dropped into a blackhole, reads fail staleLimitSeconds after the last contact, not after the reconnect times out', async t => {
    const proxy = await startFaultProxy(Number(new URL(kube.server).port))
    t.teardown(proxy.close)
    const viaProxy = cluster.kubeconfig({ server: `https://127.0.0.1:${new URL(proxy.url).port}` })
    // Default watch timing: a reconnect that is never answered is given up after 30 s.
    const { backend, namespace } = await fixedBackend({ kubeconfig: viaProxy, staleLimitSeconds: 2 }, { seam: fast })
    const { locator, labels } = object(backend, uniqueIdentity())
    await cluster.createSecret(namespace, { name: uniqueName('drop'), labels, data: { VALUE: 'before' } })
    await untilEntries(backend, locator, 1)

    proxy.set({ kind: 'blackhole' }) // drops the watch; every new connection is accepted and never answered
    const droppedAt = Date.now()
    const { afterMs, err } = await firstFailure(async () => await read(backend, locator), droppedAt)
    t.ok(afterMs <= 2000 + MARGIN_MS, `reads fail ${afterMs} ms after contact was lost (staleLimitSeconds 2, margin ${MARGIN_MS} ms)`)
    t.match(err, { code: 'NFSS_STORE_UNAVAILABLE' }, 'as unavailable (503)')
    proxy.set({ kind: 'none' })
    await untilEntries(backend, locator, 1, 45_000)
    t.pass('served again once the apiserver answers')
  })

  t.test('stale: a watch that opens (HTTP 200) but delivers nothing is no proof that the state is current', async t => {
    const namespace = uniqueName('nfss-open')
    await cluster.ensureNamespace(namespace)
    const informer = faultyInformer(t, namespace, 2)
    const name = uniqueName('open')
    await cluster.createSecret(namespace, { name, labels: { 'nf-secret-source/managed': 'true' }, data: { VALUE: 'v1' } })
    await untilValue(informer.value, 'v1')

    informer.set('silent')
    const faultAt = Date.now()
    const watchesBefore = informer.calls.watch
    await cluster.patchSecret(namespace, name, { data: { VALUE: 'v2' } }) // never delivered while the fault lasts
    const { afterMs, err } = await firstFailure(async () => { if (await informer.value() !== 'v1') throw new Error('not the last synced value') }, faultAt)
    t.ok(afterMs <= 2000 + MARGIN_MS, `reads fail ${afterMs} ms after contact was lost (staleLimitSeconds 2, margin ${MARGIN_MS} ms)`)
    t.match(err, { code: 'NFSS_STORE_UNAVAILABLE' }, 'with an unavailable error, never the old value past the limit')
    t.ok(informer.calls.watch - watchesBefore >= 1, `although ${informer.calls.watch - watchesBefore} watch(es) opened with HTTP 200 meanwhile`)
    informer.set('none')
    await untilValue(informer.value, 'v2')
    t.pass('the change arrives once the apiserver answers again')
  })

  t.test('stale: a watch ERROR event other than 410 Gone is a failure: logged, retried with backoff after a fresh LIST', async t => {
    const namespace = uniqueName('nfss-error')
    await cluster.ensureNamespace(namespace)
    const { logger, lines } = capturingLogger('info')
    const informer = faultyInformer(t, namespace, 600, logger)
    const name = uniqueName('error')
    await cluster.createSecret(namespace, { name, labels: { 'nf-secret-source/managed': 'true' }, data: { VALUE: 'v1' } })
    await untilValue(informer.value, 'v1')

    informer.set('error-event')
    const before = { ...informer.calls }
    await cluster.patchSecret(namespace, name, { data: { VALUE: 'v2' } }) // no watch delivers it: only a LIST can
    await untilValue(informer.value, 'v2', 5000)
    t.pass('the change is picked up by the LIST that follows the ERROR')
    await waitUntil('the failure is logged', async () => lines().includes('(stale)'), 5000)
    t.match(lines(), /watch of secrets in namespace \S+ failed.*HTTP 500|HTTP 500.*watch of secrets in namespace \S+ failed/, 'logged as a failure, with the Status code')
    await new Promise(resolve => setTimeout(resolve, 2000))
    const watches = informer.calls.watch - before.watch
    t.ok(watches <= 12, `${watches} watch attempts in about 2 s: backed off, not a tight loop`)
    t.ok(informer.calls.list - before.list >= 2, 'each retry starts with a LIST')
  })

  t.test('stale: a LIST that is never answered is given up after two connect timeouts, and the sync is retried', async t => {
    const namespace = uniqueName('nfss-list-hang')
    await cluster.ensureNamespace(namespace)
    const { logger, lines } = capturingLogger('info')
    const informer = faultyInformer(t, namespace, 600, logger) // connectTimeoutMs 1000: the LIST has 2 s
    // Set before anything is awaited: the watcher starts at once, and its first LIST must hang.
    // (The namespace check before it goes to the real apiserver.)
    informer.set('silent')
    while (informer.calls.list === 0) await new Promise(resolve => setTimeout(resolve, 5))
    const started = Date.now() // the LIST went out at most 5 ms ago
    await cluster.createSecret(namespace, { name: uniqueName('list-hang'), labels: { 'nf-secret-source/managed': 'true' }, data: { VALUE: 'v1' } })
    const err: any = await informer.value().then(() => undefined, (e: unknown) => e)
    const afterMs = Date.now() - started
    t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: /list secrets in namespace \S+: no answer within 2 s/ }, 'the waiting read fails as unavailable, naming the LIST')
    t.ok(afterMs >= 1900 && afterMs <= 2000 + MARGIN_MS, `${afterMs} ms after the LIST went out (its deadline is 2 s; the poll and libuv's loop time may be a few ms off)`)
    t.match(lines(), 'cannot sync', 'logged')
    informer.set('none')
    await untilValue(informer.value, 'v1')
    t.pass('synced once the apiserver answers the retried LIST')
  })

  t.test('fresh: a quiet, healthy watch is not declared stale: without events or bookmarks a LIST re-confirms the state before the limit', async t => {
    const lists: string[] = []
    const seam = { ...fast, onRequest: (r: { verb: string, path: string }) => { if (r.verb === 'list') lists.push(r.path) } }
    // 3 s: a LIST every 1.5 s, each with 1.5 s to answer on a loaded CI machine.
    const { backend, namespace } = await fixedBackend({ staleLimitSeconds: 3 }, { seam })
    const { locator, labels } = object(backend, uniqueIdentity())
    await cluster.createSecret(namespace, { name: uniqueName('quiet'), labels, data: { VALUE: 'quiet' } })
    await untilEntries(backend, locator, 1)
    const listsBefore = lists.length
    const started = Date.now()
    const outcomes: string[] = []
    while (Date.now() - started < 6000) {
      outcomes.push(await read(backend, locator).then(r => `${String(r.entries.length)} entries`, (err: any) => String(err.code)))
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    t.same([...new Set(outcomes)], ['1 entries'], `${outcomes.length} reads over 6 s (twice staleLimitSeconds) with no event: every one answered`)
    t.ok(lists.length - listsBefore >= 3, `${lists.length - listsBefore} LISTs re-confirmed the state (one per half limit)`)
    t.ok(lists.length - listsBefore <= 7, 'and not many more')
  })

  // Last: stops the apiserver for good.
  t.test('stale: when the apiserver stops, the last state is served until staleLimitSeconds', async t => {
    const { logger, lines } = capturingLogger('info')
    const { backend, namespace } = await fixedBackend({}, { seam: fast, logger })
    const limited = factory.create({ namespace, staleLimitSeconds: 2 }, { seam: fast })
    const { locator, labels } = object(backend, uniqueIdentity())
    await cluster.createSecret(namespace, { name: uniqueName('last'), labels, data: { LAST: 'state' } })
    await untilEntries(backend, locator, 1)
    await untilEntries(limited, locator, 1)

    await kube.stop()
    await waitUntil('the watcher notices', async () => lines().includes('(stale)'), 15_000)
    const stoppedAt = Date.now()
    t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'LAST', value: 'state' }], 'served from the last synced state')
    await t.resolves(backend.ready(AbortSignal.timeout(1000)), 'still ready')
    t.match(lines(), /serving the last synced state \(stale\) while retrying/)
    // The last word from the apiserver came before stoppedAt, so 2 s after it the limit has passed.
    await new Promise(resolve => setTimeout(resolve, Math.max(0, 2100 - (Date.now() - stoppedAt))))
    await t.rejects(read(limited, locator), { code: 'NFSS_STORE_UNAVAILABLE' }, 'past staleLimitSeconds a read fails (503), never empty')
    await t.rejects(limited.ready(AbortSignal.timeout(1000)), 'and readiness fails with it')
    t.same((await read(backend, locator)).entries.length, 1, 'the default limit (600 s) still serves')
  })
}

/**
 * A TCP relay that can go silent like a peer that vanished: open connections stay open but nothing
 * more passes either way (no FIN, no RST), and new ones are accepted and never answered. (The fault
 * proxy drops live connections when its fault changes, which a client notices at once.)
 */
async function startSilentRelay (targetPort: number): Promise<{ port: number, silence: () => void, close: () => Promise<void> }> {
  let silent = false
  const sockets = new Set<Socket>()
  const track = (socket: Socket): Socket => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)).on('error', () => {}); return socket }
  const server = createServer(client => {
    track(client)
    if (silent) { client.resume(); return }
    const upstream = track(connect(targetPort, '127.0.0.1'))
    client.on('data', (chunk: Buffer) => { if (!silent) upstream.write(chunk) })
    upstream.on('data', (chunk: Buffer) => { if (!silent) client.write(chunk) })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => { if (!silent) client.destroy() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    silence: () => { silent = true },
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise(resolve => server.close(resolve))
    }
  }
}
