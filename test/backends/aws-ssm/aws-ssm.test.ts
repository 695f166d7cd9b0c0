// type: aws-ssm against a real moto server (test/servers/moto.ts); faults AWS answers but moto
// cannot produce (throttling, AWS-shaped AccessDenied) come from a fault-injecting FAKE in front.
import { AddTagsToResourceCommand, GetParametersByPathCommand, PutParameterCommand, SSMClient, type Tag } from '@aws-sdk/client-ssm'
import t from 'tap'
import { createSsmBackend, ssmDefinition } from '../../../backends/aws-ssm/index.js'
import type { Backend } from '../../../src/store/port.js'
import type { Identity } from '../../../src/core/identity.js'
import { callStore } from '../../../src/store-call.js'
import { silentLogger } from '../../helpers/logger.js'
import { startTestService } from '../../helpers/service.js'
import { freePort } from '../../servers/common.js'
import {
  MOTO_CREDENTIALS, MOTO_REGION, callsDuring, createUserWithoutPolicies, recordCalls, startAwsFaultFake, startMoto,
  startMotoForSuite, useMotoCredentials, type RecordedCall
} from '../../servers/moto.js'
import { backendContract, sortEntries, uniqueIdentity, type Seed } from '../contract.js'
import { backendConfig, storeContext } from '../kit.js'
import { awsFaultCases } from '../aws/aws-fault-cases.js'
import { startNotTheService } from '../aws/not-the-service.js'

