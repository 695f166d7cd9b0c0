// The shared contract every backend passes (the pattern of unstorage's one driver test).
// Each store's test file builds a fixture that writes the canonical data in the store's own
// layout through the store's own API, then calls backendContract().
import type { Test } from 'tap'
import type { Backend, BackendDefinition } from '../../src/store/port.js'
import type { Entry } from '../../src/core/entries.js'
import type { Identity } from '../../src/core/identity.js'
import { callStore } from '../../src/store-call.js'
import { startTestService } from '../helpers/service.js'

/** One canonical file, as the secret document shorthand writes it. */
export interface SeedFile {
  path: string
  data: string
  encoding: 'utf-8' | 'base64'
  mode?: string
  owner?: string
  group?: string
}

export interface Seed {
  env: Record<string, string>
  files: SeedFile[]
}

/**
 * A contract case a store opts out of, saying why: declared in the fixture, never silently absent,
 * and printed as a comment (not a tap skip: a skip means a suite that could not run, which CI fails).
 */
export interface Skip { skip: string }

function skipped<T> (hook: T | Skip): hook is Skip {
  return typeof hook === 'object' && hook !== null && 'skip' in hook
}

/** Runs a contract case, or notes why this store opts out of it. */
async function contractCase<T> (t: Test, name: string, hook: T | Skip, run: (t: Test, hook: T) => Promise<void>): Promise<void> {
  if (skipped(hook)) {
    t.comment(`${name}: not applicable: ${hook.skip}`)
    return
  }
  await t.test(name, async t => { await run(t, hook) })
}

export interface ContractFixture {
  /** The backend under test, built with its default locators. */
  backend: Backend
  /** Writes `seed` where `backend.locate(layer, identity)` points, in the store's native layout. */
  seed: (layer: string, identity: Identity, seed: Seed) => Promise<void>
  /** Makes that locator hold something that is not a secret document. */
  seedMalformed: ((layer: string, identity: Identity) => Promise<void>) | Skip
  /** The same backend type pointed at a store that refuses its credentials. */
  denied: (() => Promise<{ backend: Backend, layer: string, identity: Identity }>) | Skip
  /** The same backend type pointed at a closed 127.0.0.1 port. */
  unreachable: (() => Promise<Backend>) | Skip
  /**
   * The same backend type, reachable and with valid credentials, pointed at a store location that
   * does not exist: a root folder that did not mount, a Vault mount never enabled, a namespace that
   * is not there, an endpoint that is not the service. Every default layer must then fail
   * (NFSS_STORE_UNAVAILABLE, or NFSS_STORE_DENIED where the store cannot say more), never read as
   * `found: false`: "the store is not there" is an outage, "this locator is empty" is an empty layer.
   * ready() must fail too, so /readyz and the secret route agree.
   */
  missingStore: (() => Promise<Backend>) | Skip
  /**
   * Store API calls made so far, to prove calls per read do not grow with keys, and the most one
   * read of one locator may take: a number, or a bound that names what grows (SSM's per-file tags).
   */
  storeCalls: { count: () => number, maxPerRead: number | ((seed: Seed) => number) } | Skip
  /**
   * The same store as the service takes it from config, to answer one request end to end over HTTP
   * (with `definitions` when the store needs a test seam, e.g. a custom DNS lookup).
   */
  service: { backend: Record<string, unknown>, definitions?: readonly BackendDefinition<any>[] } | Skip
  /** Layers the defaults cover: global, project, object. */
  layers?: string[]
  /** The store compares names case-insensitively (Key Vault): locators must differ after lower-casing. */
  caseInsensitive?: boolean
}

let counter = 0
/** A fresh identity per test, so tests never see each other's data. */
export function uniqueIdentity (prefix = 'p'): Identity {
  counter++
  const n = `${Date.now().toString(36)}${counter}`
  return { projectId: `${prefix}${n}`, nfObjectId: `svc${n}`, nfObjectType: 'service' }
}

export const CANONICAL: Seed = {
  env: {
    API_KEY: 'k-123',
    DATABASE_URL: 'postgres://app:p%40ss@db.internal:5432/app?sslmode=require',
    MULTI_LINE: 'line one\nline two\n',
    UNICODE: 'grüße ☃ 日本',
    EQUALS_AND_QUOTES: 'a=b;c="d" \'e\'',
    EMPTY: ''
  },
  files: [
    { path: '/etc/app/config.json', data: '{"debug": false}', encoding: 'utf-8' },
    { path: '/etc/tls/key.pem', data: Buffer.from('-----BEGIN KEY-----\n\u0000\u00ff binary\n').toString('base64'), encoding: 'base64', mode: '0400', owner: '1000', group: '2000' }
  ]
}

/** A seed as the secret document (PRODUCT.md): ENV keys, and files as maps with their attributes. */
export function documentOf (seed: Seed): Record<string, unknown> {
  const document: Record<string, unknown> = { ...seed.env }
  for (const { path, ...attributes } of seed.files) document[path] = attributes
  return document
}

