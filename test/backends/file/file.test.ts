import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { stringify } from 'yaml'
import { fileDefinition } from '../../../backends/file/index.js'
import type { Backend } from '../../../src/store/port.js'
import { callStore } from '../../../src/store-call.js'
import { silentLogger } from '../../helpers/logger.js'
import { backendContract, documentOf, uniqueIdentity } from '../contract.js'
import { storeContext } from '../kit.js'

const root = await mkdtemp(join(tmpdir(), 'nfss-file-'))
// The store's top folder (the defaults' literal folder): the store is there, with nothing in it yet.
await mkdir(join(root, 'northflank'))
const context = { logger: silentLogger(), baseDir: root, layers: ['global', 'project', 'object'] }
const create = (extra: Record<string, unknown> = {}): Backend => {
  const config = { name: 'files', type: 'file', root, ...extra }
  return fileDefinition.create(config as never, storeContext(fileDefinition, config, context)) as Backend
}
const backend = create()

async function writeLocator (locator: string, text: string): Promise<void> {
  const path = join(root, `${locator}.yaml`)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, text)
}

await backendContract(t, {
  backend,
  seed: async (layer, identity, seed) => { await writeLocator(backend.locate(layer, identity) as string, stringify(documentOf(seed))) },
  seedMalformed: async (layer, identity) => { await writeLocator(backend.locate(layer, identity) as string, '- a list\n- not a map\n') },
  denied: { skip: 'the file store has no credentials: an unreadable file is NFSS_STORE_DENIED, tested below' },
  unreachable: { skip: 'a local folder has no network: a missing root is missingStore' },
  // A volume that did not mount: the configured root is not there.
  missingStore: async () => create({ root: join(root, 'not-mounted-volume') }),
  // Counting calls to read() itself could never fail; a read is one readFile by construction.
  service: { backend: { name: 'files', type: 'file', root } },
  storeCalls: { skip: 'a read is one readFile of one file by construction (backends/file/index.ts)' }
})

t.test('file: a YAML syntax error is malformed and the error quotes no source text', async t => {
  const identity = uniqueIdentity()
  const locator = backend.locate('object', identity) as string
  await writeLocator(locator, 'API_KEY: "super-secret-value\nOTHER: [unclosed\n')
  const err = await callStore(backend, locator, 5000).catch((e: Error) => e)
  t.match(err, { code: 'NFSS_STORE_MALFORMED' })
  t.notMatch((err as Error).message, /super-secret-value/)
})

t.test('file: an unreadable document is NFSS_STORE_DENIED', async t => {
  const identity = uniqueIdentity()
  const locator = backend.locate('object', identity) as string
  await writeLocator(locator, 'A: b\n')
  await chmod(join(root, `${locator}.yaml`), 0o000)
  if (process.getuid?.() !== 0) {
    await t.rejects(callStore(backend, locator, 5000), { code: 'NFSS_STORE_DENIED' })
    return
  }
  // Root reads any file: read as an unprivileged user (nobody) in a child process instead.
  const script = [
    "import { fileDefinition } from './backends/file/index.ts'",
    "import { buildBackend } from './src/create-backends.ts'",
    "import { callStore } from './src/store-call.ts'",
    "import { createLogger } from './src/logger.ts'",
    `const b = await buildBackend(fileDefinition, { name: 'files', type: 'file', root: ${JSON.stringify(root)} }, { logger: createLogger('silent'), baseDir: '.', layers: ['global', 'project', 'object'] })`,
    `callStore(b, ${JSON.stringify(locator)}, 5000).then(() => console.log('read'), e => console.log(e.code))`
  ].join('\n')
  const { stdout } = await promisify(execFile)(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { uid: 65534, gid: 65534, env: { ...process.env, HOME: tmpdir() } })
  t.equal(stdout.trim(), 'NFSS_STORE_DENIED')
})

t.test('file: custom locator templates per layer', async t => {
  const custom = create({ locators: { object: 'teams/{projectId}/{nfObjectType}/{nfObjectId}' } })
  const identity = uniqueIdentity()
  t.equal(custom.locate('object', identity), `teams/${identity.projectId}/service/${identity.nfObjectId}`)
  t.equal(custom.locate('project', identity), `northflank/${identity.projectId}/_shared`, 'other layers keep their defaults')
})

t.test('file: locator templates cannot escape the root (traversal)', async t => {
  t.throws(() => create({ locators: { object: '../{projectId}' } }), /must not contain/)
  t.throws(() => create({ locators: { object: '/etc/{projectId}' } }), /relative/)
})