const EMPTY = '(empty)'
const moto = await startMotoForSuite(t, 'aws-ssm')
if (moto !== undefined) {
  t.teardown(moto.stop)
  useMotoCredentials()
  const { endpoint } = moto
  const context = { logger: silentLogger(), baseDir: process.cwd(), layers: ['global', 'project', 'object'] }
  const seeder = new SSMClient({ region: MOTO_REGION, endpoint, credentials: MOTO_CREDENTIALS })
  t.teardown(() => seeder.destroy())

  /** The backend config as the service would build it (schema defaults applied, validated). */
  const configOf = (extra: Record<string, unknown> = {}): any => backendConfig({ name: 'ssm', type: 'aws-ssm', region: MOTO_REGION, endpoint, emptyValue: EMPTY, ...extra })

  const calls: RecordedCall[] = []
  const backends: Backend[] = []
  const create = (extra: Record<string, unknown> = {}, credentials?: typeof MOTO_CREDENTIALS): Backend => {
    const config = configOf(extra)
    const backend = createSsmBackend(config, storeContext(ssmDefinition, config, context), { credentials, observe: client => recordCalls(client, calls) })
    backends.push(backend)
    return backend
  }
  t.teardown(async () => { await Promise.all(backends.map(b => b.close())) })
  const backend = create()
  const read = async (b: Backend, locator: string): Promise<any> => await callStore(b, locator, 10_000)

  async function put (name: string, value: string, type: 'String' | 'SecureString' | 'StringList' = 'String', tags: Record<string, string> = {}): Promise<void> {
    const Tags: Tag[] = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }))
    await seeder.send(new PutParameterCommand({ Name: name, Value: value, Type: type, ...(Tags.length > 0 ? { Tags } : {}) }))
  }

  /** Canonical data in SSM's native layout: one parameter per ENV key, files under _files with tags. */
  async function seedLayer (base: string, seed: Seed): Promise<void> {
    const jobs = Object.entries(seed.env).map(([key, value], i) => async () => {
      // SSM refuses empty values; the backend's emptyValue marker stands for "".
      await put(`${base}/${key}`, value === '' ? EMPTY : value, i % 2 === 0 ? 'SecureString' : 'String')
    })
    for (const f of seed.files) {
      const tags: Record<string, string> = {
        ...(f.encoding === 'base64' ? { 'nf-encoding': 'base64' } : {}),
        ...(f.mode === undefined ? {} : { 'nf-mode': f.mode }),
        ...(f.owner === undefined ? {} : { 'nf-owner': f.owner }),
        ...(f.group === undefined ? {} : { 'nf-group': f.group })
      }
      jobs.push(async () => { await put(`${base}/_files${f.path}`, f.data, 'SecureString', tags) })
    }
    for (let i = 0; i < jobs.length; i += 10) await Promise.all(jobs.slice(i, i + 10).map(async job => { await job() }))
  }

  let iamMoto: Awaited<ReturnType<typeof startMoto>> | undefined
  t.teardown(async () => { await iamMoto?.stop() })

  await backendContract(t, {
    backend,
    seed: async (layer, identity, seed) => { await seedLayer(backend.locate(layer, identity) as string, seed) },
    denied: async () => {
      // A second moto that enforces IAM after two calls: a user with a key and no policy.
      iamMoto = await startMoto({ enforceIamAfter: 2, name: 'moto-aws-ssm-iam' })
      const credentials = await createUserWithoutPolicies(iamMoto.endpoint, 'nfss-without-policy')
      return { backend: create({ endpoint: iamMoto.endpoint }, credentials), layer: 'object', identity: uniqueIdentity() }
    },
    unreachable: async () => create({ endpoint: `http://127.0.0.1:${await freePort()}` }),
    // SSM has no folders to be missing: what can be not there is the service itself, an endpoint
    // that answers 200 {} to everything (docs/backends/aws.md, "A store that is not there").
    missingStore: async () => {
      const elsewhere = await startNotTheService()
      t.teardown(elsewhere.close)
      return create({ endpoint: elsewhere.endpoint })
    },
    seedMalformed: { skip: 'SSM holds one value per parameter: there is no document to be malformed (bad names and tags are tested below)' },
    service: { backend: { name: 'ssm', type: 'aws-ssm', region: MOTO_REGION, endpoint } },
    storeCalls: {
      count: () => calls.length,
      // 50 direct children and the files are 6 pages of the one recursive walk (+1 empty last
      // page: moto, like AWS, may hand out a NextToken after a full page); and on a cold tag cache
      // one ListTagsForResource per file parameter (docs/backends/aws.md: the one thing that
      // grows, with files, not variables; kept for tagCacheSeconds).
      maxPerRead: seed => 7 + seed.files.length
    }
  })

  const during = async <T>(action: () => Promise<T>): Promise<{ result: T, made: RecordedCall[] }> => await callsDuring(calls, action)

  t.test('aws-ssm: 50 keys take one recursive GetParametersByPath walk with the default templates (pages, never per-key calls)', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    await seedLayer(locator, { env: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`KEY_${i}`, `v${i}`])), files: [] })
    const { result, made } = await during(async () => await read(backend, locator))
    t.equal(result.entries.length, 50)
    t.ok(made.every(c => c.command === 'GetParametersByPathCommand'), 'only GetParametersByPath')
    t.same([...new Set(made.map(c => `${c.input.Path} recursive=${c.input.Recursive}`))], [`${locator} recursive=true`], 'one walk: the layer path, recursive')
    t.ok(made.length >= 5 && made.length <= 6, `${made.length} pages: 5 (+1 empty)`)
    t.equal(backend.callsPerRead, 1, 'the call budget takes one token per read')
    t.comment(`50 ENV keys in one layer: ${made.length} SDK calls`)
  })

  t.test('aws-ssm: pagination over more than 10 parameters, ENV and files', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('project', identity) as string
    const env = Object.fromEntries(Array.from({ length: 23 }, (_, i) => [`P_${i}`, `value ${i}`]))
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `/etc/app/conf.d/${i}.conf`, data: `n=${i}`, encoding: 'utf-8' as const }))
    await seedLayer(locator, { env, files })
    const { result, made } = await during(async () => await read(backend, locator))
    t.equal(result.entries.filter((e: any) => e.type === 'ENV').length, 23)
    t.equal(result.entries.filter((e: any) => e.type === 'FILE').length, 12)
    t.equal(made.filter(c => c.command === 'GetParametersByPathCommand').length, 4, 'every page of the one walk: 35 parameters')
  })

  t.test('aws-ssm: SecureString is decrypted, StringList is its comma-joined text', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    await put(`${locator}/SECURE`, 'd3crypted', 'SecureString')
    await put(`${locator}/LIST`, 'a,b,c', 'StringList')
    const raw = await seeder.send(new GetParametersByPathCommand({ Path: locator, WithDecryption: false }))
    t.not(raw.Parameters?.find(p => p.Name?.endsWith('/SECURE'))?.Value, 'd3crypted', 'the store holds it encrypted')
    t.same(sortEntries((await read(backend, locator)).entries), [
      { type: 'ENV', key: 'LIST', value: 'a,b,c' },
      { type: 'ENV', key: 'SECURE', value: 'd3crypted' }
    ])
  })

  t.test('aws-ssm: _files/<path> is a FILE at <path>, attributes from tags, bad names and tags skipped', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    const pem = Buffer.from('key\u0000bytes').toString('base64')
    await put(`${locator}/_files/etc/app/key.pem`, pem, 'SecureString', { 'nf-encoding': 'base64', 'nf-mode': '0400', 'nf-owner': '1000', 'nf-group': 'inherit', team: 'ignored' })
    await put(`${locator}/_files/etc/app/plain.txt`, 'hello')
    await put(`${locator}/_files/etc/bad-mode`, 'x', 'String', { 'nf-mode': 'rwx' })
    await put(`${locator}/_files/etc/typo`, 'x', 'String', { 'nf-mod': '0400' })
    await put(`${locator}/not-an-env-name`, 'x')
    const result = await read(backend, locator)
    t.same(sortEntries(result.entries), [
      { type: 'FILE', path: '/etc/app/key.pem', data: pem, encoding: 'base64', permissions: { policy: 'AlwaysSet', mode: '0400' }, owner: { policy: 'AlwaysSetExplicit', value: '1000' }, group: { policy: 'AlwaysSetInherited' } },
      { type: 'FILE', path: '/etc/app/plain.txt', data: 'hello', encoding: 'utf-8' }
    ])
    t.same(result.invalid.map((i: any) => i.key).sort(), ['/etc/bad-mode', '/etc/typo', 'not-an-env-name'])
  })

  t.test('aws-ssm: every Northflank policy from tags: KeepOrSet for mode, owner and group through -policy tags', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    await put(`${locator}/_files/etc/keep`, 'k', 'String', { 'nf-mode': '0440', 'nf-mode-policy': 'KeepOrSet', 'nf-owner': '1000', 'nf-owner-policy': 'KeepOrSet', 'nf-group': 'inherit', 'nf-group-policy': 'KeepOrSet' })
    await put(`${locator}/_files/etc/explicit`, 'e', 'String', { 'nf-mode': '0400', 'nf-mode-policy': 'AlwaysSet', 'nf-owner': 'inherit' })
    await put(`${locator}/_files/etc/bad-policy`, 'x', 'String', { 'nf-mode': '0400', 'nf-mode-policy': 'Sometimes' })
    await put(`${locator}/_files/etc/policy-alone`, 'x', 'String', { 'nf-owner-policy': 'KeepOrSet' })
    const result = await read(backend, locator)
    t.same(sortEntries(result.entries), [
      { type: 'FILE', path: '/etc/explicit', data: 'e', encoding: 'utf-8', permissions: { policy: 'AlwaysSet', mode: '0400' }, owner: { policy: 'AlwaysSetInherited' } },
      { type: 'FILE', path: '/etc/keep', data: 'k', encoding: 'utf-8', permissions: { policy: 'KeepOrSet', mode: '0440' }, owner: { policy: 'KeepOrSetExplicit', value: '1000' }, group: { policy: 'KeepOrSetInherited' } }
    ])
    t.same(result.invalid.map((i: any) => [i.key, i.reason]).sort(), [
      ['/etc/bad-policy', 'tag nf-mode-policy is neither AlwaysSet nor KeepOrSet'],
      ['/etc/policy-alone', 'tag nf-owner-policy without nf-owner']
    ])
  })

  t.test('aws-ssm: tags are read once per parameter version, then come from memory', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    await put(`${locator}/_files/etc/a`, 'one', 'String', { 'nf-mode': '0600' })
    await put(`${locator}/_files/etc/b`, 'two', 'String', { 'nf-mode': '0644' })
    const tagCalls = (made: RecordedCall[]): number => made.filter(c => c.command === 'ListTagsForResourceCommand').length
    t.equal(tagCalls((await during(async () => await read(backend, locator))).made), 2, 'first read: one tag call per file')
    t.equal(tagCalls((await during(async () => await read(backend, locator))).made), 0, 'repeat read: none')
    await seeder.send(new PutParameterCommand({ Name: `${locator}/_files/etc/a`, Value: 'one v2', Type: 'String', Overwrite: true }))
    await seeder.send(new AddTagsToResourceCommand({ ResourceType: 'Parameter', ResourceId: `${locator}/_files/etc/a`, Tags: [{ Key: 'nf-mode', Value: '0640' }] }))
    const { result, made } = await during(async () => await read(backend, locator))
    t.equal(tagCalls(made), 1, 'a new version is read again')
    t.match(result.entries.find((e: any) => e.path === '/etc/a'), { data: 'one v2', permissions: { mode: '0640' } })
  })

  t.test('aws-ssm: isolation: only the layer path and what is below it are ever read, and only its direct children and _files are served', async t => {
    const mine: Identity = uniqueIdentity()
    const other: Identity = { ...uniqueIdentity(), projectId: `${mine.projectId}x` }
    const object = backend.locate('object', mine) as string
    const project = backend.locate('project', mine) as string
    await put(`${object}/MINE`, 'yes')
    await put(`${object}/nested/DEEPER`, 'not a direct child')
    await put(`${project}/SHARED`, 'project')
    await put(`${backend.locate('object', other) as string}/THEIRS`, 'other project')
    await put(`${backend.locate('project', other) as string}/THEIRS`, 'other project')
    const { result, made } = await during(async () => await read(backend, object))
    t.same(result.entries, [{ type: 'ENV', key: 'MINE', value: 'yes' }])
    t.same(made.map(c => [c.input.Path, c.input.Recursive]), [[object, true]])
    t.same((await read(backend, project)).entries, [{ type: 'ENV', key: 'SHARED', value: 'project' }], 'the project layer does not see its objects')
  })

  t.test('aws-ssm: templates where one identity\'s layer path lies below another\'s read two walks, which never page through the paths below', async t => {
    // /nfss-nest/<project> is the project layer and /nfss-nest/<project>/<object> its objects'.
    const nested = create({ locators: { global: '/nfss-nest-global', project: '/nfss-nest/{projectId}', object: '/nfss-nest/{projectId}/{nfObjectId}' } })
    t.equal(nested.callsPerRead, 2, 'the call budget takes two tokens per read')
    const mine = uniqueIdentity()
    const project = nested.locate('project', mine) as string
    await put(`${project}/SHARED`, 'project')
    await put(`${project}/_files/etc/shared.conf`, 'shared file')
    // 30 parameters of 3 objects below the project path: a recursive walk of it would take 4 pages.
    for (let o = 0; o < 3; o++) {
      await Promise.all(Array.from({ length: 10 }, async (_, i) => { await put(`${nested.locate('object', { ...mine, nfObjectId: `obj${o}` }) as string}/K_${i}`, 'an object value') }))
    }
    const { result, made } = await during(async () => await read(nested, project))
    t.same(sortEntries(result.entries), sortEntries([{ type: 'ENV', key: 'SHARED', value: 'project' }, { type: 'FILE', path: '/etc/shared.conf', data: 'shared file', encoding: 'utf-8' }]), 'only the project layer\'s own parameters')
    t.same(made.filter(c => c.command === 'GetParametersByPathCommand').map(c => [c.input.Path, c.input.Recursive]).sort(), [[project, false], [`${project}/_files`, true]], 'two walks of one page each')
    t.same((await read(nested, nested.locate('object', { ...mine, nfObjectId: 'obj1' }) as string)).entries.length, 10, 'an object layer reads its own')
  })

  await awsFaultCases(t, { store: 'aws-ssm', create: extra => create(extra), readAttempts: [3, 3] })

  t.test('aws-ssm: a throttled call that succeeds on retry is served', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    await put(`${locator}/AFTER_RETRY`, 'ok')
    const fake = await startAwsFaultFake({ type: 'ThrottlingException', faults: 2, target: endpoint })
    t.teardown(fake.close)
    const retrying = create({ endpoint: fake.endpoint, maxAttempts: 3 })
    t.same((await read(retrying, locator)).entries, [{ type: 'ENV', key: 'AFTER_RETRY', value: 'ok' }])
  })

  t.test('aws-ssm: locator templates are checked against SSM naming rules', async t => {
    t.throws(() => create({ locators: { object: 'northflank/{projectId}' } }), /must start with "\/"/)
    t.throws(() => create({ locators: { object: '/aws/{projectId}' } }), /reserved/)
    t.throws(() => create({ locators: { object: '/nf/{projectId}:{nfObjectId}' } }), /characters outside/)
    t.throws(() => create({ locators: { object: `/${Array.from({ length: 15 }, () => 'a').join('/')}` } }), /levels/)
    t.equal(create({ locators: { object: '/teams/{projectId}/{nfObjectType}/{nfObjectId}' } }).locate('object', { projectId: 'p', nfObjectId: 'o', nfObjectType: 'job' }), '/teams/p/job/o')
  })

  t.test('aws-ssm: roleArn is assumed through STS before reading', async t => {
    const identity = uniqueIdentity()
    const locator = backend.locate('object', identity) as string
    await put(`${locator}/VIA_ROLE`, 'assumed')
    const sts = await startAwsFaultFake({ type: 'unused', faults: 0, target: endpoint }) // a counting pass-through
    t.teardown(sts.close)
    const viaRole = create({ roleArn: 'arn:aws:iam::123456789012:role/nf-secret-source-reader', stsEndpoint: sts.endpoint })
    t.same((await read(viaRole, locator)).entries, [{ type: 'ENV', key: 'VIA_ROLE', value: 'assumed' }])
    t.same((await read(viaRole, locator)).entries, [{ type: 'ENV', key: 'VIA_ROLE', value: 'assumed' }])
    t.equal(sts.requests(), 1, 'one AssumeRole, its credentials reused by the next read')
  })
}
