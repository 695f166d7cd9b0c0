import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises'
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
  unreachable: { skip: 'a local folder has no network: a missing root is tested below' },
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