t.test('file: ready() fails when the root folder is missing', async t => {
  const missing = create({ root: join(root, 'does-not-exist') })
  await t.rejects(missing.ready(AbortSignal.timeout(1000)), { code: 'NFSS_STORE_UNAVAILABLE' })
})

/** A fresh root holding `files` (relative path -> text) and `links` (relative path -> link target). */
async function layout (files: Record<string, string>, links: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nfss-file-layout-'))
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true })
    await writeFile(join(dir, name), text)
  }
  for (const [name, target] of Object.entries(links)) {
    await mkdir(dirname(join(dir, name)), { recursive: true })
    await symlink(target, join(dir, name))
  }
  return dir
}
const at = (dir: string, extra: Record<string, unknown> = {}): Backend => create({ root: dir, ...extra })
const read = async (b: Backend, locator: string): Promise<unknown> => await callStore(b, locator, 5000).catch((err: Error) => err)

t.test('file: partial answer when a store is missing: a root that is not there is unavailable on every read, as ready() says', async t => {
  const missing = at(join(root, 'not-mounted-volume'))
  const ready = await missing.ready(AbortSignal.timeout(1000)).catch((err: Error) => err)
  t.match(ready, { code: 'NFSS_STORE_UNAVAILABLE', message: /root folder .*not-mounted-volume is not readable \(ENOENT\): it does not exist \(a volume that did not mount\?\)/ })
  for (const layer of ['global', 'project', 'object']) {
    t.match(await read(missing, missing.locate(layer, uniqueIdentity()) as string), { code: 'NFSS_STORE_UNAVAILABLE', message: (ready as Error).message }, `${layer}: the same error as /readyz`)
  }
  const file = await layout({ 'a-file': 'x' })
  t.match(await read(at(join(file, 'a-file')), 'northflank/_global'), { code: 'NFSS_STORE_UNAVAILABLE', message: /root folder .* is not readable \(ENOTDIR\)/ }, 'a root that is a file')
})

