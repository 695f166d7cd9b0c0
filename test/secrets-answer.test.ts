// The answer: layer precedence, validation, strict mode, store errors, and what reaches the log.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { countingDefinition, countingStore } from './helpers/counting-backend.js'
import { capturingLogger } from './helpers/logger.js'
import { startTestService } from './helpers/service.js'

async function tree (files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'nfss-answer-'))
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, name)), { recursive: true })
    await writeFile(join(root, name), text)
  }
  return root
}

const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }
const other = { projectId: 'proj', nfObjectId: 'worker', nfObjectType: 'job' }

// Two backends x three layers; every value says where it comes from.
const base = await tree({
  'northflank/_global.yaml': 'WHO: base-global\nG_ONLY: g\nBASE_OBJECT_WINS: base-global\n/etc/who: base-global\n',
  'northflank/proj/_shared.yaml': 'WHO: base-project\nP_ONLY: p\n/etc/who: base-project\n',
  'northflank/proj/api.yaml': 'WHO: base-object\nBASE_OBJECT_WINS: base-object\nVALUE_SECRET_1: s3cr3t-value-one\n'
})
const overlay = await tree({
  'northflank/_global.yaml': 'WHO: overlay-global\nBASE_OBJECT_WINS: overlay-global\n',
  'northflank/proj/_shared.yaml': 'WHO: overlay-project\n/etc/who: overlay-project\n',
  'northflank/proj/api.yaml': 'WHO: overlay-object\n/etc/tls/key.pem:\n  data: czNjcjN0LWtleQ==\n  encoding: base64\n  mode: "0400"\n'
})

const { logger, lines } = capturingLogger()
const svc = await startTestService({ backends: [{ name: 'base', type: 'file', root: base }, { name: 'overlay', type: 'file', root: overlay }] }, { logger })
t.teardown(() => svc.close())

t.test('precedence: object > project > global; within a layer the later backend wins', async t => {
  const res = await svc.fetchAs(api)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.match(res.headers.get('content-type'), /^application\/json/)
  t.same(await res.json(), {
    secrets: [
      { type: 'ENV', key: 'BASE_OBJECT_WINS', value: 'base-object' },
      { type: 'ENV', key: 'G_ONLY', value: 'g' },
      { type: 'ENV', key: 'P_ONLY', value: 'p' },
      { type: 'ENV', key: 'VALUE_SECRET_1', value: 's3cr3t-value-one' },
      { type: 'ENV', key: 'WHO', value: 'overlay-object' },
      { type: 'FILE', path: '/etc/tls/key.pem', data: 'czNjcjN0LWtleQ==', encoding: 'base64', permissions: { policy: 'AlwaysSet', mode: '0400' } },
      { type: 'FILE', path: '/etc/who', data: 'overlay-project', encoding: 'utf-8' }
    ]
  })
})

t.test('an object with nothing of its own gets the project and global layers', async t => {
  const res = await svc.fetchAs(other)
  const { secrets } = await res.json() as { secrets: Array<{ key?: string, value?: string }> }
  t.same(secrets.find(s => s.key === 'WHO'), { type: 'ENV', key: 'WHO', value: 'overlay-project' })
})

t.test('an identity with nothing stored gets 200 {"secrets":[]}', async t => {
  // The store is there (root and its top folder northflank/), it holds nothing for this identity.
  const empty = await startTestService({ backends: [{ name: 'empty', type: 'file', root: await tree({ 'northflank/.keep': '' }) }] })
  t.teardown(() => empty.close())
  const res = await empty.fetchAs({ projectId: 'nobody', nfObjectId: 'nothing', nfObjectType: 'service' })
  t.equal(res.status, 200)
  t.same(await res.json(), { secrets: [] })
})

