// type: vault, KV side, against a real OpenBao dev server (vault-server.ts): the shared contract
// for KV v2 and KV v1 with token auth, mounts named like "data", deleted versions, invalid
// entries, namespaces, readiness, 403/404 (a missing secret vs a missing mount), and the whole
// service over HTTP. Answers OpenBao
// never gives come from FAKES (vault-fakes.ts).
import t from 'tap'
import type { Backend } from '../../../src/store/port.js'
import { createVaultBackend, vaultDefinition, type VaultSeam } from '../../../backends/vault/index.js'
import type { VaultCall } from '../../../backends/vault/http.js'
import type { Identity } from '../../../src/core/identity.js'
import { callStore } from '../../../src/store-call.js'
import { capturingLogger, silentLogger } from '../../helpers/logger.js'
import { startTestService } from '../../helpers/service.js'
import { freePort } from '../../servers/common.js'
import { backendContract, documentOf, sortEntries, uniqueIdentity } from '../contract.js'
import { startFakeVault, startRecordingProxyFake, type FakeAnswer } from './vault-fakes.js'
import { ABSENT_MOUNTS, DATA_MOUNTS, EMPTY_NAMESPACE, FORBIDDEN_PROJECT, KV1, NAMESPACE, openBaoForSuite } from './vault-server.js'
import { backendConfig, storeContext } from '../kit.js'

