// The CLI as users run it: a child process per command.
import { spawn } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createVerifier } from 'fast-jwt'
import t from 'tap'

const SECRET = 'cli-test-secret-0123456789abcdef-0123456789'
const CLI = ['--import=tsx', 'src/cli.ts']

interface Run { code: number | null, stdout: string, stderr: string }

function run (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise(resolve => {
    const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += String(d) })
    child.stderr.on('data', d => { stderr += String(d) })
    child.on('exit', code => resolve({ code, stdout, stderr }))
  })
}

const dir = await mkdtemp(join(tmpdir(), 'nfss-cli-'))
const configFile = join(dir, 'config.yaml')
await writeFile(configFile, [
  'server: { host: 127.0.0.1, port: 0 }',
  'ops: { host: 127.0.0.1, port: 0 }',
  'auth: { secrets: ["${env:NF_JWT_SECRET}"] }',
  `backends: [{ name: examples, type: file, root: ${JSON.stringify(join(process.cwd(), 'examples/secrets'))} }]`
].join('\n'))

t.test('demo: prints a curl line that returns the example secrets, and stops on SIGTERM', async t => {
  const child = spawn(process.execPath, [...CLI, 'demo'], { env: { ...process.env, NFSS__SERVER__PORT: '0', NFSS__OPS__PORT: '0' } })
  let out = ''
  const curl = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', d => {
      out += String(d)
      const line = /curl -s -H "Authorization: Bearer ([^"]+)" (\S+)/.exec(out)
      if (line !== null) resolve(line[0])
    })
    child.on('exit', code => reject(new Error(`demo exited ${code}: ${out}`)))
  })
  const [, token, url] = /Bearer ([^"]+)" (\S+)/.exec(curl) as unknown as [string, string, string]
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.status, 200)
  const { secrets } = await res.json() as { secrets: Array<{ key?: string, path?: string }> }
  t.same(secrets.map(s => s.key ?? s.path), ['API_KEY', 'DATABASE_URL', 'FEATURE_FLAGS_ENABLED', 'LOG_LEVEL', 'REGION', '/etc/app/config.json', '/etc/nf/ca.pem', '/etc/tls/key.pem'])
  const exited = new Promise<number | null>(resolve => child.on('exit', resolve))
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exit 0 after SIGTERM')
})

t.test('serve refuses to start without a JWT secret and names the config path', async t => {
  const result = await run(['serve', '--config', configFile], { NF_JWT_SECRET: '' })
  t.equal(result.code, 2)
  t.match(result.stderr, 'auth.secrets[0]: environment variable NF_JWT_SECRET is not set')
})

t.test('serve names every invalid key', async t => {
  const bad = join(dir, 'bad.yaml')
  await writeFile(bad, 'server: { port: -1, colour: blue }\nauth: { secrets: [short] }\nbackends: [{ name: x, type: nope }]\n')
  const result = await run(['serve', '--config', bad])
  t.equal(result.code, 2)
  for (const problem of ['server.port: must be >= 0', 'server.colour: unknown key', 'auth.secrets[0]: must NOT have fewer than 32 characters', 'backends[0].type: unknown type "nope"']) {
    t.match(result.stderr, problem, problem)
  }
})

t.test('serve without --config says what is missing', async t => {
  const result = await run(['serve'], { NFSS_CONFIG: '' })
  t.equal(result.code, 2)
  t.match(result.stderr, '--config FILE is required')
})

t.test('token signs a Northflank-shaped JWT', async t => {
  const result = await run(['token', '--project', 'p1', '--object', 'api', '--type', 'service', '--secret', SECRET, '--ttl', '2h'])
  t.equal(result.code, 0)
  const claims = createVerifier({ key: SECRET, algorithms: ['HS256'] })(result.stdout.trim()) as Record<string, number | string>
  t.match(claims, { projectId: 'p1', nfObjectId: 'api', nfObjectType: 'service' })
  t.equal((claims.exp as number) - (claims.iat as number), 7200)
  const bad = await run(['token', '--project', '../p', '--object', 'api', '--secret', SECRET])
  t.equal(bad.code, 2)
  t.match(bad.stderr, '--project must match')
})

t.test('resolve shows where each entry comes from, values masked unless --show-values', async t => {
  const env = { NF_JWT_SECRET: SECRET }
  const args = ['resolve', '--config', configFile, '--project', 'demo-project', '--object', 'api', '--type', 'service']
  const masked = await run([...args, '--json'], env)
  t.equal(masked.code, 0, masked.stderr)
  const report = JSON.parse(masked.stdout) as { entries: Array<Record<string, string>>, reads: unknown[] }
  t.same(report.entries.find(e => e.name === 'DATABASE_URL'), { type: 'ENV', name: 'DATABASE_URL', value: '****', layer: 'object', backend: 'examples', locator: 'northflank/demo-project/api' })
  t.same(report.entries.find(e => e.name === 'REGION'), { type: 'ENV', name: 'REGION', value: '****', layer: 'global', backend: 'examples', locator: 'northflank/_global' })
  t.notMatch(masked.stdout, 'api-demo-password')
  t.equal(report.reads.length, 3)
  const shown = await run([...args, '--show-values'], env)
  t.match(shown.stdout, 'ENV   DATABASE_URL  "postgres://api:api-demo-password@db.internal:5432/app"  <- object / examples / northflank/demo-project/api')
  t.match(shown.stdout, 'FILE  /etc/nf/ca.pem  "-----BEGIN CERTIFICATE-----\\n')
})

t.test('check validates config and reaches every store', async t => {
  const ok = await run(['check', '--config', configFile], { NF_JWT_SECRET: SECRET })
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, 'ok    examples (file)')
  const missingRoot = join(dir, 'missing-root.yaml')
  await writeFile(missingRoot, `auth: { secrets: ["${SECRET}"] }\nbackends: [{ name: gone, type: file, root: ./not-there }]\n`)
  const failed = await run(['check', '--config', missingRoot])
  t.equal(failed.code, 1)
  t.match(failed.stdout, 'FAIL  gone (file): store unavailable: root folder ./not-there is not readable (ENOENT)')
})
