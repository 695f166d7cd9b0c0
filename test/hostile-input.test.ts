// Hostile input, generated (fast-check, fixed seed, bounded runs): whatever arrives in the
// Authorization header or inside a token, the answer is 200 for a genuine token and a 4xx
// otherwise, never a 5xx, never a crash, and a refused token never reaches a store.
import { createHmac } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import t from 'tap'
import { parseDocument } from '../src/core/document.js'
import { isValidId } from '../src/core/identity.js'
import { partitionValid } from '../src/core/validate.js'
import { countingDefinition, countingStore } from './helpers/counting-backend.js'
import { claimsNow, forgeToken } from './helpers/forge.js'
import { startTestService, TEST_SECRET } from './helpers/service.js'

const SEED = 20261122
const store = countingStore()
store.documents.set('northflank/proj/api', { API_KEY: 'k' })
const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
t.teardown(() => svc.close())
const statuses = new Map<number, number>()
// Retained heap, after a full collection: garbage not yet collected says nothing about a leak, and
// how much of it there is depends on when the collector last ran (it failed a run on Node 22).
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
const heapAfterGc = (): number => { collectGarbage(); return process.memoryUsage().heapUsed }
const memoryBefore = heapAfterGc()

async function get (authorization: string): Promise<number> {
  const res = await svc.service.app.inject({ method: 'GET', url: '/', headers: { authorization } })
  statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
  return res.statusCode
}

const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url')
const sign = (input: string): string => createHmac('sha256', TEST_SECRET).update(input).digest('base64url')
/** Every locator a store was asked for must come from a valid identity. */
const onlySafeLocators = (): boolean => [...store.calls.keys()].every(l => !l.includes('..') && /^northflank\/[A-Za-z0-9._/-]+$/.test(l))

const headerChar = fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })).map(c => String.fromCharCode(c))

t.test('arbitrary Authorization headers: 401, never 5xx, no store call', async t => {
  const callsBefore = store.totalCalls()
  await fc.assert(fc.asyncProperty(
    fc.oneof(
      fc.string({ unit: headerChar, maxLength: 300 }),
      fc.string({ unit: headerChar, maxLength: 300 }).map(s => `Bearer ${s}`),
      fc.array(fc.string({ unit: headerChar, maxLength: 40 }), { maxLength: 12 }).map(parts => `Bearer ${parts.join('.')}`),
      fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 256 }), fc.uint8Array({ maxLength: 64 })).map(([h, p, s]) => `Bearer ${b64url(h)}.${b64url(p)}.${b64url(s)}`),
      fc.nat({ max: 20_000 }).map(n => `Bearer ${'a.'.repeat(n)}a`)
    ),
    async header => (await get(header)) === 401
  ), { seed: SEED, numRuns: 400 })
  t.equal(store.totalCalls(), callsBefore, 'no store was read for a refused token')
})

const algorithm = fc.oneof({ weight: 3, arbitrary: fc.constant('HS256') }, fc.constantFrom('none', 'None', 'NONE', 'HS256 ', ' HS256', 'hs256', 'HS256\u0000', 'HS384', 'HS512', 'RS256', 'ES256', 'PS256', 'EdDSA', '', 'HS2560'))
const claimValue = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('proj', 'api', 'service') },
  fc.string({ maxLength: 20 }),
  fc.stringMatching(/^[A-Za-z0-9./\\%_{}-]{1,20}$/),
  fc.constantFrom('../proj', 'proj/..', '..', '.', 'a/b', 'a\\b', '%2e%2e', 'proj\u0000', 'x'.repeat(129)),
  fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 })
)

