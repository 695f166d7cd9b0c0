// Tokens without an end (issue 15, item 8): exp must be a finite number at most
// auth.maxTokenLifetimeSeconds after iat (after now when iat is absent). Through real HTTP and
// app.inject, with tokens signed by the real secret: the signature is sound, the lifetime is not.
import { createHmac } from 'node:crypto'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { capturingLogger } from './helpers/logger.js'
import { startTestService, TEST_SECRET } from './helpers/service.js'

const root = await mkdtemp(join(tmpdir(), 'nfss-lifetime-'))
await mkdir(join(root, 'northflank/proj'), { recursive: true })
await writeFile(join(root, 'northflank/proj/api.yaml'), 'API_KEY: k\n')
const { logger, lines } = capturingLogger('info')
const svc = await startTestService({ backends: [{ name: 'files', type: 'file', root }] }, { logger })
const short = await startTestService({ auth: { secrets: [TEST_SECRET], maxTokenLifetimeSeconds: 3600 }, backends: [{ name: 'files', type: 'file', root }] })
t.teardown(async () => { await svc.close(); await short.close() })

const now = Math.floor(Date.now() / 1000)
const b64url = (text: string): string => Buffer.from(text).toString('base64url')
/** Signs the payload exactly as written: JSON.stringify cannot write 1e400. */
function signRaw (payloadJson: string): string {
  const input = `${b64url('{"alg":"HS256","typ":"JWT"}')}.${b64url(payloadJson)}`
  return `${input}.${createHmac('sha256', TEST_SECRET).update(input).digest('base64url')}`
}
const ids = '"projectId":"proj","nfObjectId":"api","nfObjectType":"service"'

const cases: Array<{ name: string, payload: string, status: number, reason?: RegExp, target?: typeof svc }> = [
  { name: 'token-without-end: exp 1e400 (JSON.parse gives Infinity)', payload: `{${ids},"iat":${now},"exp":1e400}`, status: 401, reason: /exp is not a finite number/ },
  { name: 'token-without-end: exp 1e400 without iat', payload: `{${ids},"exp":1e400}`, status: 401, reason: /exp is not a finite number/ },
  { name: 'token-without-end: exp 1e15 (31 million years)', payload: `{${ids},"iat":${now},"exp":1e15}`, status: 401, reason: /maxTokenLifetimeSeconds/ },
  { name: 'token-without-end: exp 1e308', payload: `{${ids},"iat":${now},"exp":1e308}`, status: 401, reason: /maxTokenLifetimeSeconds/ },
  { name: 'token-without-end: exp as a string', payload: `{${ids},"iat":${now},"exp":"${now + 3600}"}`, status: 401 },
  { name: 'token-without-end: exp a year after iat, iat now', payload: `{${ids},"iat":${now},"exp":${now + 365 * 86_400}}`, status: 401, reason: /after iat/ },
  { name: 'token-without-end: exp 30 days away, iat a month back (a long-lived token near its end)', payload: `{${ids},"iat":${now - 60 * 86_400},"exp":${now + 30 * 86_400}}`, status: 401, reason: /after iat/ },
  { name: 'token-without-end: exp two days away, no iat', payload: `{${ids},"exp":${now + 2 * 86_400}}`, status: 401, reason: /after now \(no iat\)/ },
  { name: 'Northflank\'s 24 h token', payload: `{${ids},"iat":${now},"exp":${now + 86_400}}`, status: 200 },
  { name: 'a 24 h token without iat', payload: `{${ids},"exp":${now + 86_400}}`, status: 200 },
  { name: 'exactly auth.maxTokenLifetimeSeconds (90000) after iat', payload: `{${ids},"iat":${now},"exp":${now + 90_000}}`, status: 200 },
  { name: 'auth.maxTokenLifetimeSeconds 3600: a 24 h token is refused', target: short, payload: `{${ids},"iat":${now},"exp":${now + 86_400}}`, status: 401 },
  { name: 'auth.maxTokenLifetimeSeconds 3600: a 1 h token passes', target: short, payload: `{${ids},"iat":${now},"exp":${now + 3600}}`, status: 200 }
]

for (const transport of ['inject', 'http'] as const) {
  t.test(`token lifetimes over ${transport}`, async t => {
    for (const c of cases) {
      const target = c.target ?? svc
      const headers = { authorization: `Bearer ${signRaw(c.payload)}` }
      const status = transport === 'inject'
        ? (await target.service.app.inject({ method: 'GET', url: '/', headers })).statusCode
        : (await fetch(target.url, { headers })).status
      t.equal(status, c.status, c.name)
    }
  })
}

t.test('why a token without an end was refused is in the log', async t => {
  const log = lines()
  for (const c of cases) if (c.reason !== undefined) t.match(log, c.reason, c.name)
})