export function expectedEntries (seed: Seed): Entry[] {
  const env: Entry[] = Object.entries(seed.env).map(([key, value]) => ({ type: 'ENV', key, value }))
  const files: Entry[] = seed.files.map(f => ({
    type: 'FILE',
    path: f.path,
    data: f.data,
    encoding: f.encoding,
    ...(f.mode === undefined ? {} : { permissions: { policy: 'AlwaysSet' as const, mode: f.mode } }),
    ...(f.owner === undefined ? {} : { owner: { policy: 'AlwaysSetExplicit' as const, value: f.owner } }),
    ...(f.group === undefined ? {} : { group: { policy: 'AlwaysSetExplicit' as const, value: f.group } })
  }))
  return [...env, ...files]
}

export function sortEntries (entries: Entry[]): Entry[] {
  const name = (e: Entry): string => `${e.type}:${e.type === 'ENV' ? e.key : e.path}`
  return [...entries].sort((a, b) => (name(a) < name(b) ? -1 : 1))
}

async function readEntries (backend: Backend, locator: string): Promise<Entry[] | undefined> {
  const result = await backend.read(locator, AbortSignal.timeout(10_000))
  return result.found ? sortEntries(result.entries) : undefined
}

export async function backendContract (t: Test, fixture: ContractFixture): Promise<void> {
  const { backend } = fixture
  const layers = fixture.layers ?? ['global', 'project', 'object']

  await t.test('contract: ready() passes against a healthy store', async t => {
    await t.resolves(backend.ready(AbortSignal.timeout(10_000)))
  })

  await t.test('contract: a missing locator is an empty layer, not an error', async t => {
    const identity = uniqueIdentity()
    for (const layer of ['project', 'object']) {
      const locator = backend.locate(layer, identity)
      t.type(locator, 'string', `${layer} has a default locator`)
      t.same(await backend.read(locator as string, AbortSignal.timeout(10_000)), { found: false }, `${layer} not found`)
    }
  })

  await t.test('contract: ENV and FILE entries round-trip with every attribute', async t => {
    const identity = uniqueIdentity()
    await fixture.seed('object', identity, CANONICAL)
    const entries = await readEntries(backend, backend.locate('object', identity) as string)
    t.same(entries, sortEntries(expectedEntries(CANONICAL)))
  })

  await t.test('contract: every default layer reads its own locator', async t => {
    const identity = uniqueIdentity()
    for (const layer of layers.filter(l => l !== 'global')) {
      await fixture.seed(layer, identity, { env: { [`FROM_${layer.toUpperCase()}`]: layer }, files: [] })
    }
    for (const layer of layers.filter(l => l !== 'global')) {
      t.same(await readEntries(backend, backend.locate(layer, identity) as string), [{ type: 'ENV', key: `FROM_${layer.toUpperCase()}`, value: layer }], layer)
    }
  })

  await t.test('contract: tenant isolation: ids that collide naively map to different locators and data', async t => {
    const n = Date.now().toString(36)
    const a: Identity = { projectId: `a-b${n}`, nfObjectId: 'c', nfObjectType: 'service' }
    const b: Identity = { projectId: 'a', nfObjectId: `b${n}-c`, nfObjectType: 'service' }
    const c: Identity = { projectId: `A-B${n}`, nfObjectId: 'C', nfObjectType: 'service' }
    const d: Identity = { projectId: `a.b${n}`, nfObjectId: 'c', nfObjectType: 'service' }
    const e: Identity = { projectId: `a_b${n}`, nfObjectId: 'c', nfObjectType: 'service' }
    const all = [a, b, c, d, e]
    for (const layer of ['project', 'object']) {
      const locators = all.map(i => backend.locate(layer, i))
      t.equal(new Set(locators.map(l => fixture.caseInsensitive === true ? l?.toLowerCase() : l)).size, all.length, `${layer}: ${locators.join(' | ')}`)
    }
    const globalLocators = new Set(all.map(i => backend.locate('global', i)))
    t.equal(globalLocators.size, 1, 'global is shared by design')
    const projectAndObject = all.flatMap(i => [backend.locate('project', i), backend.locate('object', i)])
    t.notOk(projectAndObject.includes(backend.locate('global', a)), 'global never equals a project or object locator')
    await fixture.seed('object', a, { env: { OWNER: 'a' }, files: [] })
    t.equal(await readEntries(backend, backend.locate('object', b) as string), undefined, 'b does not see a')
    t.equal(await readEntries(backend, backend.locate('object', c) as string), undefined, 'a case variant does not see a')
  })

  await t.test('contract: a layer without a template is not read', async t => {
    t.equal(backend.locate('no-such-layer', uniqueIdentity()), undefined)
  })

  await t.test('contract: read() honours an aborted signal', async t => {
    const identity = uniqueIdentity()
    await fixture.seed('object', identity, { env: { A: '1' }, files: [] })
    const controller = new AbortController()
    controller.abort()
    await t.rejects(backend.read(backend.locate('object', identity) as string, controller.signal))
  })

  const { seedMalformed, denied, unreachable, missingStore, storeCalls, service } = fixture

  await contractCase(t, 'contract: end to end: the service answers a request over HTTP, layers merged in order', service, async (t, service) => {
    const identity = uniqueIdentity()
    const marker = `${Date.now().toString(36)}${++counter}`
    await fixture.seed('global', identity, { env: { [`E2E_GLOBAL_${marker}`]: 'g', [`E2E_OVERRIDE_${marker}`]: 'global' }, files: [] })
    await fixture.seed('project', identity, { env: { [`E2E_OVERRIDE_${marker}`]: 'project' }, files: [] })
    await fixture.seed('object', identity, { env: { [`E2E_OVERRIDE_${marker}`]: 'object' }, files: [{ path: '/etc/e2e.txt', data: 'file', encoding: 'utf-8', mode: '0440' }] })
    const running = await startTestService({ backends: [service.backend] }, { definitions: service.definitions })
    t.teardown(running.close)
    const res = await running.fetchAs(identity)
    t.equal(res.status, 200)
    const { secrets } = await res.json() as { secrets: Array<Record<string, unknown>> }
    t.same(secrets.filter(e => e.type === 'FILE' || String(e.key).endsWith(marker)), [
      { type: 'ENV', key: `E2E_GLOBAL_${marker}`, value: 'g' },
      { type: 'ENV', key: `E2E_OVERRIDE_${marker}`, value: 'object' },
      { type: 'FILE', path: '/etc/e2e.txt', data: 'file', encoding: 'utf-8', permissions: { policy: 'AlwaysSet', mode: '0440' } }
    ])
  })

  await contractCase(t, 'contract: a malformed document is NFSS_STORE_MALFORMED, never an empty layer', seedMalformed, async (t, seedMalformed) => {
    const identity = uniqueIdentity()
    await seedMalformed('object', identity)
    await t.rejects(callStore(backend, backend.locate('object', identity) as string, 10_000), { code: 'NFSS_STORE_MALFORMED' })
  })

  await contractCase(t, 'contract: refused credentials are NFSS_STORE_DENIED', denied, async (t, denied) => {
    const { backend: refused, layer, identity } = await denied()
    try {
      await t.rejects(callStore(refused, refused.locate(layer, identity) as string, 10_000), { code: 'NFSS_STORE_DENIED' })
    } finally {
      await refused.close()
    }
  })

  await contractCase(t, 'contract: an unreachable store is NFSS_STORE_UNAVAILABLE, and ready() fails', unreachable, async (t, unreachable) => {
    const dead = await unreachable()
    try {
      await t.rejects(callStore(dead, dead.locate('object', uniqueIdentity()) as string, 10_000), { code: 'NFSS_STORE_UNAVAILABLE' })
      await t.rejects(dead.ready(AbortSignal.timeout(10_000)))
    } finally {
      await dead.close()
    }
  })

  await contractCase(t, 'contract: a store that is not there is NFSS_STORE_UNAVAILABLE (or DENIED) on every layer, never an empty layer', missingStore, async (t, missingStore) => {
    const absent = await missingStore()
    try {
      const identity = uniqueIdentity()
      for (const layer of layers) {
        const locator = absent.locate(layer, identity)
        t.type(locator, 'string', `${layer} has a locator`)
        const outcome = await callStore(absent, locator as string, 10_000).then(result => result, (err: unknown) => err)
        t.match(outcome, { code: /^NFSS_STORE_(UNAVAILABLE|DENIED)$/ }, `${layer}: ${(outcome as Error).message ?? JSON.stringify(outcome)}`)
      }
      await t.rejects(absent.ready(AbortSignal.timeout(10_000)), { code: /^NFSS_STORE_(UNAVAILABLE|DENIED)$/ }, 'ready() fails too')
    } finally {
      await absent.close()
    }
  })

  await contractCase(t, 'contract: store calls per read do not grow with the number of keys', storeCalls, async (t, storeCalls) => {
    const identity = uniqueIdentity()
    const many: Seed = {
      env: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`KEY_${i}`, `value-${i}`])),
      files: Array.from({ length: 5 }, (_, i) => ({ path: `/etc/many/file-${i}.conf`, data: `file ${i}`, encoding: 'utf-8' as const, mode: '0440' }))
    }
    await fixture.seed('object', identity, many)
    const locator = backend.locate('object', identity) as string
    const before = storeCalls.count()
    const entries = await readEntries(backend, locator)
    const calls = storeCalls.count() - before
    const bound = typeof storeCalls.maxPerRead === 'function' ? storeCalls.maxPerRead(many) : storeCalls.maxPerRead
    t.equal(entries?.length, 55)
    t.ok(calls >= 1 && calls <= bound, `50 variables and 5 files read with ${calls} store call(s) (bound ${bound})`)
  })
}
