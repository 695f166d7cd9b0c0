import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config/load.js'

const SECRET = 'a-jwt-secret-of-at-least-32-characters!'
const minimal = { auth: { secrets: [SECRET] }, backends: [{ name: 'local', type: 'file', root: './secrets' }] }

function problemsOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected a config error')
}

t.test('defaults fill every key PRODUCT.md names', async t => {
  const { config } = loadConfig({ document: structuredClone(minimal), env: {} })
  t.same(config.server, { host: '0.0.0.0', port: 8080, path: '/', requestTimeoutSeconds: 10, shutdownDelaySeconds: 0, maxHeaderBytes: 16384, rateLimit: { max: 0, windowSeconds: 60 }, headersTimeoutSeconds: 10, keepAliveTimeoutSeconds: 5, maxConnections: 1024, trustProxy: false })
  t.same(config.ops, { host: '0.0.0.0', port: 9090, readyTimeoutSeconds: 5, storeCheckIntervalSeconds: 10 })
  t.same(config.auth, { secrets: [SECRET], algorithms: ['HS256'], clockToleranceSeconds: 30, maxTokenAgeSeconds: 0, reloadIntervalSeconds: 2, maxTokenLifetimeSeconds: 90000 })
  t.same(config.layers, ['global', 'project', 'object'])
  t.equal(config.strict, false)
  t.same(config.backends[0], { name: 'local', type: 'file', root: './secrets', timeoutSeconds: 5, cache: { ttl: 30, staleIfError: 600, maxEntries: 10000, errorTtl: 5, refreshAheadSeconds: 5 }, budget: { enabled: true } })
})

t.test('every invalid key is named with its path, all at once', async t => {
  const message = problemsOf(() => loadConfig({
    env: {},
    document: {
      server: { port: 'eighty', pth: '/' },
      auth: { secrets: ['short'], algorithms: ['RS256'] },
      layers: ['global', 'global'],
      backends: [
        { name: 'local', type: 'file', root: ['a'], locators: { objet: 'x/{projectId}', object: 'x/{project}' } },
        { name: 'local', type: 'file' },
        { name: 'v', type: 'hashicorp' }
      ]
    }
  }))
  t.equal(message.split('\n')[0], 'invalid configuration:')
  for (const expected of [
    'server.port: must be integer',
    'server.pth: unknown key',
    'auth.secrets[0]: must NOT have fewer than 32 characters',
    'auth.algorithms[0]: must be one of the allowed values',
    'layers: must NOT have duplicate items',
    'backends[0].root: must be string',
    'backends[0].locators.objet: no such layer',
    'backends[0].locators.object: unknown placeholder {project}',
    'backends[1].name: "local" is used twice',
    'backends[2].type: unknown type "hashicorp" (known: file'
  ]) t.match(message, expected, expected)
})

t.test('serve refuses to start without a JWT secret', async t => {
  t.match(problemsOf(() => loadConfig({ env: {}, document: { backends: minimal.backends } })), 'auth: is required')
  t.match(problemsOf(() => loadConfig({ env: {}, document: { auth: { secrets: [] }, backends: minimal.backends } })), 'auth.secrets: must NOT have fewer than 1 items')
  t.match(problemsOf(() => loadConfig({ env: {}, document: { auth: { secrets: ['${env:NF_JWT_SECRET}'] }, backends: minimal.backends } })), // eslint-disable-line no-template-curly-in-string
    'auth.secrets[0]: environment variable NF_JWT_SECRET is not set')
})

t.test('${env:NAME} and ${file:PATH} resolve inside values; files relative to the config', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'nfss-config-'))
  await writeFile(join(dir, 'jwt-secret'), `${SECRET}-from-file\n`)
  await writeFile(join(dir, 'config.yaml'), [
    'auth:',
    '  secrets: ["${env:NF_JWT_SECRET}", "${file:jwt-secret}"]',
    'server: { path: "/${env:ROUTE}/secrets" }',
    'backends: [{ name: local, type: file, root: ./data }]'
  ].join('\n'))
  const { config, baseDir } = loadConfig({ file: join(dir, 'config.yaml'), env: { NF_JWT_SECRET: SECRET, ROUTE: 'nf' } })
  t.same(config.auth.secrets, [SECRET, `${SECRET}-from-file`])
  t.equal(config.server.path, '/nf/secrets')
  t.equal(baseDir, dir)
  t.match(problemsOf(() => loadConfig({ document: { auth: { secrets: ['${file:missing}'] }, backends: minimal.backends }, env: {}, baseDir: dir })), // eslint-disable-line no-template-curly-in-string
    'auth.secrets[0]: cannot read file missing (ENOENT)')
})

