// Behind a proxy (issue 15, item 4): server.rateLimit counts refused tokens per client address,
// the address as server.trustProxy resolves it from X-Forwarded-For. The proxy is simulated:
// every request comes from 127.0.0.1 and names its client in X-Forwarded-For.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config/load.js'
import { startTestService, TEST_SECRET, type TestService } from './helpers/service.js'

const dir = await mkdtemp(join(tmpdir(), 'nfss-proxy-'))
await mkdir(join(dir, 'secrets/northflank/proj'), { recursive: true })
await writeFile(join(dir, 'secrets/northflank/proj/api.yaml'), 'API_KEY: k\n')
const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }
const backends = [{ name: 'files', type: 'file', root: './secrets' }]
const MAX = 3
const A = '203.0.113.10'
const B = '198.51.100.20'

async function get (svc: TestService, forwardedFor: string | undefined, authorization: string): Promise<Response> {
  return await fetch(svc.url, { headers: { authorization, ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) } })
}
const bad = 'Bearer not.a.token'

t.test('behind-a-proxy: many bad tokens from client A stop A, never a valid token from client B (trustProxy lists the proxy)', async t => {
  const svc = await startTestService({ server: { host: '127.0.0.1', port: 0, trustProxy: ['127.0.0.1'], rateLimit: { max: MAX, windowSeconds: 60 } }, backends }, { baseDir: dir })
  t.teardown(() => svc.close())
  const valid = `Bearer ${svc.token(api)}`
  const fromA: number[] = []
  for (let i = 0; i < MAX + 5; i++) fromA.push((await get(svc, A, bad)).status)
  t.same(fromA, [...Array(MAX).fill(401), ...Array(5).fill(429)], `A: ${MAX} refusals, then 429`)

  const limited = await get(svc, A, bad)
  t.equal(limited.status, 429)
  t.match(await limited.json(), { error: 'Too Many Requests', code: 'NFSS_RATE_LIMITED' })
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'Retry-After is set')
  t.equal(limited.headers.get('www-authenticate'), null)

  for (let i = 0; i < 10; i++) t.equal((await get(svc, B, valid)).status, 200, `B's valid token, #${i + 1}`)
  t.equal((await get(svc, B, bad)).status, 401, 'B has a count of its own: its first bad token is a plain 401')
  t.equal((await get(svc, A, valid)).status, 200, 'a valid token is never limited, not even from A')
  t.equal((await get(svc, `${B}, ${A}`, bad)).status, 429, 'A cannot dodge its count by prepending an address: the proxy appended A last')
  t.equal((await get(svc, undefined, valid)).status, 200, 'the proxy itself, without a forwarded address')
})

t.test('behind-a-proxy: a hop count trusts that many proxies', async t => {
  const svc = await startTestService({ server: { host: '127.0.0.1', port: 0, trustProxy: 1, rateLimit: { max: MAX, windowSeconds: 60 } }, backends }, { baseDir: dir })
  t.teardown(() => svc.close())
  const statuses: number[] = []
  // The leftmost entries are whatever the client wrote; one hop is trusted, so A is the client.
  for (let i = 0; i < MAX + 1; i++) statuses.push((await get(svc, `10.9.9.${i}, ${A}`, bad)).status)
  t.same(statuses, [...Array(MAX).fill(401), 429], 'spoofed leftmost entries do not spread the count')
  t.equal((await get(svc, B, bad)).status, 401, 'another client is counted apart')
  t.equal((await get(svc, A, `Bearer ${svc.token(api)}`)).status, 200)
})

t.test('without trustProxy X-Forwarded-For is ignored: every request is the proxy\'s, and a valid token still passes', async t => {
  const svc = await startTestService({ server: { host: '127.0.0.1', port: 0, rateLimit: { max: MAX, windowSeconds: 60 } }, backends }, { baseDir: dir })
  t.teardown(() => svc.close())
  const statuses: number[] = []
  for (let i = 0; i < MAX + 2; i++) statuses.push((await get(svc, `203.0.113.${i}`, bad)).status)
  t.same(statuses, [...Array(MAX).fill(401), 429, 429], 'each forwarded address claims to be another client; all count as 127.0.0.1')
  // The failure: five bad requests from anyone and Northflank's valid token got 429.
  for (let i = 0; i < 5; i++) t.equal((await get(svc, B, `Bearer ${svc.token(api)}`)).status, 200, `a valid token from the same address, #${i + 1}`)
})

t.test('server.trustProxy: true (trust any X-Forwarded-For) and things that are no address are config errors', async t => {
  const load = (trustProxy: unknown): string => {
    try {
      loadConfig({ document: { server: { trustProxy }, auth: { secrets: [TEST_SECRET] }, backends: [{ name: 'f', type: 'file', root: '.' }] }, env: {} })
      return ''
    } catch (err) {
      return (err as Error).message
    }
  }
  t.match(load(true), /server\.trustProxy/, 'true')
  t.match(load('true'), /server\.trustProxy/, '"true" (an env override)')
  t.match(load(['localhost']), /server\.trustProxy\[0\]/, 'a host name')
  t.match(load(['300.1.1.1']), /server\.trustProxy\[0\]/, 'not an IPv4 address')
  t.match(load([]), /server\.trustProxy/, 'an empty list')
  t.match(load(17), /server\.trustProxy/, 'more than 16 hops')
  for (const ok of [false, 0, 2, ['10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8', 'loopback']]) t.equal(load(ok), '', JSON.stringify(ok))
  const { config } = loadConfig({ document: { server: { trustProxy: 2 }, auth: { secrets: [TEST_SECRET] }, backends: [{ name: 'f', type: 'file', root: '.' }] }, env: { NFSS__SERVER__TRUSTPROXY__0: '10.0.0.0/8' } })
  t.same(config.server.trustProxy, ['10.0.0.0/8'], 'NFSS__SERVER__TRUSTPROXY__0 sets a list')
  await t.rejects(startTestService({ server: { host: '127.0.0.1', port: 0, trustProxy: ['::1::2'] }, backends }, { baseDir: dir }), { code: 'NFSS_CONFIG_INVALID', message: /server\.trustProxy/ }, 'an IPv6 address proxy-addr refuses')
})
