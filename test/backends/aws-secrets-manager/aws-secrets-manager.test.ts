// type: aws-secrets-manager against a real moto server (test/servers/moto.ts); faults AWS answers
// but moto cannot produce (throttling, AWS-shaped AccessDenied) come from a fault-injecting FAKE.
import { CreateSecretCommand, DeleteSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import t from 'tap'
import { createSecretsManagerBackend, secretsManagerDefinition } from '../../../backends/aws-secrets-manager/index.js'
import type { Backend } from '../../../src/store/port.js'
import { callStore } from '../../../src/store-call.js'
import { capturingLogger, silentLogger } from '../../helpers/logger.js'
import { startTestService } from '../../helpers/service.js'
import { freePort } from '../../servers/common.js'
import {
  MOTO_CREDENTIALS, MOTO_REGION, callsDuring, createUserWithoutPolicies, recordCalls, startMoto,
  startMotoForSuite, useMotoCredentials, type RecordedCall
} from '../../servers/moto.js'
import { backendContract, documentOf, uniqueIdentity } from '../contract.js'
import { backendConfig, storeContext } from '../kit.js'
import { awsFaultCases } from '../aws/aws-fault-cases.js'
import { startNotTheService } from '../aws/not-the-service.js'

const moto = await startMotoForSuite(t, 'aws-secrets-manager')
if (moto !== undefined) {
  t.teardown(moto.stop)
  useMotoCredentials()
  const { endpoint } = moto
  const context = { logger: silentLogger(), baseDir: process.cwd(), layers: ['global', 'project', 'object'] }
  const seeder = new SecretsManagerClient({ region: MOTO_REGION, endpoint, credentials: MOTO_CREDENTIALS })
  t.teardown(() => seeder.destroy())

  /** The backend config as the service would build it (schema defaults applied, validated). */
  const configOf = (extra: Record<string, unknown> = {}): any => backendConfig({ name: 'sm', type: 'aws-secrets-manager', region: MOTO_REGION, endpoint, ...extra })

  const calls: RecordedCall[] = []
  const backends: Backend[] = []
  const create = (extra: Record<string, unknown> = {}, options: { credentials?: typeof MOTO_CREDENTIALS, logger?: any } = {}): Backend => {
    const config = configOf(extra)
    const backend = createSecretsManagerBackend(config, storeContext(secretsManagerDefinition, config, { ...context, logger: options.logger ?? context.logger }), {
      credentials: options.credentials,
      observe: client => recordCalls(client, calls)
    })
    backends.push(backend)
    return backend
  }
  t.teardown(async () => { await Promise.all(backends.map(b => b.close())) })
  const backend = create()
  const read = async (b: Backend, locator: string): Promise<any> => await callStore(b, locator, 10_000)


  async function putSecret (name: string, value: { SecretString: string } | { SecretBinary: Uint8Array }): Promise<void> {
    try {
      await seeder.send(new CreateSecretCommand({ Name: name, ...value }))
    } catch (err) {
      if ((err as Error).name !== 'ResourceExistsException') throw err
      await seeder.send(new PutSecretValueCommand({ SecretId: name, ...value }))
    }
  }

  let iamMoto: Awaited<ReturnType<typeof startMoto>> | undefined
  t.teardown(async () => { await iamMoto?.stop() })

  await backendContract(t, {
    backend,
    seed: async (layer, identity, seed) => { await putSecret(backend.locate(layer, identity) as string, { SecretString: JSON.stringify(documentOf(seed)) }) },
    seedMalformed: async (layer, identity) => { await putSecret(backend.locate(layer, identity) as string, { SecretString: '["a list", "not a map"]' }) },
    denied: async () => {
      // A second moto that enforces IAM after two calls: a user with a key and no policy.
      iamMoto = await startMoto({ enforceIamAfter: 2, name: 'moto-aws-secrets-manager-iam' })
      const credentials = await createUserWithoutPolicies(iamMoto.endpoint, 'nfss-without-policy')
      return { backend: create({ endpoint: iamMoto.endpoint }, { credentials }), layer: 'object', identity: uniqueIdentity() }
    },
    unreachable: async () => create({ endpoint: `http://127.0.0.1:${await freePort()}` }),
    // Secrets Manager has no folders to be missing: what can be not there is the service itself, an endpoint
    // that answers 200 {} to everything (docs/backends/aws.md, "A store that is not there").
    missingStore: async () => {
      const elsewhere = await startNotTheService()
      t.teardown(elsewhere.close)
      return create({ endpoint: elsewhere.endpoint })
    },
    service: { backend: { name: 'sm', type: 'aws-secrets-manager', region: MOTO_REGION, endpoint } },
    storeCalls: { count: () => calls.length, maxPerRead: 1 }
  })

  const during = async <T>(action: () => Promise<T>): Promise<{ result: T, made: RecordedCall[] }> => await callsDuring(calls, action)

  t.test('aws-secrets-manager: one GetSecretValue per layer, whatever the number of keys', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('project', identity) as string
    await putSecret(locator, { SecretString: JSON.stringify(documentOf({ env: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`K${i}`, `${i}`])), files: [] })) })
    const { result, made } = await during(async () => await read(backend, locator))
    t.equal(result.entries.length, 50)
    t.same(made.map(c => [c.command, c.input.SecretId]), [['GetSecretValueCommand', locator]])
  })

  t.test('aws-secrets-manager: text that is not JSON is NFSS_STORE_MALFORMED, quoting none of it', async t => {
    const locator = backend.locate('object', uniqueIdentity()) as string
    await putSecret(locator, { SecretString: 'API_KEY=super-secret-value' })
    const err = await read(backend, locator).catch((e: Error) => e)
    t.match(err, { code: 'NFSS_STORE_MALFORMED' })
    t.notMatch(err.message, /super-secret-value/)
  })

  t.test('aws-secrets-manager: SecretBinary is refused as malformed, with a warning naming the secret', async t => {
    const { logger, lines } = capturingLogger('warn')
    const withLog = create({}, { logger })
    const locator = withLog.locate('object', uniqueIdentity()) as string
    await putSecret(locator, { SecretBinary: Buffer.from('{"A": "binary-secret-value"}') })
    const err = await read(withLog, locator).catch((e: Error) => e)
    t.match(err, { code: 'NFSS_STORE_MALFORMED', message: /SecretBinary/ })
    t.match(lines(), /SecretBinary/)
    t.match(lines(), locator)
    t.notMatch(lines() + err.message, /binary-secret-value/)
  })

  t.test('aws-secrets-manager: a secret scheduled for deletion is an empty layer', async t => {
    const locator = backend.locate('object', uniqueIdentity()) as string
    await putSecret(locator, { SecretString: '{"GONE": "soon"}' })
    await seeder.send(new DeleteSecretCommand({ SecretId: locator, RecoveryWindowInDays: 7 }))
    t.same(await read(backend, locator), { found: false })
  })

  t.test('aws-secrets-manager: versionStage selects the staged version', async t => {
    const locator = backend.locate('object', uniqueIdentity()) as string
    await putSecret(locator, { SecretString: '{"STAGE": "current"}' })
    await seeder.send(new PutSecretValueCommand({ SecretId: locator, SecretString: '{"STAGE": "next"}', VersionStages: ['NEXT'] }))
    t.same((await read(backend, locator)).entries, [{ type: 'ENV', key: 'STAGE', value: 'current' }])
    t.same((await read(create({ versionStage: 'NEXT' }), locator)).entries, [{ type: 'ENV', key: 'STAGE', value: 'next' }])
  })

  await awsFaultCases(t, { store: 'aws-secrets-manager', create: extra => create(extra), readAttempts: [3, 3] })

  t.test('aws-secrets-manager: ready() needs no secret to exist (DescribeSecret not found is fine)', async t => {
    const fresh = create({ locators: { global: `northflank/_global-${Date.now()}` } })
    const { made } = await during(async () => { await fresh.ready(AbortSignal.timeout(5000)) })
    t.same(made.map(c => c.command), ['DescribeSecretCommand'])
  })

  t.test('aws-secrets-manager: locator templates are checked against Secrets Manager naming rules', async t => {
    t.throws(() => create({ locators: { object: 'northflank/{projectId}:{nfObjectId}' } }), /characters outside/)
    t.equal(create({ locators: { object: 'teams/{projectId}/{nfObjectId}' } }).locate('object', { projectId: 'p', nfObjectId: 'o', nfObjectType: 'job' }), 'teams/p/o')
  })


}
