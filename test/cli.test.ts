// The CLI as users run it: a child process per command.
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createVerifier } from 'fast-jwt'
import t, { type Test } from 'tap'

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

t.test('token refuses a --ttl the configured service would refuse (auth.maxTokenLifetimeSeconds)', async t => {
  const env = { NF_JWT_SECRET: SECRET }
  const tooLong = await run(['token', '--config', configFile, '--project', 'p1', '--object', 'api', '--ttl', '26h'], env)
  t.equal(tooLong.code, 2)
  t.match(tooLong.stderr, '--ttl 26h is 93600 s, longer than auth.maxTokenLifetimeSeconds (90000 s): the service would refuse the token')
  t.equal(tooLong.stdout, '', 'no token printed')
  const fits = await run(['token', '--config', configFile, '--project', 'p1', '--object', 'api', '--ttl', '25h'], env)
  t.equal(fits.code, 0, fits.stderr)
  const claims = createVerifier({ key: SECRET, algorithms: ['HS256'] })(fits.stdout.trim()) as Record<string, number>
  t.equal((claims.exp as number) - (claims.iat as number), 90000, 'exactly the limit is accepted')
  const withoutConfig = await run(['token', '--project', 'p1', '--object', 'api', '--secret', SECRET, '--ttl', '26h'], { NFSS_CONFIG: '' })
  t.equal(withoutConfig.code, 0, 'without a config there is no limit to check against')
})

t.test('resolve shows where each entry comes from, values masked unless --show-values', async t => {
  const env = { NF_JWT_SECRET: SECRET }
  const args = ['resolve', '--config', configFile, '--project', 'demo-project', '--object', 'api', '--type', 'service']
  const masked = await run([...args, '--json'], env)
  t.equal(masked.code, 0, masked.stderr)
  const report = JSON.parse(masked.stdout) as { entries: Array<Record<string, string>>, reads: unknown[] }
  // t.match: entries also carry their fingerprint and overrides (tested below).
  t.match(report.entries.find(e => e.name === 'DATABASE_URL'), { type: 'ENV', name: 'DATABASE_URL', value: '****', layer: 'object', backend: 'examples', locator: 'northflank/demo-project/api' })
  t.match(report.entries.find(e => e.name === 'REGION'), { type: 'ENV', name: 'REGION', value: '****', layer: 'global', backend: 'examples', locator: 'northflank/_global' })
  t.notMatch(masked.stdout, 'api-demo-password')
  t.equal(report.reads.length, 3)
  const shown = await run([...args, '--show-values'], env)
  t.match(shown.stdout, 'ENV   DATABASE_URL  "postgres://api:api-demo-password@db.internal:5432/app"  <- object / examples / northflank/demo-project/api')
  t.match(shown.stdout, 'FILE  /etc/nf/ca.pem  "-----BEGIN CERTIFICATE-----\\n')
})

// resolve's provenance (issue #18): two file backends, three layers, against a temp dir.
const prov = await mkdtemp(join(tmpdir(), 'nfss-cli-provenance-'))
const docs: Record<string, string> = {
  'base/northflank/_global.yaml': [
    'LOG_LEVEL: info',
    'REGION: eu-west-1',
    '/etc/nf/ca.pem: ca-secret-global',
    '/etc/app/tls.pem: { data: tls-secret-global, mode: "0644" }'
  ].join('\n'),
  'base/northflank/proj-a/_shared.yaml': 'LOG_LEVEL: debug\nDATABASE_URL: postgres://secret-a-shared\n',
  'base/northflank/proj-a/api.yaml': [
    'LOG_LEVEL: trace',
    'REGION: eu-west-1 # the same value as global',
    'ONLY_A: secret-only-a',
    'API_TOKEN: secret-base-token',
    'bad-name: secret-never-served',
    `/etc/app/tls.pem: { data: ${Buffer.from('tls-secret-object').toString('base64')}, encoding: base64, mode: "0400", owner: "1000" }`
  ].join('\n'),
  'team/northflank/proj-a/api.yaml': 'API_TOKEN: secret-team-token\n',
  'base/northflank/proj-b/api.yaml': [
    'DATABASE_URL: postgres://secret-b-object',
    'ONLY_B: secret-only-b',
    'LOG_LEVEL: trace',
    'API_TOKEN: secret-team-token # the same value as proj-a gets from the team backend'
  ].join('\n'),
  'base/northflank/proj-c/api.yaml': 'DATABASE_URL: [unclosed\n'
}
for (const [path, text] of Object.entries(docs)) {
  await mkdir(dirname(join(prov, path)), { recursive: true })
  await writeFile(join(prov, path), text)
}
const provConfig = join(prov, 'config.yaml')
await writeFile(provConfig, `auth: { secrets: ["${SECRET}"] }\nbackends:\n  - { name: base, type: file, root: ./base }\n  - { name: team, type: file, root: ./team }\n`)
const SECRET_VALUES = ['secret-a-shared', 'secret-b-object', 'secret-only-a', 'secret-only-b', 'secret-base-token', 'secret-team-token', 'secret-never-served', 'tls-secret-global', 'tls-secret-object', Buffer.from('tls-secret-object').toString('base64'), 'ca-secret-global']
const resolveA = ['resolve', '--config', provConfig, '--project', 'proj-a', '--object', 'api']
const diffAB = ['resolve', '--config', provConfig, '--diff', 'proj-a/api', 'proj-b/api/service']
const FP = 'hmac:[0-9a-f]{12}'