t.test('invalid entries are skipped with a warning naming backend, locator and key', async t => {
  const root = await tree({ 'northflank/proj/api.yaml': 'GOOD: yes\nBAD-NAME: hidden-value-1\n/rel/../path: hidden-value-2\n/etc/ok: fine\n' })
  const captured = capturingLogger()
  const lenient = await startTestService({ backends: [{ name: 'files', type: 'file', root }] }, { logger: captured.logger })
  t.teardown(() => lenient.close())
  const res = await lenient.fetchAs(api)
  t.equal(res.status, 200)
  t.same(await res.json(), { secrets: [{ type: 'ENV', key: 'GOOD', value: 'yes' }, { type: 'FILE', path: '/etc/ok', data: 'fine', encoding: 'utf-8' }] })
  const warnings = captured.lines().split('\n').filter(l => l.includes('invalid entry skipped')).map(l => JSON.parse(l) as Record<string, unknown>)
  t.same(warnings.map(w => [w.backend, w.layer, w.locator, w.key]), [
    ['files', 'object', 'northflank/proj/api', 'BAD-NAME'],
    ['files', 'object', 'northflank/proj/api', '/rel/../path']
  ])
  t.notMatch(captured.lines(), /hidden-value/)
})

t.test('metric cardinality: 1,000 identities with a bad key give a bounded number of invalid_entries_total series', async t => {
  const store = countingStore() // in memory: the test is about labels, not file reads
  for (let i = 0; i < 1000; i++) store.documents.set(`northflank/proj/svc-${i}`, { GOOD: 'yes', [`BAD-KEY-${i}`]: `hidden-value-${i}`, [`/rel/../path-${i}`]: 'hidden', [`/etc/typo-${i}`]: { data: 'x', colour: 'red' } })
  const many = await startTestService({ backends: [{ name: 'files', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  t.teardown(() => many.close())
  // Through the app without sockets (inject): 1,000 requests in well under a second or two.
  const statuses = new Set<number>()
  for (let i = 0; i < 1000; i += 50) {
    const answers = await Promise.all(Array.from({ length: 50 }, async (_, j) => await many.service.app.inject({ url: '/', headers: { authorization: `Bearer ${many.token({ projectId: 'proj', nfObjectId: `svc-${i + j}`, nfObjectType: 'service' })}` } })))
    for (const a of answers) statuses.add(a.statusCode)
  }
  t.same([...statuses], [200], 'every identity answered')
  const metrics = await (await fetch(new URL('metrics', many.service.opsUrl))).text()
  const series = metrics.split('\n').filter(l => l.startsWith('nf_secret_source_invalid_entries_total{'))
  t.same(series.sort(), [
    'nf_secret_source_invalid_entries_total{backend="files",layer="object",reason="name"} 2000',
    'nf_secret_source_invalid_entries_total{backend="files",layer="object",reason="value"} 1000'
  ], '3,000 invalid entries of 1,000 identities: 2 series (backend x layer x reason), not one per locator and key')
  t.notMatch(metrics, /BAD-KEY|svc-\d|hidden/, 'no key, locator or value in any label')
  t.comment(`1,000 identities x 3 invalid entries: ${series.length} invalid_entries_total series (before: one per backend, locator and key, 3,000)`)
})

t.test('invalid_entries_total reason: name (the key cannot be served) or value (its value or attributes), read from the key unless the store says', async t => {
  const { invalidReason } = await import('../src/metrics.js')
  t.same(['BAD-NAME', 'rel/path', '/etc/../x', '/', 'GOOD_NAME', '/etc/ok'].map(key => invalidReason({ key })), ['name', 'name', 'name', 'name', 'value', 'value'])
  t.equal(invalidReason({ key: 'my-secret/KEY', kind: 'value' }), 'value', 'a Kubernetes <secret>/<key> whose value is not text')
})

t.test('invalid entries repeat: N requests served from the cache log the warning once; a new store read logs it again', async t => {
  const root = await tree({ 'northflank/proj/api.yaml': 'GOOD: yes\nBAD-NAME: hidden-value-3\n' })
  const captured = capturingLogger('info')
  const cached = await startTestService({ backends: [{ name: 'files', type: 'file', root, cache: { ttl: 0.3 } }] }, { logger: captured.logger })
  t.teardown(() => cached.close())
  const warnings = (): number => captured.lines().split('\n').filter(l => l.includes('"msg":"invalid entry skipped"')).length
  for (let i = 0; i < 20; i++) t.equal((await cached.fetchAs(api)).status, 200)
  t.equal(warnings(), 1, '20 requests, one store read: one warning')
  t.equal(captured.lines().split('\n').filter(l => l.includes('"audit"') && l.includes('"skipped":1')).length, 20, 'every audit line still counts the skipped entry')
  await new Promise(resolve => setTimeout(resolve, 400))
  await cached.fetchAs(api)
  await cached.fetchAs(api)
  t.equal(warnings(), 2, 'ttl later the store is read again: logged again, once')
  t.match(await (await fetch(new URL('metrics', cached.service.opsUrl))).text(), 'nf_secret_source_invalid_entries_total{backend="files",layer="object",reason="name"} 2', 'counted once per store read')
  t.notMatch(captured.lines(), /hidden-value/)

  // A backend that serves from memory (an informer) bypasses the cache: an unchanged read is still one warning.
  const store = countingStore()
  store.servesFromMemory = true
  store.documents.set('northflank/proj/api', { GOOD: 'yes', 'BAD-NAME': 'x' })
  const memoryLog = capturingLogger('info')
  const replica = await startTestService({ backends: [{ name: 'replica', type: 'counting' }] }, { definitions: [countingDefinition(store)], logger: memoryLog.logger })
  t.teardown(() => replica.close())
  for (let i = 0; i < 10; i++) await replica.fetchAs(api)
  const replicaWarnings = (): number => memoryLog.lines().split('\n').filter(l => l.includes('"msg":"invalid entry skipped"')).length
  t.equal(store.calls.get('northflank/proj/api'), 10, 'every request reads the replica')
  t.equal(replicaWarnings(), 1, 'an unchanged replica read is logged once')
  store.documents.set('northflank/proj/api', { GOOD: 'changed', 'BAD-NAME': 'x' })
  await replica.fetchAs(api)
  await replica.fetchAs(api)
  t.equal(replicaWarnings(), 2, 'a change in the replica is a new read: logged once more')
})

t.test('strict: true turns an invalid entry into a 502 with no secrets', async t => {
  const root = await tree({ 'northflank/proj/api.yaml': 'GOOD: strict-good-value\nBAD-NAME: x\n' })
  const log = capturingLogger('info')
  const strict = await startTestService({ strict: true, backends: [{ name: 'files', type: 'file', root }] }, { logger: log.logger })
  t.teardown(() => strict.close())
  const res = await strict.fetchAs(api)
  t.equal(res.status, 502)
  const text = await res.text()
  t.same(JSON.parse(text), { error: 'Bad Gateway', code: 'NFSS_INVALID_ENTRIES', message: 'stores hold 1 entries that cannot be served (strict mode)' })
  t.notMatch(text, /strict-good-value/)
  t.match(log.lines(), /"key":"BAD-NAME".*"msg":"invalid entry refused the answer \(strict\)"/, 'the log says the entry refused the answer')
  t.notMatch(log.lines(), 'invalid entry skipped', 'not that it was skipped')
})

t.test('a malformed document fails the request with 503 and no partial answer', async t => {
  const good = await tree({ 'northflank/_global.yaml': 'GLOBAL_VALUE: partial-answer-canary\n' })
  const bad = await tree({ 'northflank/proj/api.yaml': '- a list\n- is not a document\n' })
  const broken = await startTestService({ backends: [{ name: 'good', type: 'file', root: good }, { name: 'bad', type: 'file', root: bad }] })
  t.teardown(() => broken.close())
  const res = await broken.fetchAs(api)
  t.equal(res.status, 503)
  const text = await res.text()
  t.same(JSON.parse(text), { error: 'Service Unavailable', code: 'NFSS_STORE_MALFORMED', message: 'backend "bad" could not read layer "object"' })
  t.notMatch(text, /partial-answer-canary/)
})

t.test('partial answer when a store is missing: a second file backend whose root did not mount fails the request, never answers the first one alone', async t => {
  const first = await tree({ 'northflank/_global.yaml': 'FIRST_ONLY: partial-answer-canary\n' })
  const captured = capturingLogger('info')
  const svc = await startTestService({
    backends: [{ name: 'base', type: 'file', root: first }, { name: 'tenant-overrides', type: 'file', root: './not-mounted-volume' }]
  }, { baseDir: first, logger: captured.logger })
  t.teardown(() => svc.close())
  const res = await svc.fetchAs(api)
  t.equal(res.status, 503)
  const text = await res.text()
  t.match(JSON.parse(text), { code: 'NFSS_STORE_UNAVAILABLE', message: /^backend "tenant-overrides" could not read layer "(global|project|object)"$/ })
  t.notMatch(text, 'partial-answer-canary')
  t.notMatch(captured.lines(), /tenant-overrides:none:miss/, 'the audit line never reports the missing store as an empty layer')
  t.match(captured.lines(), /"backend":"tenant-overrides".*root folder \.\/not-mounted-volume is not readable \(ENOENT\): it does not exist.*"msg":"store read failed"/)
  const [, overrides] = svc.service.backends
  await t.rejects(overrides?.ready(AbortSignal.timeout(1000)) as Promise<void>, { code: 'NFSS_STORE_UNAVAILABLE', message: /not-mounted-volume is not readable \(ENOENT\)/ }, 'readiness says the same as the secret route')
})

t.test('a YAML syntax error is a 503 too', async t => {
  const bad = await tree({ 'northflank/proj/_shared.yaml': 'A: [unclosed\n' })
  const broken = await startTestService({ backends: [{ name: 'bad', type: 'file', root: bad }] })
  t.teardown(() => broken.close())
  const res = await broken.fetchAs(api)
  t.equal(res.status, 503)
  t.match(await res.json(), { code: 'NFSS_STORE_MALFORMED' })
})

t.test('custom route path', async t => {
  const custom = await startTestService({ server: { host: '127.0.0.1', port: 0, path: '/nf/secrets' }, backends: [{ name: 'base', type: 'file', root: base }] })
  t.teardown(() => custom.close())
  t.match(custom.url, /\/nf\/secrets$/)
  t.equal((await custom.fetchAs(api)).status, 200)
  t.equal((await fetch(new URL('/', custom.url), { headers: { authorization: `Bearer ${custom.token(api)}` } })).status, 404)
})

t.test('no secret value or token ever reaches the log; the audit line names entries', async t => {
  const token = svc.token(api)
  await fetch(svc.url, { headers: { authorization: `Bearer ${token}` } })
  const log = lines()
  for (const value of ['s3cr3t-value-one', 'czNjcjN0LWtleQ==', 'overlay-object', 'base-global', token, token.split('.')[2] as string]) {
    t.notMatch(log, value, `log does not contain ${value.slice(0, 12)}...`)
  }
  const audit = log.split('\n').filter(l => l.includes('"audit"')).map(l => JSON.parse(l) as { audit: Record<string, unknown> })
  const last = audit.at(-1)?.audit
  t.match(last, { status: 200, identity: api, envCount: 5, fileCount: 2, env: ['BASE_OBJECT_WINS', 'G_ONLY', 'P_ONLY', 'VALUE_SECRET_1', 'WHO'], files: ['/etc/tls/key.pem', '/etc/who'] })
  t.equal((last?.layers as string[]).length, 6, 'three layers x two backends')
})
