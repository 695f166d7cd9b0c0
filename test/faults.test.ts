// Store faults through a TCP fault proxy between the service and each REAL network store
// (Secrets Manager and SSM on moto through the AWS SDK, OpenBao through undici, Key Vault's test
// server through the Azure SDK, the kube-apiserver
// over TLS with strategy list): timeouts hold, stale copies are served inside the window and 503
// outside it, answers are never partial, the service recovers, requests do not pile up on the
// store, and readiness keeps a replica in service while a store is down for everyone.
// (The informer strategy serves from memory and has its own outage rules, tested in
// test/backends/kubernetes-informer.test.ts.)
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm'
import t, { type Test } from 'tap'
import { KubeTestCluster, kubeForSuite, labelsFor, uniqueName } from './backends/kubernetes/kubernetes-fixture.js'
import { openBaoForSuite } from './backends/vault/vault-server.js'
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js'
import { startTestService } from './helpers/service.js'
import { MOTO_CREDENTIALS, MOTO_REGION, startMotoForSuite, useMotoCredentials } from './servers/moto.js'
import type { BackendDefinition } from '../src/store/port.js'
import { keyVaultForSuite, seamedDefinition, serverConfig } from './backends/azure-keyvault/keyvault-fixture.js'

interface FaultTarget {
  /** The backend config, pointed at the proxy. */
  backend: (proxyUrl: string) => Record<string, unknown>
  /** Writes the object layer's document for identity faults/api (and the global layer once). */
  writeObject: (document: Record<string, string>) => Promise<void>
  writeGlobal: (document: Record<string, string>) => Promise<void>
  upstreamPort: number
  /** Store calls one read of a locator makes (SSM walks the layer path and its _files folder). */
  callsPerRead?: number
  /** The proxy's URL scheme as the client must dial it (the apiserver speaks TLS through the TCP proxy). */
  scheme?: 'http' | 'https'
  /** Store types the service is built from, when the store needs a test seam (Key Vault's host lookup). */
  definitions?: readonly BackendDefinition<any>[]
}

const api = { projectId: 'faults', nfObjectId: 'api', nfObjectType: 'service' }
const wait = async (ms: number): Promise<void> => { await new Promise(r => setTimeout(r, ms)) }

async function faultSuite (t: Test, target: FaultTarget): Promise<void> {
  const proxy: FaultProxy = await startFaultProxy(target.upstreamPort)
  t.teardown(() => proxy.close())
  await target.writeGlobal({ GLOBAL_CANARY: 'partial-answer-canary' })
  await target.writeObject({ API_KEY: 'v1' })
  const svc = await startTestService({
    server: { host: '127.0.0.1', port: 0, requestTimeoutSeconds: 3 },
    backends: [{ ...target.backend(proxy.url.replace(/^http:/, `${target.scheme ?? 'http'}:`)), timeoutSeconds: 0.5, cache: { ttl: 0.3, staleIfError: 2 } }]
  }, { definitions: target.definitions })
  t.teardown(() => svc.close())
  const timed = async (identity = api): Promise<{ status: number, body: string, ms: number }> => {
    const started = performance.now()
    const res = await svc.fetchAs(identity)
    return { status: res.status, body: await res.text(), ms: performance.now() - started }
  }

  await t.test('faults in order: healthy, blackhole (stale, then 503), reset, latency, slow-drip, recovery', async t => {
    // Healthy is the precondition, not what is measured: the first read opens the connection (a
    // TLS handshake, the SDK's first call), which on a loaded machine can outlast the 0.5 s call
    // timeout (seen once: Key Vault's first read answered 503, so nothing was cached to go stale).
    let healthy = await timed()
    for (let tries = 1; healthy.status !== 200 && tries < 20; tries++) {
      t.comment(`first read answered ${healthy.status} in ${healthy.ms.toFixed(0)} ms; reading again`)
      await wait(100)
      healthy = await timed()
    }
    t.equal(healthy.status, 200)
    t.match(healthy.body, '"API_KEY","value":"v1"')

    proxy.set({ kind: 'blackhole' })
    await wait(400) // past the 0.3 s ttl
    const stale = await timed()
    t.equal(stale.status, 200, 'blackholed store inside staleIfError: the stale copy')
    t.match(stale.body, '"value":"v1"')
    t.ok(stale.ms < 1500, `the 0.5 s call timeout held (${stale.ms.toFixed(0)} ms)`)

    await wait(2100) // past the 2 s staleIfError window
    const expired = await timed()
    t.equal(expired.status, 503, 'outside the window: 503')
    t.notMatch(expired.body, 'partial-answer-canary', 'no partial answer')
    t.ok(expired.ms < 1500, `answered within the call timeout (${expired.ms.toFixed(0)} ms)`)

    proxy.set({ kind: 'reset' })
    const reset = await timed()
    t.equal(reset.status, 503, 'connection reset: 503')
    t.match(reset.body, 'NFSS_STORE_UNAVAILABLE')

    await target.writeObject({ API_KEY: 'v2' })
    proxy.set({ kind: 'latency', ms: 150 })
    const slow = await timed()
    t.equal(slow.status, 200, 'latency below the call timeout is fine')
    t.match(slow.body, '"value":"v2"')

    proxy.set({ kind: 'slow-drip', msPerByte: 20 })
    await wait(400)
    const drip = await timed()
    t.equal(drip.status, 200, 'a slow-drip store inside the window: the stale copy')
    t.ok(drip.ms < 1500, `slow-drip cut by the call timeout (${drip.ms.toFixed(0)} ms)`)

    // Written while the store is still unreachable for the service: seeing v3 proves a real read.
    await target.writeObject({ API_KEY: 'v3' })
    proxy.set({ kind: 'none' })
    await wait(400)
    const first = await timed()
    t.equal(first.status, 200, 'the store is back: answered at once (the stale copy while it is retried)')
    t.match(first.body, '"value":"v2"', 'the stale copy: this request did not wait for the retry')
    t.ok(first.ms < 1500, `answered in ${first.ms.toFixed(0)} ms`)
    let recovered = first
    const started = performance.now()
    while (!recovered.body.includes('"value":"v3"') && performance.now() - started < 3000) {
      await wait(50)
      recovered = await timed()
    }
    t.equal(recovered.status, 200)
    t.match(recovered.body, '"value":"v3"', `recovered: the new value is served ${(performance.now() - started).toFixed(0)} ms later`)
    await wait(400) // let every background retry settle before the next case counts connections
  })

  await t.test('no pile-up: 50 concurrent requests against a blackholed store share the store calls', async t => {
    proxy.set({ kind: 'blackhole' })
    // A new project and object: their layers are not cached, so the store must be asked.
    const fresh = { projectId: 'pileup', nfObjectId: 'pileup', nfObjectType: 'service' }
    const before = proxy.connections()
    const answers = await Promise.all(Array.from({ length: 50 }, async () => await timed(fresh)))
    const opened = proxy.connections() - before
    t.same([...new Set(answers.map(a => a.status))], [503], 'all 503, none empty')
    t.ok(answers.every(a => !a.body.includes('partial-answer-canary')), 'no partial answers')
    // 3 layers; single-flight makes one call per locator, and a client retries each at most twice.
    t.ok(opened >= 1, 'the store was asked')
    const bound = 3 * (target.callsPerRead ?? 1) * 2
    t.ok(opened <= bound, `${opened} store connections for 50 requests (bound ${bound}: 3 locators x ${target.callsPerRead ?? 1} call(s) x 2 attempts)`)
    proxy.set({ kind: 'none' })
  })

  await readinessSuite(t, target)
}