const bao = await openBaoForSuite(t, 'vault (KV)')
if (bao !== undefined) {
  const reader = await bao.readerToken()
  const context = { logger: silentLogger(), baseDir: process.cwd(), layers: ['global', 'project', 'object'] }

  /** The backend config as the service builds it: schema defaults applied and validated. */
  const configOf = (extra: Record<string, unknown> = {}): any => backendConfig({ name: 'bao', type: 'vault', address: bao.address, auth: { method: 'token', token: reader }, ...extra })

  const backends: Backend[] = []
  t.teardown(async () => { await Promise.allSettled(backends.map(async b => { await b.close() })) }) // never blocks bao.stop
  const create = (extra: Record<string, unknown> = {}, seam: VaultSeam = {}, logger = context.logger): Backend => {
    const config = configOf(extra)
    const backend = createVaultBackend(config, storeContext(vaultDefinition, config, { ...context, logger }), seam)
    backends.push(backend)
    return backend
  }
  const read = async (b: Backend, locator: string): Promise<any> => await callStore(b, locator, 10_000)
  const forbidden = (): Identity => ({ ...uniqueIdentity(), projectId: FORBIDDEN_PROJECT })

  for (const [label, mount, version] of [['KV v2 at secret/', 'secret', 2], ['KV v1 at kv1/', KV1, 1]] as const) {
    const calls: VaultCall[] = []
    const backend = create(version === 2 ? {} : { mount, kvVersion: 1 }, { observe: call => calls.push(call) })
    await t.test(`contract, ${label}, token auth`, async t => {
      await backendContract(t, {
        backend,
        seed: async (layer, identity, seed) => { await bao.write(mount, version, backend.locate(layer, identity) as string, documentOf(seed)) },
        denied: async () => ({ backend: create(version === 2 ? {} : { mount, kvVersion: 1 }), layer: 'object', identity: forbidden() }),
        unreachable: async () => create({ address: `http://127.0.0.1:${await freePort()}` }),
        // A mount never enabled (the read policy covers it, so OpenBao's router answers, not the policy).
        missingStore: async () => create({ mount: ABSENT_MOUNTS[0], kvVersion: version }),
        service: { backend: { name: 'bao', type: 'vault', address: bao.address, auth: { method: 'token', token: reader }, ...(version === 2 ? {} : { mount, kvVersion: 1 }) } },
        seedMalformed: { skip: 'KV data is always a JSON map: values that are not entries are skipped as invalid, tested below' },
        storeCalls: { count: () => calls.length, maxPerRead: 1 }
      })
    })
  }

  t.test('vault: default locators are the PRODUCT.md paths; KV v2 reads <mount>/data/<path>', async t => {
    const calls: VaultCall[] = []
    const backend = create({}, { observe: call => calls.push(call) })
    const identity = uniqueIdentity()
    t.equal(backend.locate('global', identity), 'northflank/_global')
    t.equal(backend.locate('project', identity), `northflank/${identity.projectId}/_shared`)
    t.equal(backend.locate('object', identity), `northflank/${identity.projectId}/${identity.nfObjectId}`)
    await read(backend, backend.locate('object', identity) as string)
    t.same(calls.filter(c => c.path.includes('northflank')), [{ method: 'GET', path: `secret/data/northflank/${identity.projectId}/${identity.nfObjectId}`, status: 404 }])
    const custom = create({ locators: { object: 'apps/{projectId}/{nfObjectType}/{nfObjectId}' } })
    t.equal(custom.locate('object', identity), `apps/${identity.projectId}/service/${identity.nfObjectId}`)
    t.throws(() => create({ locators: { object: 'apps/../{projectId}/{nfObjectId}' } }), /locators.object: must not contain/)
    t.throws(() => create({ locators: { object: 'apps/{nfObjectType}/{nfObjectId}' } }), /lacks \{projectId\}/, 'an object layer without its project is refused (tenant isolation)')
    t.throws(() => create({ mount: 'a//b' }), /mount: must not contain/)
  })

  t.test('vault: mounts whose names contain "data" (kvdata/, data/) read <mount>/data/<path>', async t => {
    for (const mount of DATA_MOUNTS) {
      const calls: VaultCall[] = []
      const backend = create({ mount }, { observe: call => calls.push(call) })
      const identity = uniqueIdentity()
      const locator = backend.locate('object', identity) as string
      await bao.write(mount, 2, locator, { FROM: mount })
      await t.resolves(backend.ready(AbortSignal.timeout(10_000)), `${mount}: ready`)
      t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'FROM', value: mount }], mount)
      t.ok(calls.some(c => c.path === `${mount}/data/${locator}` && c.status === 200), `${mount}: GET ${mount}/data/${locator}`)
    }
  })

  t.test('vault: a deleted or destroyed latest v2 version (404 with data.metadata) is an empty layer', async t => {
    const backend = create()
    const deleted = backend.locate('object', uniqueIdentity()) as string
    await bao.write('secret', 2, deleted, { A: '1' })
    t.equal((await bao.root('DELETE', `secret/data/${deleted}`)).status, 204)
    t.match(await bao.root('GET', `secret/data/${deleted}`), { status: 404, json: { data: { data: null, metadata: { deletion_time: /./, destroyed: false } } } }, 'OpenBao: 404 with metadata')
    t.same(await read(backend, deleted), { found: false }, 'deleted')
    const destroyed = backend.locate('object', uniqueIdentity()) as string
    await bao.write('secret', 2, destroyed, { A: '1' })
    await bao.write('secret', 2, destroyed, { A: '2' })
    t.equal((await bao.root('POST', `secret/destroy/${destroyed}`, { versions: [2] })).status, 204)
    t.match(await bao.root('GET', `secret/data/${destroyed}`), { status: 404, json: { data: { data: null, metadata: { destroyed: true } } } }, 'OpenBao: 404 with metadata')
    t.same(await read(backend, destroyed), { found: false }, 'destroyed')
  })

  t.test('vault: a missing secret on a KV v1 or v2 mount (404 {"errors":[]}) is an empty layer', async t => {
    for (const [mount, version, apiPrefix] of [['secret', 2, 'secret/data'], [KV1, 1, KV1]] as const) {
      const locator = `northflank/${uniqueIdentity().projectId}/_shared`
      t.same(await bao.root('GET', `${apiPrefix}/${locator}`), { status: 404, json: { errors: [] } }, `OpenBao: KV v${version} missing secret`)
      t.same(await read(create({ mount, kvVersion: version }), locator), { found: false }, `KV v${version}: empty layer`)
    }
  })

  t.test('vault: a read on a mount that does not exist is unavailable, never empty', async t => {
    const [absent] = ABSENT_MOUNTS
    for (const [version, apiPrefix] of [[2, `${absent}/data`], [1, absent]] as const) {
      const locator = `northflank/${uniqueIdentity().projectId}/_shared`
      t.match(await bao.root('GET', `${apiPrefix}/${locator}`), { status: 404, json: { errors: [/^no handler for route/] } }, `OpenBao: v${version} path, no mount`)
      const err = await read(create({ mount: absent, kvVersion: version }), locator).catch((e: Error) => e)
      t.match(err, { code: 'NFSS_STORE_UNAVAILABLE', message: new RegExp(`read ${apiPrefix}/${locator}: HTTP 404: no handler for route .*\\(the mount or namespace does not exist`) })
      t.notMatch(err.message, reader, 'no token in the error')
    }
  })

  t.test('vault: a read on a mount that was disabled is unavailable, never empty', async t => {
    const removed = ABSENT_MOUNTS[1]
    t.equal((await bao.root('POST', `sys/mounts/${removed}`, { type: 'kv', options: { version: '2' } })).status, 204)
    const backend = create({ mount: removed })
    const locator = backend.locate('global', uniqueIdentity()) as string
    await bao.write(removed, 2, locator, { A: '1' })
    t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'A', value: '1' }], 'served while enabled')
    t.equal((await bao.root('DELETE', `sys/mounts/${removed}`)).status, 204)
    await t.rejects(read(backend, locator), { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 404: no handler for route/ })
  })

  t.test('vault: a wrong namespace (none there, or without the mount) is unavailable, never empty', async t => {
    const locator = `northflank/${uniqueIdentity().projectId}/_shared`
    const inNamespace = async (namespace: string): Promise<any> => await bao.root('GET', `secret/data/${locator}`, undefined, { 'x-vault-namespace': namespace })
    t.same(await inNamespace('no-such-namespace'), { status: 404, json: { errors: ['namespace not found'] } }, 'OpenBao: 404 namespace not found')
    // OpenBao already refuses the login's lookup-self there, before any read.
    await t.rejects(read(create({ namespace: 'no-such-namespace' }), locator), { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 404: namespace not found/ })
    t.match(await inNamespace(EMPTY_NAMESPACE), { status: 404, json: { errors: [/^no handler for route/] } }, 'OpenBao: 404 no handler in a namespace without the mount')
    await t.rejects(read(create({ namespace: EMPTY_NAMESPACE }), locator), { code: 'NFSS_STORE_UNAVAILABLE', message: new RegExp(`read secret/data/${locator}: HTTP 404: no handler for route`) })
  })

  t.test('vault: kvVersion 1 on a KV v2 mount (404 with a warning, no errors) is unavailable, never empty', async t => {
    const locator = `northflank/${uniqueIdentity().projectId}/_shared`
    t.match(await bao.root('GET', `secret/${locator}`), { status: 404, json: { data: null, warnings: [/versioned K\/V/] } }, 'OpenBao: 404 with a warning')
    // The root token: the read policy does not cover v1-style paths on secret/ (a 403 first).
    await t.rejects(read(create({ kvVersion: 1, auth: { method: 'token', token: bao.rootToken } }), locator), { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 404 \(a 404 that is not a missing secret/ })
  })

  t.test('vault: values KV can hold that are not entries are skipped as invalid, the rest is served', async t => {
    const backend = create()
    const locator = backend.locate('object', uniqueIdentity()) as string
    await bao.write('secret', 2, locator, {
      GOOD: 'x', PORT: 8080, DEBUG: false, NESTED: { a: 1 }, LIST: [1, 2], 'bad-name': 'x',
      '/etc/app/ok.conf': 'file', '/etc/app/typo': { data: 'y', colour: 'red' }, '/etc/../up': 'z'
    })
    const result = await read(backend, locator)
    t.same(sortEntries(result.entries), [
      { type: 'ENV', key: 'DEBUG', value: 'false' },
      { type: 'ENV', key: 'GOOD', value: 'x' },
      { type: 'ENV', key: 'PORT', value: '8080' },
      { type: 'FILE', path: '/etc/app/ok.conf', data: 'file', encoding: 'utf-8' }
    ])
    t.same(result.invalid.map((i: any) => i.key).sort(), ['/etc/../up', '/etc/app/typo', 'LIST', 'NESTED', 'bad-name'])
  })

  t.test('vault: a namespace is sent as X-Vault-Namespace on every call and reads that namespace', async t => {
    const proxy = await startRecordingProxyFake(bao.address)
    t.teardown(proxy.close)
    const inNamespace = create({ address: proxy.address, namespace: NAMESPACE })
    const identity = uniqueIdentity()
    const locator = inNamespace.locate('object', identity) as string
    await bao.write('secret', 2, locator, { WHERE: NAMESPACE }, NAMESPACE)
    await t.resolves(inNamespace.ready(AbortSignal.timeout(10_000)))
    t.same((await read(inNamespace, locator)).entries, [{ type: 'ENV', key: 'WHERE', value: NAMESPACE }])
    t.same(await read(create(), locator), { found: false }, 'the root namespace does not hold it')
    t.ok(proxy.seen.length >= 3, `${proxy.seen.length} calls went through the recording fake`)
    t.ok(proxy.seen.every(r => r.headers['x-vault-namespace'] === NAMESPACE), 'every call carried the header')
  })

  t.test('vault: readiness checks the token and that the mount is the configured KV engine', async t => {
    await t.resolves(create().ready(AbortSignal.timeout(10_000)))
    await t.rejects(create({ mount: 'no-such-mount' }).ready(AbortSignal.timeout(10_000)), { code: 'NFSS_STORE_DENIED', message: /no-such-mount does not exist or no policy grants/ })
    await t.rejects(create({ kvVersion: 1 }).ready(AbortSignal.timeout(10_000)), { code: 'NFSS_STORE_UNAVAILABLE', message: /the mount is KV v2, configured kvVersion is 1/ })
    await t.rejects(create({ auth: { method: 'token', token: 'not-a-real-token' } }).ready(AbortSignal.timeout(10_000)), { code: 'NFSS_STORE_DENIED', message: /not valid/ })
  })

  t.test('vault: 403 is NFSS_STORE_DENIED with one log line naming path and auth, never the token', async t => {
    const { logger, lines } = capturingLogger()
    const calls: VaultCall[] = []
    const backend = create({}, { observe: call => calls.push(call) }, logger)
    const locator = backend.locate('object', forbidden()) as string
    const err = await read(backend, locator).catch((e: Error) => e)
    t.match(err, { code: 'NFSS_STORE_DENIED', message: new RegExp(`read secret/data/${locator}: HTTP 403: permission denied \\(auth token role token\\)`) })
    const logged = lines().split('\n').filter(l => l.includes('vault denied access'))
    t.equal(logged.length, 1, 'one log line')
    t.match(JSON.parse(logged[0] as string), { path: `secret/data/${locator}`, authMethod: 'token', policies: ['default', 'nfss-read'] })
    t.notMatch(lines(), reader, 'the token appears in no log line')
    t.notMatch(err.message, reader)
    t.same(calls.map(c => c.path), ['auth/token/lookup-self', `secret/data/${locator}`, 'auth/token/lookup-self'],
      'login, the read, and one lookup that finds the token alive (a policy denial, no re-login)')
  })

  t.test('vault: answers OpenBao never gives, from a FAKE Vault', async t => {
    const answers: Record<string, FakeAnswer> = {
      'secret/data/northflank/list': { status: 200, body: { data: { data: ['a', 'b'], metadata: {} } } },
      'secret/data/northflank/nodata': { status: 200, body: { warnings: ['x'] } },
      'secret/data/northflank/boom': { status: 500, body: { errors: ['internal error'] } },
      'secret/data/northflank/busy': { status: 429, body: { errors: ['rate limit quota exceeded'] } },
      'secret/data/northflank/sealed': { status: 503, body: { errors: ['Vault is sealed'] } },
      'secret/data/northflank/proxy-page': { status: 502, text: '<html>Bad Gateway x-vault-token=leak</html>' },
      'secret/data/northflank/moved': { status: 307, headers: { location: '/v1/elsewhere/northflank/moved' } },
      'secret/data/northflank/bare-404': { status: 404 }
    }
    const fake = await startFakeVault(path => answers[path] ?? { status: 404, body: { errors: [] } })
    t.teardown(fake.close)
    const backend = create({ address: fake.address, auth: { method: 'token', token: 'fake-token-value' } })
    await t.rejects(read(backend, 'northflank/list'), { code: 'NFSS_STORE_MALFORMED', message: /document is a list, not a map/ })
    await t.rejects(read(backend, 'northflank/nodata'), { code: 'NFSS_STORE_MALFORMED', message: /no data map/ })
    await t.rejects(read(backend, 'northflank/boom'), { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 500: internal error/ })
    await t.rejects(read(backend, 'northflank/busy'), { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 429.*rate limited/ })
    await t.rejects(read(backend, 'northflank/sealed'), { code: 'NFSS_STORE_UNAVAILABLE', message: /sealed/ })
    const html = await read(backend, 'northflank/proxy-page').catch((e: Error) => e)
    t.match(html, { code: 'NFSS_STORE_UNAVAILABLE', message: /not JSON/ })
    t.notMatch(html.message, /leak|<html/i, 'the page is not quoted')
    await t.rejects(read(backend, 'northflank/moved'), { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 307 redirect not followed/ })
    t.notOk(fake.seen.some(r => r.url.includes('elsewhere')), 'the redirect (and the token) went nowhere')
    await t.rejects(read(backend, 'northflank/bare-404'), { code: 'NFSS_STORE_UNAVAILABLE', message: /HTTP 404 \(a 404 without a Vault answer/ })
    t.same(await read(backend, 'northflank/missing'), { found: false })
  })

  t.test('vault: end to end over HTTP, the service merges layers and backends from OpenBao', async t => {
    const identity = uniqueIdentity()
    const project = `northflank/${identity.projectId}/_shared`
    const object = `northflank/${identity.projectId}/${identity.nfObjectId}`
    // Global is shared by every test in this file: only keys no other test reads.
    await bao.write('secret', 2, 'northflank/_global', { E2E_REGION: 'eu', E2E_LEVEL: 'global' })
    await bao.write('secret', 2, project, { E2E_LEVEL: 'project', DB_HOST: 'db.project', '/etc/app/shared.conf': 'shared' })
    await bao.write('secret', 2, object, { E2E_LEVEL: 'object', '/etc/tls/key.pem': { data: 'a2V5', encoding: 'base64', mode: '0400' } })
    await bao.write(KV1, 1, object, { DB_HOST: 'db.from-kv1' })
    // KV1's global is shared too (the contract's end-to-end case seeds it): pin what this test sees.
    await bao.write(KV1, 1, 'northflank/_global', { E2E_LEVEL: 'kv1-global' })
    const service = await startTestService({
      backends: [
        { name: 'bao', type: 'vault', address: bao.address, auth: { method: 'token', token: reader } },
        { name: 'bao-v1', type: 'vault', address: bao.address, mount: KV1, kvVersion: 1, auth: { method: 'token', token: reader } }
      ]
    })
    t.teardown(service.close)
    const res = await service.fetchAs(identity)
    t.equal(res.status, 200)
    t.equal(res.headers.get('cache-control'), 'no-store')
    t.same(await res.json(), {
      secrets: [
        { type: 'ENV', key: 'DB_HOST', value: 'db.from-kv1' },
        { type: 'ENV', key: 'E2E_LEVEL', value: 'object' },
        { type: 'ENV', key: 'E2E_REGION', value: 'eu' },
        { type: 'FILE', path: '/etc/app/shared.conf', data: 'shared', encoding: 'utf-8' },
        { type: 'FILE', path: '/etc/tls/key.pem', data: 'a2V5', encoding: 'base64', permissions: { policy: 'AlwaysSet', mode: '0400' } }
      ]
    })
  })

  t.test('vault: end to end, a denied layer is a 503 with the path in the log and no token', async t => {
    const { logger, lines } = capturingLogger()
    const service = await startTestService({ backends: [{ name: 'bao', type: 'vault', address: bao.address, auth: { method: 'token', token: reader } }] }, { logger })
    t.teardown(service.close)
    const identity = forbidden()
    const res = await service.fetchAs(identity)
    t.equal(res.status, 503)
    t.notMatch(await res.text(), /forbidden|secret\/data/, 'the caller learns no path')
    // Layers are read in parallel and the first failure answers: the project or the object path.
    t.match(lines(), new RegExp(`"path":"secret/data/northflank/${FORBIDDEN_PROJECT}/(_shared|${identity.nfObjectId})".*vault denied access`))
    t.notMatch(lines(), reader)
  })

  t.test('vault: denied reads multiply: a denied path read N times within errorTtl costs one read of it against OpenBao', async t => {
    const identity = forbidden()
    const denied = [`secret/data/northflank/${FORBIDDEN_PROJECT}/_shared`, `secret/data/northflank/${FORBIDDEN_PROJECT}/${identity.nfObjectId}`]
    const costOf = async (cache: Record<string, unknown>): Promise<{ reads: number, lookups: number }> => {
      const calls: VaultCall[] = []
      const observed = { ...vaultDefinition, create: (config: any, context: any) => createVaultBackend(config, context, { observe: call => calls.push(call) }) }
      const service = await startTestService({ backends: [{ name: 'bao', type: 'vault', address: bao.address, auth: { method: 'token', token: reader }, cache }] }, { definitions: [observed] })
      try {
        const before = calls.length // the login's lookup-self
        for (let i = 0; i < 10; i++) t.equal((await service.fetchAs(identity)).status, 503)
        const made = calls.slice(before)
        return { reads: made.filter(c => denied.includes(c.path)).length, lookups: made.filter(c => c.path === 'auth/token/lookup-self').length }
      } finally {
        await service.close()
      }
    }
    const remembered = await costOf({}) // the default errorTtl
    t.equal(remembered.reads, 2, '10 requests, 2 denied layers: one read per denied path')
    // The login, one per denied read (the token is alive: a policy denial), and the background readiness check.
    t.ok(remembered.lookups <= 4, `${remembered.lookups} lookup-self calls`)
    const everyTime = await costOf({ errorTtl: 0 })
    t.ok(everyTime.reads >= 10, `errorTtl 0 (the old rule): ${everyTime.reads} reads and ${everyTime.lookups} lookups for the same 10 requests`)
    t.comment(`10 requests for a denied identity: errorTtl 5 s ${remembered.reads} reads + ${remembered.lookups} lookup-self; errorTtl 0 ${everyTime.reads} reads + ${everyTime.lookups} lookup-self`)
  })

  t.test('vault: end to end, a layer on a mount that does not exist is a 503, never fewer secrets', async t => {
    const { logger, lines } = capturingLogger()
    const identity = uniqueIdentity()
    await bao.write('secret', 2, `northflank/${identity.projectId}/${identity.nfObjectId}`, { PRESENT: 'yes' })
    const service = await startTestService({
      backends: [
        { name: 'bao', type: 'vault', address: bao.address, auth: { method: 'token', token: reader } },
        { name: 'gone', type: 'vault', address: bao.address, mount: ABSENT_MOUNTS[0], auth: { method: 'token', token: reader } }
      ]
    }, { logger })
    t.teardown(service.close)
    const res = await service.fetchAs(identity)
    t.equal(res.status, 503)
    t.match(await res.json(), { code: 'NFSS_STORE_UNAVAILABLE', message: /backend "gone"/ })
    t.match(lines(), new RegExp(`"backend":"gone".*read ${ABSENT_MOUNTS[0]}/data/northflank/.*HTTP 404: no handler for route.*store read failed`))
    t.notMatch(lines(), reader)
  })
}
