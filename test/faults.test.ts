// Store faults through a TCP fault proxy between the service and a REAL store (Secrets Manager
// on moto): timeouts hold, stale copies are served inside the window and 503 outside it,
// answers are never partial, the service recovers, and requests do not pile up on the store.
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import t from 'tap'
import { startTestService } from './helpers/service.js'
import { startFaultProxy } from './helpers/fault-proxy.js'
import { MOTO_CREDENTIALS, MOTO_REGION, startMotoForSuite, useMotoCredentials } from './servers/moto.js'

const moto = await startMotoForSuite(t, 'faults')
if (moto !== undefined) {
  t.teardown(moto.stop)
  useMotoCredentials()
  const seeder = new SecretsManagerClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS })
  t.teardown(() => seeder.destroy())
  const proxy = await startFaultProxy(Number(new URL(moto.endpoint).port))
  t.teardown(() => proxy.close())

  const api = { projectId: 'faults', nfObjectId: 'api', nfObjectType: 'service' }
  await seeder.send(new CreateSecretCommand({ Name: 'northflank/_global', SecretString: JSON.stringify({ GLOBAL_CANARY: 'partial-answer-canary' }) }))
  await seeder.send(new CreateSecretCommand({ Name: 'northflank/faults/api', SecretString: JSON.stringify({ API_KEY: 'v1' }) }))

  const svc = await startTestService({
    server: { host: '127.0.0.1', port: 0, requestTimeoutSeconds: 3 },
    backends: [{ name: 'sm', type: 'aws-secrets-manager', region: MOTO_REGION, endpoint: proxy.url, maxAttempts: 2, timeoutSeconds: 0.5, cache: { ttl: 0.3, staleIfError: 2 } }]
  })
  t.teardown(() => svc.close())

  const timed = async (identity = api): Promise<{ status: number, body: string, ms: number }> => {
    const started = performance.now()
    const res = await svc.fetchAs(identity)
    return { status: res.status, body: await res.text(), ms: performance.now() - started }
  }
  const wait = async (ms: number): Promise<void> => { await new Promise(r => setTimeout(r, ms)) }

  t.test('faults in order: healthy, blackhole (stale, then 503), reset, latency, slow-drip, recovery', async t => {
    const healthy = await timed()
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

    await seeder.send(new PutSecretValueCommand({ SecretId: 'northflank/faults/api', SecretString: JSON.stringify({ API_KEY: 'v2' }) }))
    proxy.set({ kind: 'latency', ms: 150 })
    const slow = await timed()
    t.equal(slow.status, 200, 'latency below the call timeout is fine')
    t.match(slow.body, '"value":"v2"')

    proxy.set({ kind: 'slow-drip', msPerByte: 20 })
    await wait(400)
    const drip = await timed()
    t.equal(drip.status, 200, 'a slow-drip store inside the window: the stale copy')
    t.ok(drip.ms < 1500, `slow-drip cut by the call timeout (${drip.ms.toFixed(0)} ms)`)

    proxy.set({ kind: 'none' })
    await wait(400)
    const recovered = await timed()
    t.equal(recovered.status, 200, 'recovered once the store is back')
    t.match(recovered.body, '"value":"v2"')
  })

  t.test('no pile-up: 50 concurrent requests against a blackholed store share the store calls', async t => {
    proxy.set({ kind: 'blackhole' })
    const fresh = { projectId: 'faults', nfObjectId: 'pileup', nfObjectType: 'service' }
    const before = proxy.connections()
    const answers = await Promise.all(Array.from({ length: 50 }, async () => await timed(fresh)))
    const opened = proxy.connections() - before
    t.same([...new Set(answers.map(a => a.status))], [503], 'all 503, none empty')
    t.ok(answers.every(a => !a.body.includes('partial-answer-canary')), 'no partial answers')
    // 3 layers; single-flight makes one call per locator, the SDK tries each call at most twice.
    t.ok(opened <= 6, `${opened} store connections for 50 requests (bound: 3 locators x 2 attempts)`)
    proxy.set({ kind: 'none' })
  })
}
