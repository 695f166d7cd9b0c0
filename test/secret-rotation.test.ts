// Rotating the JWT secret without a restart, the way a mounted Kubernetes Secret changes: the
// kubelet writes a new ..YYYY folder and swaps the ..data link, the file path stays the same.
import { mkdir, mkdtemp, rename, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { loadConfig } from '../src/config/load.js'
import { secretFingerprint } from '../src/secret-rotation.js'
import { startService } from '../src/server.js'
import { signToken } from '../src/token.js'
import { capturingLogger } from './helpers/logger.js'

const OLD = 'old-secret-0123456789abcdef-0123456789abcdef'
const NEW = 'new-secret-0123456789abcdef-0123456789abcdef'
const identity = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** A Secret volume: root/jwt -> ..data/jwt, ..data -> ..<generation>; update() swaps ..data atomically. */
async function secretVolume (root: string, content: string): Promise<{ update: (content: string) => Promise<void> }> {
  let generation = 0
  const write = async (text: string): Promise<void> => {
    const folder = `..gen${++generation}`
    await mkdir(join(root, folder))
    await writeFile(join(root, folder, 'jwt'), text)
    await symlink(folder, join(root, '..data_tmp'))
    await rename(join(root, '..data_tmp'), join(root, '..data'))
  }
  await write(content)
  await symlink(join('..data', 'jwt'), join(root, 'jwt'))
  return { update: write }
}

t.test('rotation without restart: add a second secret, its tokens pass; remove the first, its tokens are refused', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'nfss-rotation-'))
  const volume = join(dir, 'jwt-secret')
  await mkdir(volume)
  const secret = await secretVolume(volume, `${OLD}\n`)
  await mkdir(join(dir, 'secrets', 'northflank', 'proj'), { recursive: true })
  await writeFile(join(dir, 'secrets', 'northflank', 'proj', 'api.yaml'), 'API_KEY: k\n')
  await writeFile(join(dir, 'config.yaml'), stringify({
    server: { host: '127.0.0.1', port: 0 },
    ops: { host: '127.0.0.1', port: 0 },
    auth: { secrets: ['${file:jwt-secret/jwt}'], reloadIntervalSeconds: 0.1 }, // eslint-disable-line no-template-curly-in-string
    backends: [{ name: 'files', type: 'file', root: './secrets' }]
  }))
  const { logger, lines } = capturingLogger('info')
  const service = await startService(loadConfig({ file: join(dir, 'config.yaml'), env: {} }), logger)
  t.teardown(service.close)
  const status = async (key: string): Promise<number> => (await fetch(service.url, { headers: { authorization: `Bearer ${signToken(identity, { secret: key })}` } })).status
  const until = async (what: string, done: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 5000
    while (!await done()) {
      if (Date.now() > deadline) throw new Error(`${what} did not happen`)
      await sleep(50)
    }
  }

  t.equal(await status(OLD), 200, 'the first secret verifies')
  t.equal(await status(NEW), 401, 'the next one not yet')

  await secret.update(`${OLD}\n${NEW}\n`)
  await until('the new secret applies', async () => await status(NEW) === 200)
  t.equal(await status(OLD), 200, 'both verify during the rotation')
  const metrics = async (): Promise<string> => await (await fetch(new URL('metrics', service.opsUrl))).text()
  t.match(await metrics(), `nf_secret_source_auth_secret_active{index="1",fingerprint="${secretFingerprint(NEW)}"} 1`, 'the metric names the active secrets by index and fingerprint')

  await secret.update(`${NEW}\n`)
  await until('the old secret is refused', async () => await status(OLD) === 401)
  t.equal(await status(NEW), 200)

  await secret.update('short\n')
  await sleep(400)
  t.equal(await status(NEW), 200, 'an invalid new file keeps the old list (never an empty one)')
  t.match(await metrics(), 'nf_secret_source_auth_secrets_reload_failed 1')
  t.match(lines(), 'auth secrets not reloaded: the previous list stays in force')

  const log = lines()
  for (const value of [OLD, NEW]) t.notMatch(log, value, 'no secret in the log')
  t.match(log, secretFingerprint(NEW), 'the log names secrets by fingerprint')
})

t.test('rotation: a literal or ${env:} secret is never re-read; the list is as configured', async t => { // eslint-disable-line no-template-curly-in-string
  const { config, secretSources } = loadConfig({ document: { auth: { secrets: [OLD, '${env:NEXT}'] }, backends: [{ name: 'f', type: 'file' }] }, env: { NEXT: NEW } }) // eslint-disable-line no-template-curly-in-string
  t.same(config.auth.secrets, [OLD, NEW])
  t.same(secretSources, [{ value: OLD }, { value: NEW }])
})

t.test('rotation: a ${file:} entry holds one secret per line, each checked like any other', async t => { // eslint-disable-line no-template-curly-in-string
  const dir = await mkdtemp(join(tmpdir(), 'nfss-rotation-lines-'))
  await writeFile(join(dir, 'secrets'), `${OLD}\n\n  ${NEW}  \n`)
  const { config } = loadConfig({ document: { auth: { secrets: ['${file:secrets}'] }, backends: [{ name: 'f', type: 'file' }] }, env: {}, baseDir: dir }) // eslint-disable-line no-template-curly-in-string
  t.same(config.auth.secrets, [OLD, NEW])
  await writeFile(join(dir, 'short'), `${OLD}\nshort\n`)
  t.throws(() => loadConfig({ document: { auth: { secrets: ['${file:short}'] }, backends: [{ name: 'f', type: 'file' }] }, env: {}, baseDir: dir }), /auth\.secrets\[1\]: must NOT have fewer than 32 characters/) // eslint-disable-line no-template-curly-in-string
})