t.test('NFSS__SECTION__KEY overrides nest on double underscores, any case, arrays by index', async t => {
  const { config } = loadConfig({
    document: structuredClone(minimal),
    env: {
      NFSS__SERVER__PORT: '8081',
      NFSS__AUTH__CLOCKTOLERANCESECONDS: '5',
      NFSS__AUTH__SECRETS__1: `${SECRET}-rotated`,
      NFSS__STRICT: 'true',
      NFSS__BACKENDS__0__ROOT: '/srv/secrets',
      NFSS__BACKENDS__0__CACHE__TTL: '0',
      UNRELATED: 'x'
    }
  })
  t.equal(config.server.port, 8081)
  t.equal(config.auth.clockToleranceSeconds, 5)
  t.same(config.auth.secrets, [SECRET, `${SECRET}-rotated`])
  t.equal(config.strict, true)
  t.equal((config.backends[0] as Record<string, unknown> | undefined)?.root, '/srv/secrets')
  t.equal(config.backends[0]?.cache.ttl, 0)
  t.match(problemsOf(() => loadConfig({ document: structuredClone(minimal), env: { NFSS__SERVER__PROT: '1' } })), 'server.prot: unknown key')
})

t.test('a YAML error names the line, not the text', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'nfss-config-'))
  await writeFile(join(dir, 'bad.yaml'), 'auth:\n  secrets: ["hunter2-secret-value\n')
  const message = problemsOf(() => loadConfig({ file: join(dir, 'bad.yaml'), env: {} }))
  t.match(message, /is not valid YAML at line \d/)
  t.notMatch(message, /hunter2/)
})

t.test('config.example.yaml is valid and documents every schema key', async t => {
  const { config } = loadConfig({ file: 'config.example.yaml', env: { NF_JWT_SECRET: SECRET } })
  t.ok(config.backends.length >= 1)
  const { readFileSync } = await import('node:fs')
  const text = readFileSync('config.example.yaml', 'utf8')
  const { ConfigSchema, CacheSchema } = await import('../src/config/schema.js')
  const keys = new Set<string>()
  const walk = (schema: { properties?: Record<string, unknown> }): void => {
    for (const [k, v] of Object.entries(schema.properties ?? {})) {
      keys.add(k)
      const sub = v as { properties?: Record<string, unknown>, items?: { properties?: Record<string, unknown> } }
      walk(sub)
      if (sub.items !== undefined) walk(sub.items)
    }
  }
  walk(ConfigSchema)
  walk(CacheSchema)
  for (const key of keys) t.match(text, new RegExp(`\\b${key}:`), `documents ${key}`)
})

t.test('NFSS__ overrides that cannot apply are errors, never silently dropped', async t => {
  const message = problemsOf(() => loadConfig({
    document: structuredClone(minimal),
    env: { NFSS__BACKENDS__ROOT: '/srv', NFSS__AUTH__SECRETS__X: 'short', NFSS__AUTH__SECRETS__3000000: SECRET }
  }))
  t.match(message, 'NFSS__BACKENDS__ROOT: backends is a list of 1; "ROOT" is not an index in 0..1')
  t.match(message, 'NFSS__AUTH__SECRETS__X: auth.secrets is a list of 1; "X" is not an index in 0..1')
  t.match(message, 'NFSS__AUTH__SECRETS__3000000: auth.secrets is a list of 1; "3000000" is not an index in 0..1')
  const appended = loadConfig({ document: structuredClone(minimal), env: { NFSS__AUTH__SECRETS__1: `${SECRET}-next` } })
  t.same(appended.config.auth.secrets, [SECRET, `${SECRET}-next`], 'the index right after the end appends (rotation)')
})