t.test('file: a missing top folder (northflank/) is unavailable; a missing folder below it is an empty layer', async t => {
  const empty = at(await layout({ 'other/x.yaml': 'A: b\n' }))
  const identity = uniqueIdentity()
  for (const layer of ['global', 'project', 'object']) {
    t.match(await read(empty, empty.locate(layer, identity) as string), { code: 'NFSS_STORE_UNAVAILABLE', message: /folder northflank\/ under root folder .* does not exist: the store's top folder is missing/ }, layer)
  }
  await t.rejects(empty.ready(AbortSignal.timeout(1000)), { code: 'NFSS_STORE_UNAVAILABLE', message: /folder northflank\/ under root folder/ })
  const there = at(await layout({ 'northflank/_global.yaml': 'A: b\n' }))
  await t.resolves(there.ready(AbortSignal.timeout(1000)))
  t.same(await read(there, there.locate('project', identity) as string), { found: false }, 'no folder for the project yet: an empty layer')
  t.same(await read(there, there.locate('object', identity) as string), { found: false })
  const custom = at(await layout({ 'teams/.keep': '' }), { locators: { global: 'shared/_global', project: 'teams/{projectId}/_shared', object: 'teams/{projectId}/{nfObjectId}' } })
  t.match(await read(custom, custom.locate('object', identity) as string), { code: 'NFSS_STORE_UNAVAILABLE', message: /folder shared\/ under root/ }, 'every template\'s top folder is part of the store')
  const flat = at(await layout({}), { locators: { global: '_global', project: '{projectId}/_shared', object: '{projectId}/{nfObjectId}' } })
  t.same(await read(flat, flat.locate('global', identity) as string), { found: false }, 'templates without a literal folder need only root')
})

t.test('file: symlink-escape: a link under root to a folder or file outside root is never served', async t => {
  const elsewhere = await layout({ 'api.yaml': 'STOLEN: escape-canary-value\n', 'global.yaml': 'STOLEN: escape-canary-value\n' })
  const dir = await layout({ 'northflank/_shared.keep': '' }, { 'northflank/projD': elsewhere, 'northflank/projE/api.yaml': join(elsewhere, 'api.yaml'), 'northflank/_global.yaml': '../../../../../../../..' + join(elsewhere, 'global.yaml') })
  const b = at(dir)
  for (const locator of ['northflank/projD/api', 'northflank/projE/api', 'northflank/_global']) {
    const err = await read(b, locator)
    t.match(err, { code: 'NFSS_STORE_MALFORMED', message: /resolves outside the root folder \(a symbolic link to .*\): not served/ }, locator)
    t.notMatch((err as Error).message, 'escape-canary-value')
  }
  t.match(await read(b, 'northflank/projD/missing'), { code: 'NFSS_STORE_MALFORMED' }, 'even a file that does not exist behind the link: never an empty layer')
})

t.test('file: cross-tenant-alias: a link inside root never makes one locator read another locator\'s file', async t => {
  const dir = await layout(
    { 'northflank/projB/api.yaml': 'B_SECRET: cross-tenant-canary\n', 'northflank/projB/_shared.yaml': 'B_SHARED: x\n' },
    { 'northflank/projA/alias.yaml': '../projB/api.yaml', 'northflank/projC': 'projB', 'northflank/projA/_shared.yaml': '../projB/_shared.yaml' }
  )
  const b = at(dir)
  for (const locator of ['northflank/projA/alias', 'northflank/projC/api', 'northflank/projA/_shared']) {
    const err = await read(b, locator)
    t.match(err, { code: 'NFSS_STORE_MALFORMED', message: /is a symbolic link to northflank\/projB.*, another path under root: not served/ }, locator)
    t.notMatch((err as Error).message, 'cross-tenant-canary')
  }
  t.match(await read(b, 'northflank/projC/missing'), { code: 'NFSS_STORE_MALFORMED' }, 'an aliased folder is refused even where the file is missing')
  t.match(await read(b, 'northflank/projB/api'), { found: true, entries: [{ key: 'B_SECRET' }] }, 'projB still reads its own file')
})

t.test('file: a Kubernetes Secret volume layout (..data links inside root) keeps working, updates included', async t => {
  // What kubelet's atomic writer makes of a Secret with items northflank/_global.yaml and
  // northflank/proj/api.yaml: a timestamped data folder, ..data pointing at it, and one link per top-level name.
  const v1 = '..2024_06_01_12_00_00.000000001'
  const dir = await layout(
    { [`${v1}/northflank/_global.yaml`]: 'VERSION: one\n', [`${v1}/northflank/proj/api.yaml`]: 'API: one\n', [`${v1}/_flat.yaml`]: 'FLAT: one\n' },
    { '..data': v1, northflank: '..data/northflank', '_flat.yaml': '..data/_flat.yaml' }
  )
  const b = at(dir)
  const flat = at(dir, { locators: { global: '_flat' } })
  await t.resolves(b.ready(AbortSignal.timeout(1000)))
  t.match(await read(b, 'northflank/_global'), { found: true, entries: [{ key: 'VERSION', value: 'one' }] })
  t.match(await read(b, 'northflank/proj/api'), { found: true, entries: [{ key: 'API', value: 'one' }] })
  t.match(await read(flat, '_flat'), { found: true, entries: [{ key: 'FLAT', value: 'one' }] }, 'a top-level file link (a Secret key without a path)')
  t.same(await read(b, 'northflank/proj/_shared'), { found: false }, 'a locator the volume does not hold is an empty layer')
  // An update: the new data folder is written, ..data swapped atomically, the old folder removed.
  const v2 = '..2024_06_01_12_05_00.000000002'
  await mkdir(join(dir, v2, 'northflank', 'proj'), { recursive: true })
  await writeFile(join(dir, v2, 'northflank/_global.yaml'), 'VERSION: two\n')
  await writeFile(join(dir, v2, 'northflank/proj/api.yaml'), 'API: two\n')
  await symlink(v2, join(dir, '..data_tmp'))
  await rename(join(dir, '..data_tmp'), join(dir, '..data'))
  await rm(join(dir, v1), { recursive: true })
  t.match(await read(b, 'northflank/_global'), { found: true, entries: [{ key: 'VERSION', value: 'two' }] })
  t.match(await read(b, 'northflank/proj/api'), { found: true, entries: [{ key: 'API', value: 'two' }] })
})

t.test('file: a symbolic link to nothing is unavailable, not an empty layer', async t => {
  const b = at(await layout({ 'northflank/_global.yaml': 'A: b\n' }, { 'northflank/proj/api.yaml': 'gone.yaml', 'northflank/projF': 'no-such-folder' }))
  t.match(await read(b, 'northflank/proj/api'), { code: 'NFSS_STORE_UNAVAILABLE', message: /northflank\/proj\/api.yaml is a symbolic link to nothing/ })
  t.match(await read(b, 'northflank/projF/api'), { code: 'NFSS_STORE_UNAVAILABLE', message: /northflank\/projF is a symbolic link to nothing/ })
})