function noValues (t: Test, out: string): void {
  for (const value of SECRET_VALUES) t.notOk(out.includes(value), `no ${value} in the output`)
}

interface JsonOverride { value: string, fingerprint: string, layer: string, backend: string, locator: string, changed: string[], encoding?: string, permissions?: unknown, owner?: unknown, group?: unknown }
interface JsonEntry extends Omit<JsonOverride, 'changed'> { type: string, name: string, overrides: JsonOverride[] }
interface JsonResolved { identity: Record<string, string>, layers: string[], status: number, entries: JsonEntry[], skipped: Array<Record<string, string>>, reads: Array<Record<string, unknown>>, fingerprints?: string }
interface JsonCompared { type: string, name: string, changed: string[], sourceDiffers: boolean, a: JsonEntry, b: JsonEntry }

t.test('resolve lists each winner, everything it overrode with fingerprints, FILE attributes, skipped entries and reads; values masked', async t => {
  const [human, json, shown] = await Promise.all([run(resolveA), run([...resolveA, '--json']), run([...resolveA, '--show-values'])])
  t.equal(human.code, 0, human.stderr)
  noValues(t, human.stdout)
  const out = human.stdout
  t.match(out, 'identity  project proj-a, object api, type service\nlayers    global -> project -> object\n')
  // Three layers on one key, least specific first, each with its own fingerprint.
  t.match(out, new RegExp(`ENV   LOG_LEVEL  ${FP}  <- object / base / northflank/proj-a/api\n {8}overrides  global  / base / northflank/_global\\s+${FP}  changed: value\n {19}project / base / northflank/proj-a/_shared\\s+${FP}  changed: value\n`))
  // Two backends in one layer: the later (team) wins over base.
  t.match(out, new RegExp(`ENV   API_TOKEN  ${FP}  <- object / team / northflank/proj-a/api\n {8}overrides  object  / base / northflank/proj-a/api\\s+${FP}  changed: value\n`))
  // An identical value overridden: the same fingerprint, "same value".
  const region = new RegExp(`ENV   REGION  (${FP})  <- object / base / northflank/proj-a/api\n {8}overrides  global  / base / northflank/_global\\s+(${FP})  same value\n`).exec(out)
  t.ok(region, 'REGION overrides global with the same value')
  t.equal(region?.[1], region?.[2], 'same value, same fingerprint')
  // A FILE overridden with other attributes: both sets of attributes and what changed.
  t.match(out, new RegExp(`FILE  /etc/app/tls.pem  ${FP}  <- object / base / northflank/proj-a/api\n {8}file {7}encoding base64, mode 0400 \\(AlwaysSet\\), owner 1000 \\(AlwaysSetExplicit\\), group unset\n {8}overrides  global  / base / northflank/_global\\s+${FP}  changed: value, encoding, permissions, owner  encoding utf-8, mode 0644 \\(AlwaysSet\\), owner unset, group unset\n`))
  t.match(out, /skipped \(held by a store, not served\)\n {2}bad-name {2}not a valid environment variable name {2}<- object \/ base \/ northflank\/proj-a\/api\n/)
  t.match(out, /reads \(resolve reads every store directly: cache off\)\n {2}global {3}base {2}northflank\/_global\s+cache off {2}4 entries\n {2}global {3}team {2}northflank\/_global\s+cache off {2}nothing stored\n/)
  t.match(out, / {2}object {3}base {2}northflank\/proj-a\/api\s+cache off {2}5 entries, 1 skipped\n/)
  t.match(out, 'answer    200: 5 ENV, 2 FILE, 1 skipped\n')

  t.equal(json.code, 0, json.stderr)
  noValues(t, json.stdout)
  const report = JSON.parse(json.stdout) as JsonResolved
  t.same(report.identity, { projectId: 'proj-a', nfObjectId: 'api', nfObjectType: 'service' })
  t.same([report.layers, report.status], [['global', 'project', 'object'], 200])
  t.match(report.fingerprints, 'random for this run')
  const entry = (name: string): JsonEntry => report.entries.find(e => e.name === name) as JsonEntry
  t.same(report.entries.map(e => e.name), ['API_TOKEN', 'DATABASE_URL', 'LOG_LEVEL', 'ONLY_A', 'REGION', '/etc/app/tls.pem', '/etc/nf/ca.pem'])
  t.same(entry('LOG_LEVEL').overrides.map(o => [o.layer, o.backend, o.locator, o.value, o.changed]), [
    ['global', 'base', 'northflank/_global', '****', ['value']],
    ['project', 'base', 'northflank/proj-a/_shared', '****', ['value']]
  ])
  t.match(entry('LOG_LEVEL'), { type: 'ENV', value: '****', fingerprint: new RegExp(`^${FP}$`), layer: 'object', backend: 'base', locator: 'northflank/proj-a/api' })
  t.equal(entry('REGION').overrides[0]?.fingerprint, entry('REGION').fingerprint)
  t.same(entry('REGION').overrides[0]?.changed, [])
  t.match(entry('/etc/app/tls.pem'), { type: 'FILE', encoding: 'base64', permissions: { policy: 'AlwaysSet', mode: '0400' }, owner: { policy: 'AlwaysSetExplicit', value: '1000' }, group: null })
  t.match(entry('/etc/app/tls.pem').overrides, [{ layer: 'global', encoding: 'utf-8', permissions: { policy: 'AlwaysSet', mode: '0644' }, owner: null, group: null, changed: ['value', 'encoding', 'permissions', 'owner'] }])
  t.same(report.skipped, [{ name: 'bad-name', reason: 'not a valid environment variable name', layer: 'object', backend: 'base', locator: 'northflank/proj-a/api' }])
  t.same(report.reads.map(r => [r.layer, r.backend, r.found, r.entries, r.skipped, r.cache]), [
    ['global', 'base', true, 4, 0, 'off'], ['global', 'team', false, 0, 0, 'off'],
    ['project', 'base', true, 2, 0, 'off'], ['project', 'team', false, 0, 0, 'off'],
    ['object', 'base', true, 5, 1, 'off'], ['object', 'team', true, 1, 0, 'off']
  ])

  t.equal(shown.code, 0, shown.stderr)
  t.match(shown.stdout, new RegExp(`ENV   API_TOKEN  "secret-team-token"  <- object / team / northflank/proj-a/api\n {8}overrides  object  / base / northflank/proj-a/api\\s+${FP}  changed: value  "secret-base-token"\n`))
  t.notOk(shown.stdout.includes('secret-never-served'), 'a skipped entry is never shown, even with --show-values')
})