t.test('overrides do not change the caller\'s document', async t => {
  const document = structuredClone(minimal)
  loadConfig({ document, env: { NFSS__SERVER__PORT: '8081' } })
  t.same(document, minimal)
})

t.test('wrong types under layers or locators are config errors with paths, not TypeErrors', async t => {
  const message = problemsOf(() => loadConfig({
    env: {},
    document: { ...structuredClone(minimal), layers: 5, backends: [{ name: 'local', type: 'file', locators: { object: ['a'] } }] }
  }))
  t.match(message, 'layers: must be array')
  t.match(message, 'backends[0].locators.object: must be string')
  t.notMatch(message, 'TypeError')
})

t.test('numbers a timer or an age cannot use are refused: Infinity, past setTimeout\'s limit, tolerance above 300 s', async t => {
  const message = problemsOf(() => loadConfig({
    env: {},
    document: {
      ...structuredClone(minimal),
      server: { requestTimeoutSeconds: 3_000_000 },
      auth: { secrets: [SECRET], clockToleranceSeconds: 3600, maxTokenAgeSeconds: Infinity },
      backends: [{ name: 'local', type: 'file', timeoutSeconds: Infinity }]
    }
  }))
  t.match(message, 'server.requestTimeoutSeconds: must be <= 2147483')
  t.match(message, 'auth.clockToleranceSeconds: must be <= 300')
  t.match(message, 'auth.maxTokenAgeSeconds: must be number')
  t.match(message, 'backends[0].timeoutSeconds: must be number')
})

t.test('a store call timeout at or above the request deadline is refused (a hung store could never be served stale)', async t => {
  const message = problemsOf(() => loadConfig({
    env: {},
    document: { ...structuredClone(minimal), server: { requestTimeoutSeconds: 2 }, backends: [{ name: 'local', type: 'file', timeoutSeconds: 2 }] }
  }))
  t.match(message, 'backends[0].timeoutSeconds: must be below server.requestTimeoutSeconds (2)')
})

t.test('a locator template that could map two identities to one locator is refused', async t => {
  const message = problemsOf(() => loadConfig({
    env: {},
    document: { ...structuredClone(minimal), backends: [{ name: 'local', type: 'file', locators: { object: 'teams/{projectId}-{nfObjectId}' } }] }
  }))
  t.match(message, 'backends[0]: tenant isolation: backends[0].locators.object ("teams/{projectId}-{nfObjectId}") renders')
  t.match(message, /for two identities: layer object for \{projectId: [^}]+\} and for \{projectId: [^}]+\}/)
})

t.test('layers of the wrong type next to backend locators: a config error, not a TypeError', async t => {
  for (const layers of [5, 'global', { a: 1 }]) {
    const message = problemsOf(() => loadConfig({ env: {}, document: { ...structuredClone(minimal), layers, backends: [{ name: 'local', type: 'file', locators: { object: 'x/{projectId}' } }] } }))
    t.match(message, 'layers: must be array')
    t.notMatch(message, 'TypeError')
  }
})

t.test('overrides append list items in numeric order (__2 before __10)', async t => {
  const env = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`NFSS__AUTH__SECRETS__${i + 1}`, `${SECRET}-${i + 1}`]))
  const { config } = loadConfig({ document: structuredClone(minimal), env })
  t.equal(config.auth.secrets.length, 12)
  t.equal(config.auth.secrets[11], `${SECRET}-11`)
})

t.test('a store\'s own config problem found when it is built is NFSS_CONFIG_INVALID naming backends[i].key, no stack', async t => {
  const { createBackends } = await import('../src/create-backends.js')
  const { backendDefinitions } = await import('../backends/registry.js')
  const { silentLogger } = await import('./helpers/logger.js')
  const { config } = loadConfig({
    document: { ...structuredClone(minimal), backends: [minimal.backends[0], { name: 'bao', type: 'vault', address: 'http://127.0.0.1:1', auth: { method: 'token', token: 'x' }, tls: { cert: 'client.pem' } }] },
    env: {}
  })
  const err = await createBackends(config.backends, { logger: silentLogger(), baseDir: '.', layers: config.layers }, backendDefinitions).catch((e: Error) => e)
  t.match(err, { code: 'NFSS_CONFIG_INVALID', message: /backends\[1\]\.tls: needs both cert and key, or neither/ })
})