/**
 * A store down for everyone: the replica stays ready (it can still answer from its cache), serves
 * the stale copy inside the window and 503 after it, reports the store down apart from readiness,
 * and recovers without a restart. Its own proxy and service: background checks every 0.3 s here.
 */
async function readinessSuite (t: Test, target: FaultTarget): Promise<void> {
  const proxy: FaultProxy = await startFaultProxy(target.upstreamPort)
  t.teardown(() => proxy.close())
  await target.writeObject({ API_KEY: 'ready-v1' })
  const backend = target.backend(proxy.url.replace(/^http:/, `${target.scheme ?? 'http'}:`))
  const name = String(backend.name)
  const svc = await startTestService({
    server: { host: '127.0.0.1', port: 0, requestTimeoutSeconds: 3 },
    ops: { host: '127.0.0.1', port: 0, readyTimeoutSeconds: 0.5, storeCheckIntervalSeconds: 0.3 },
    backends: [{ ...backend, timeoutSeconds: 0.5, cache: { ttl: 0.3, staleIfError: 2 } }]
  }, { definitions: target.definitions })
  t.teardown(() => svc.close())
  const ops = (path: string): URL => new URL(path, svc.service.opsUrl)
  const storeUp = async (): Promise<boolean | undefined> => ((await (await fetch(ops('stores'))).json()) as { stores: Record<string, { up: boolean }> }).stores[name]?.up
  const until = async (what: string, done: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 8000
    while (!await done()) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen`)
      await wait(50)
    }
  }

  await t.test('readiness: a store down for everyone keeps the replica ready; stale inside the window, 503 after, recovery without restart', async t => {
    await until('first check', async () => (await fetch(ops('readyz'))).status === 200)
    t.equal((await svc.fetchAs(api)).status, 200, 'healthy, cache warm')
    proxy.set({ kind: 'blackhole' })
    await until('the store is reported down', async () => await storeUp() === false)
    t.equal((await fetch(ops('readyz'))).status, 200, 'store down: the replica stays ready')
    const stale = await svc.fetchAs(api)
    t.equal(stale.status, 200, 'and answers the stale copy inside the window')
    t.match(await stale.text(), 'ready-v1')
    t.match(await (await fetch(ops('metrics'))).text(), `nf_secret_source_store_up{backend="${name}"} 0`)
    await wait(2100)
    t.equal((await svc.fetchAs(api)).status, 503, 'outside the window: 503, never an empty answer')
    t.equal((await fetch(ops('readyz'))).status, 200, 'still ready: the 503 names the store; taking every replica out would change nothing')
    await target.writeObject({ API_KEY: 'ready-v2' })
    proxy.set({ kind: 'none' })
    await until('the store is reported up', async () => await storeUp() === true)
    await until('the new value is served', async () => (await (await svc.fetchAs(api)).text()).includes('ready-v2'))
    t.pass('recovered without a restart')
  })
}

t.test('AWS on moto', async t => {
  const moto = await startMotoForSuite(t, 'faults: aws on moto')
  if (moto === undefined) return
  t.teardown(moto.stop)
  useMotoCredentials()
  const upstreamPort = Number(new URL(moto.endpoint).port)

  await t.test('Secrets Manager', async t => {
    const seeder = new SecretsManagerClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS })
    t.teardown(() => seeder.destroy())
    let objectCreated = false
    await faultSuite(t, {
      upstreamPort,
      backend: url => ({ name: 'sm', type: 'aws-secrets-manager', region: MOTO_REGION, endpoint: url, maxAttempts: 2 }),
      writeGlobal: async document => { await seeder.send(new CreateSecretCommand({ Name: 'northflank/_global', SecretString: JSON.stringify(document) })) },
      writeObject: async document => {
        const SecretString = JSON.stringify(document)
        if (objectCreated) await seeder.send(new PutSecretValueCommand({ SecretId: 'northflank/faults/api', SecretString }))
        else await seeder.send(new CreateSecretCommand({ Name: 'northflank/faults/api', SecretString }))
        objectCreated = true
      }
    })
  })

  await t.test('SSM Parameter Store', async t => {
    const seeder = new SSMClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS })
    t.teardown(() => seeder.destroy())
    const putAll = async (folder: string, document: Record<string, string>): Promise<void> => {
      for (const [key, value] of Object.entries(document)) {
        await seeder.send(new PutParameterCommand({ Name: `${folder}/${key}`, Value: value, Type: 'SecureString', Overwrite: true }))
      }
    }
    await faultSuite(t, {
      upstreamPort,
      callsPerRead: 1, // one recursive walk with the default templates
      backend: url => ({ name: 'ssm', type: 'aws-ssm', region: MOTO_REGION, endpoint: url, maxAttempts: 2 }),
      writeGlobal: async document => { await putAll('/northflank/_global', document) },
      writeObject: async document => { await putAll('/northflank/faults/api', document) }
    })
  })
})

t.test('kube-apiserver (strategy list, TLS through the proxy)', async t => {
  const kube = await kubeForSuite(t, 'faults: kube-apiserver')
  if (kube === undefined) return
  const cluster = new KubeTestCluster(kube)
  t.teardown(() => { cluster.close() })
  const namespace = uniqueName('nfss-faults')
  const selectors = {
    global: 'nf-secret-source/scope=global',
    object: 'nf-secret-source/project=faults,nf-secret-source/object=api'
  }
  const secretName = { global: uniqueName('global'), object: uniqueName('object') }
  const write = async (layer: 'global' | 'object', document: Record<string, string>): Promise<void> => {
    if (layer === 'object' && written) { await cluster.patchSecret(namespace, secretName.object, { data: document }); return }
    await cluster.createSecret(namespace, { name: secretName[layer], labels: labelsFor(selectors[layer]), data: document })
    if (layer === 'object') written = true
  }
  let written = false
  await faultSuite(t, {
    upstreamPort: Number(new URL(kube.server).port),
    scheme: 'https',
    backend: url => ({ name: 'kube', type: 'kubernetes', strategy: 'list', namespace, kubeconfig: cluster.kubeconfig({ server: url }) }),
    writeGlobal: async document => { await write('global', document) },
    writeObject: async document => { await write('object', document) }
  })
})

t.test('OpenBao', async t => {
  const bao = await openBaoForSuite(t, 'faults: openbao')
  if (bao === undefined) return
  const token = await bao.readerToken()
  await faultSuite(t, {
    upstreamPort: Number(new URL(bao.address).port),
    backend: url => ({ name: 'bao', type: 'vault', address: url, auth: { method: 'token', token } }),
    writeGlobal: async document => { await bao.write('secret', 2, 'northflank/_global', document) },
    writeObject: async document => { await bao.write('secret', 2, 'northflank/faults/api', document) }
  })
})

t.test('Azure Key Vault (its test server, TLS through the proxy)', async t => {
  const server = await keyVaultForSuite(t, 'faults: azure key vault')
  if (server === undefined) return
  await faultSuite(t, {
    upstreamPort: server.port,
    scheme: 'https',
    definitions: [seamedDefinition(server)],
    // The vault host resolves to 127.0.0.1 (the seam's lookup), at the proxy's port; Entra ID is reached directly.
    backend: url => serverConfig(server, { name: 'akv', vaultUrl: `https://nfss-test.vault.azure.net:${new URL(url).port}`, maxAttempts: 2 }),
    writeGlobal: async document => { server.setSecret('northflank--global', JSON.stringify(document)) },
    writeObject: async document => { server.setSecret('northflank-faults-api', JSON.stringify(document)) }
  })
})