t.test('resolve --diff: only in A, only in B, different, same value from another source, same; exit 1 when the secrets differ', async t => {
  const [human, json, itself, usage] = await Promise.all([
    run(diffAB),
    run([...diffAB, '--json', '--show-values']),
    run(['resolve', '--config', provConfig, '--diff', 'proj-a/api', 'proj-a/api/service']),
    run(['resolve', '--config', provConfig, '--diff', 'proj-a/api'])
  ])
  t.equal(human.code, 1, human.stderr)
  noValues(t, human.stdout)
  const out = human.stdout
  t.match(out, 'A  project proj-a, object api, type service\nB  project proj-b, object api, type service\n')
  t.match(out, new RegExp(`only in A \\(1\\)\n {2}ENV {3}ONLY_A\\s+A {4}${FP}  object / base / northflank/proj-a/api\n`))
  t.match(out, new RegExp(`only in B \\(1\\)\n {2}ENV {3}ONLY_B\\s+B {4}${FP}  object / base / northflank/proj-b/api\n`))
  t.match(out, new RegExp(`different \\(2\\)\n {2}ENV {3}DATABASE_URL\\s+A {4}${FP}  project / base / northflank/proj-a/_shared\\s+changed: value; other source\n\\s+B {4}${FP}  object / base / northflank/proj-b/api\n`))
  t.match(out, new RegExp(` {2}FILE  /etc/app/tls.pem\\s+A {4}${FP}  object / base / northflank/proj-a/api\\s+changed: value, encoding, permissions, owner; other source  encoding base64, mode 0400 \\(AlwaysSet\\)`))
  t.match(out, new RegExp(`same value, different source \\(2\\)\n {2}ENV {3}API_TOKEN\\s+A {4}(${FP})  object / team / northflank/proj-a/api\\s+other layer or backend\n\\s+B {4}(${FP})  object / base / northflank/proj-b/api\n {2}ENV {3}REGION\\s+A {4}${FP}  object / base / northflank/proj-a/api\\s+other layer or backend\n\\s+B {4}${FP}  global / base / northflank/_global\n`))
  t.match(out, new RegExp(`same \\(2\\)\n {2}ENV {3}LOG_LEVEL\\s+A=B  ${FP}  object / base\n {2}FILE  /etc/nf/ca.pem\\s+A=B  ${FP}  global / base\n`))
  t.match(out, /A {2}object {3}base {2}northflank\/proj-a\/api\s+cache off {2}5 entries, 1 skipped\n/)
  t.match(out, /B {2}object {3}base {2}northflank\/proj-b\/api\s+cache off {2}4 entries\n/)
  t.match(out, 'different secrets\n')

  t.equal(json.code, 1, json.stderr)
  const report = JSON.parse(json.stdout) as { a: JsonResolved, b: JsonResolved, sameSecrets: boolean, onlyInA: JsonEntry[], onlyInB: JsonEntry[], different: JsonCompared[], sameValueDifferentSource: JsonCompared[], same: JsonCompared[] }
  t.same([report.a.identity.projectId, report.b.identity.projectId, report.sameSecrets], ['proj-a', 'proj-b', false])
  t.same([report.onlyInA.map(e => [e.name, e.value]), report.onlyInB.map(e => [e.name, e.value])], [[['ONLY_A', 'secret-only-a']], [['ONLY_B', 'secret-only-b']]])
  t.same(report.different.map(c => [c.name, c.changed, c.sourceDiffers, c.a.layer, c.b.layer]), [
    ['DATABASE_URL', ['value'], true, 'project', 'object'],
    ['/etc/app/tls.pem', ['value', 'encoding', 'permissions', 'owner'], true, 'object', 'global']
  ])
  const database = report.different[0]
  t.same([database?.a.value, database?.b.value], ['postgres://secret-a-shared', 'postgres://secret-b-object'], '--show-values: both values')
  t.not(database?.a.fingerprint, database?.b.fingerprint)
  t.same(report.sameValueDifferentSource.map(c => [c.name, `${c.a.layer}/${c.a.backend}`, `${c.b.layer}/${c.b.backend}`, c.a.fingerprint === c.b.fingerprint]), [
    ['API_TOKEN', 'object/team', 'object/base', true],
    ['REGION', 'object/base', 'global/base', true]
  ])
  t.same(report.same.map(c => c.name), ['LOG_LEVEL', '/etc/nf/ca.pem'])

  t.equal(itself.code, 0, 'the same identity twice: the same secrets, exit 0')
  t.match(itself.stdout, 'only in A (0)\nonly in B (0)\ndifferent (0)\nsame value, different source (0)\nsame (7)\n')
  t.match(itself.stdout, 'the same secrets\n')
  t.equal(usage.code, 2)
  t.match(usage.stderr, 'resolve --diff takes two identities: PROJECT/OBJECT[/TYPE] PROJECT/OBJECT[/TYPE]')
})

t.test('resolve: a store error exits non-zero with the reason and lists nothing, single or --diff', async t => {
  const [single, json, diff] = await Promise.all([
    run(['resolve', '--config', provConfig, '--project', 'proj-c', '--object', 'api']),
    run(['resolve', '--config', provConfig, '--project', 'proj-c', '--object', 'api', '--json']),
    run(['resolve', '--config', provConfig, '--diff', 'proj-a/api', 'proj-c/api'])
  ])
  for (const [name, result] of [['single', single], ['json', json], ['diff', diff]] as const) {
    t.equal(result.code, 2, `${name}: exit 2`)
    t.equal(result.stdout, '', `${name}: nothing listed`)
    t.match(result.stderr, /^resolve failed for project proj-c, object api, type service: malformed secret document: northflank\/proj-c\/api\.yaml is not valid YAML.* \(layer object, backend base, locator northflank\/proj-c\/api\)\nnothing is listed: the service would answer 503 NFSS_STORE_MALFORMED\n$/, `${name}: the reason`)
  }
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