t.test('tokens signed with the real secret but hostile headers or claims: only a sound token is answered', async t => {
  await fc.assert(fc.asyncProperty(
    fc.record({
      alg: algorithm,
      typ: fc.option(fc.constantFrom('JWT', 'jwt', 'JOSE', ''), { nil: undefined }),
      kid: fc.option(fc.constantFrom('../../etc/passwd', 'key-1', '"; DROP TABLE', 'file:///dev/null'), { nil: undefined }),
      jku: fc.option(fc.constantFrom('http://127.0.0.1:1/jwks.json', 'https://attacker.example/jwks'), { nil: undefined }),
      x5u: fc.option(fc.constant('http://127.0.0.1:1/cert.pem'), { nil: undefined }),
      crit: fc.option(fc.constantFrom(['exp'], ['b64'], ['x-unknown'], [], 'exp'), { nil: undefined, freq: 3 })
    }, { requiredKeys: ['alg'] }),
    fc.record({ projectId: claimValue, nfObjectId: claimValue, nfObjectType: claimValue }),
    fc.constantFrom(-7200, -10, 60, 86_400),
    async (header, claims, expIn) => {
      const payload = { ...claims, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + expIn }
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`
      const status = await get(`Bearer ${input}.${sign(input)}`)
      const sound = header.alg === 'HS256' && header.crit === undefined && expIn > -30 &&
        isValidId(claims.projectId) && isValidId(claims.nfObjectId) && isValidId(claims.nfObjectType)
      return sound ? status === 200 : status === 401
    }
  ), { seed: SEED, numRuns: 600 })
  t.ok(onlySafeLocators(), `stores were asked only for safe locators (${store.calls.size} distinct)`)
  t.ok((statuses.get(200) ?? 0) >= 20, `sound tokens were generated and answered too (${statuses.get(200) ?? 0})`)
})

t.test('JSON tricks: duplicate keys take the last value, which is what was signed', async t => {
  const now = Math.floor(Date.now() / 1000)
  const raw = (json: string): string => {
    const input = `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(json)}`
    return `Bearer ${input}.${sign(input)}`
  }
  t.equal(await get(raw(`{"projectId":"proj","projectId":"../etc","nfObjectId":"api","nfObjectType":"service","exp":${now + 60}}`)), 401, 'a duplicate with traversal last is refused')
  t.equal(await get(raw(`{"projectId":"../etc","projectId":"proj","nfObjectId":"api","nfObjectType":"service","exp":${now + 60}}`)), 200, 'the signed last value is the identity')
  t.equal(await get(raw(`{"projectId":"proj","nfObjectId":"api","nfObjectType":"service","exp":"${now + 60}"}`)), 401, 'exp as a string')
  t.equal(await get(raw(`{"projectId":"proj","nfObjectId":"api","nfObjectType":"service","exp":${now + 60},"iat":[1]}`)), 401, 'iat as an array')
  t.equal(await get(raw('[1,2,3]')), 401, 'payload is an array')
  t.equal(await get(raw('"string"')), 401, 'payload is a string')
  t.equal(await get(raw('{"__proto__":{"projectId":"proj"},"nfObjectId":"api","nfObjectType":"service","exp":' + (now + 60) + '}')), 401, '__proto__ does not supply a claim')
  t.equal(await get(`Bearer ${forgeToken({ alg: 'HS256' }, claimsNow({ exp: 1e308 }), TEST_SECRET)}`), 401, 'token-without-end: a huge exp is refused (auth.maxTokenLifetimeSeconds)')
  t.equal(await get(raw(`{"projectId":"proj","nfObjectId":"api","nfObjectType":"service","exp":1e400}`)), 401, 'token-without-end: exp 1e400 parses as Infinity and is refused')
})

t.test('a header larger than Node allows is refused by the HTTP parser (431), not a 5xx', async t => {
  const res = await fetch(svc.url, { headers: { authorization: `Bearer ${'a'.repeat(20_000)}` } })
  t.equal(res.status, 431)
})

t.test('random secret documents: the parser never throws; everything it returns is well-formed', async t => {
  let documents = 0
  let entries = 0
  fc.assert(fc.property(
    fc.oneof(
      fc.anything(),
      fc.dictionary(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('/etc/a', '/a/../b', 'A_B', '/', '//x', 'A-B')), fc.anything(), { maxKeys: 8 })
    ),
    document => {
      documents++
      const result = parseDocument(document)
      if (!result.ok) return typeof result.reason === 'string'
      const { valid } = partitionValid(result.entries)
      entries += valid.length
      return valid.every(e => e.type === 'ENV'
        ? typeof e.value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(e.key)
        : typeof e.data === 'string' && e.path.startsWith('/') && !e.path.split('/').slice(1).some(s => s === '' || s === '.' || s === '..'))
    }
  ), { seed: SEED, numRuns: 3000 })
  t.comment(`${documents} generated documents, ${entries} valid entries`)
})

t.test('report', async t => {
  const growth = (heapAfterGc() - memoryBefore) / 2 ** 20
  t.comment(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
  t.comment(`heap growth over the run: ${growth.toFixed(1)} MiB`)
  t.notOk([...statuses.keys()].some(s => s >= 500), 'no 5xx at all')
  t.ok(growth < 200, 'heap growth stays bounded')
})
