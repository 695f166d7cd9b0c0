// The 401 matrix, through app.inject and through real HTTP to a started server.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { capturingLogger } from './helpers/logger.js'
import { claimsNow, forgeToken } from './helpers/forge.js'
import { startTestService, TEST_SECRET, type TestService } from './helpers/service.js'

const ROTATED_SECRET = 'rotated-in-secret-0123456789abcdef-0123456789'
const OTHER_SECRET = 'some-other-secret-0123456789abcdef-0123456789'
const root = await mkdtemp(join(tmpdir(), 'nfss-auth-'))
await mkdir(join(root, 'northflank/proj'), { recursive: true })
await writeFile(join(root, 'northflank/proj/api.yaml'), 'API_KEY: k\n')

const { logger, lines } = capturingLogger()
const svc: TestService = await startTestService({
  auth: { secrets: [TEST_SECRET, ROTATED_SECRET], maxTokenAgeSeconds: 0 },
  backends: [{ name: 'files', type: 'file', root }]
}, { logger })
const aged: TestService = await startTestService({
  auth: { secrets: [TEST_SECRET], maxTokenAgeSeconds: 60 },
  backends: [{ name: 'files', type: 'file', root }]
})
t.teardown(async () => { await svc.close(); await aged.close() })

const now = Math.floor(Date.now() / 1000)
const HS256 = { alg: 'HS256', typ: 'JWT' }
const valid = forgeToken(HS256, claimsNow(), TEST_SECRET)
const [validHeader, validPayload, validSignature] = valid.split('.') as [string, string, string]

interface Case { name: string, authorization?: string, service?: TestService, status: number }

const cases: Case[] = [
  { name: 'a valid HS256 token', authorization: `Bearer ${valid}`, status: 200 },
  { name: 'a token signed with the second, rotated-in secret', authorization: `Bearer ${forgeToken(HS256, claimsNow(), ROTATED_SECRET)}`, status: 200 },
  { name: 'the scheme in lower case', authorization: `bearer ${valid}`, status: 200 },
  { name: 'exp just past, inside the clock tolerance', authorization: `Bearer ${forgeToken(HS256, claimsNow({ exp: now - 10 }), TEST_SECRET)}`, status: 200 },
  { name: 'missing Authorization header', status: 401 },
  { name: 'empty Authorization header', authorization: '', status: 401 },
  { name: 'Basic scheme', authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, status: 401 },
  { name: 'Bearer without a token', authorization: 'Bearer ', status: 401 },
  { name: 'a token with two parts', authorization: `Bearer ${validHeader}.${validPayload}`, status: 401 },
  { name: 'a token signed with an unknown secret', authorization: `Bearer ${forgeToken(HS256, claimsNow(), OTHER_SECRET)}`, status: 401 },
  { name: 'tampered payload (another project, original signature)', authorization: `Bearer ${validHeader}.${Buffer.from(JSON.stringify(claimsNow({ projectId: 'victim' }))).toString('base64url')}.${validSignature}`, status: 401 },
  { name: 'alg-none: unsigned token', authorization: `Bearer ${forgeToken({ alg: 'none', typ: 'JWT' }, claimsNow())}`, status: 401 },
  { name: 'alg-none: "None" with the valid signature kept', authorization: `Bearer ${forgeToken({ alg: 'None' }, claimsNow())}${validSignature}`, status: 401 },
  { name: 'algorithm confusion: RS256 header, HMAC signature with the shared secret', authorization: `Bearer ${forgeToken({ alg: 'RS256' }, claimsNow(), TEST_SECRET)}`, status: 401 },
  { name: 'algorithm confusion: ES256 header', authorization: `Bearer ${forgeToken({ alg: 'ES256' }, claimsNow(), TEST_SECRET)}`, status: 401 },
  { name: 'HS512 when only HS256 is allowed', authorization: `Bearer ${forgeToken({ alg: 'HS512' }, claimsNow(), TEST_SECRET, 'sha512')}`, status: 401 },
  { name: 'expired token', authorization: `Bearer ${forgeToken(HS256, claimsNow({ iat: now - 7200, exp: now - 3600 }), TEST_SECRET)}`, status: 401 },
  { name: 'token without exp', authorization: `Bearer ${forgeToken(HS256, claimsNow({ exp: undefined }), TEST_SECRET)}`, status: 401 },
  { name: 'iat in the future', authorization: `Bearer ${forgeToken(HS256, claimsNow({ iat: now + 3600, exp: now + 7200 }), TEST_SECRET)}`, status: 401 },
  { name: 'nbf in the future', authorization: `Bearer ${forgeToken(HS256, claimsNow({ nbf: now + 3600 }), TEST_SECRET)}`, status: 401 },
  { name: 'missing nfObjectType claim', authorization: `Bearer ${forgeToken(HS256, claimsNow({ nfObjectType: undefined }), TEST_SECRET)}`, status: 401 },
  { name: 'traversal in projectId', authorization: `Bearer ${forgeToken(HS256, claimsNow({ projectId: '../proj' }), TEST_SECRET)}`, status: 401 },
  { name: 'separator in nfObjectId', authorization: `Bearer ${forgeToken(HS256, claimsNow({ nfObjectId: 'proj/api' }), TEST_SECRET)}`, status: 401 },
  { name: 'number as projectId', authorization: `Bearer ${forgeToken(HS256, claimsNow({ projectId: 42 }), TEST_SECRET)}`, status: 401 },
  { name: 'array as nfObjectId', authorization: `Bearer ${forgeToken(HS256, claimsNow({ nfObjectId: ['api'] }), TEST_SECRET)}`, status: 401 },
  { name: 'token older than maxTokenAgeSeconds', service: aged, authorization: `Bearer ${forgeToken(HS256, claimsNow({ iat: now - 120 }), TEST_SECRET)}`, status: 401 },
  { name: 'token younger than maxTokenAgeSeconds', service: aged, authorization: `Bearer ${forgeToken(HS256, claimsNow({ iat: now - 30 }), TEST_SECRET)}`, status: 200 }
]

for (const transport of ['inject', 'http'] as const) {
  t.test(`401 matrix over ${transport}`, async t => {
    for (const c of cases) {
      const target = c.service ?? svc
      const headers: Record<string, string> = c.authorization === undefined ? {} : { authorization: c.authorization }
      let status: number
      let wwwAuthenticate: string | undefined
      let body: unknown
      if (transport === 'inject') {
        const res = await target.service.app.inject({ method: 'GET', url: '/', headers })
        status = res.statusCode
        wwwAuthenticate = res.headers['www-authenticate'] as string | undefined
        body = res.json()
      } else {
        const res = await fetch(target.url, { headers })
        status = res.status
        wwwAuthenticate = res.headers.get('www-authenticate') ?? undefined
        body = await res.json()
      }
      t.equal(status, c.status, c.name)
      if (c.status === 401) {
        t.match(wwwAuthenticate, /^Bearer realm="nf-secret-source"/, `${c.name}: WWW-Authenticate`)
        t.same(body, { error: 'Unauthorized', code: 'NFSS_UNAUTHORIZED', message: 'missing or invalid bearer token' }, `${c.name}: no detail to the caller`)
      } else {
        t.same(body, { secrets: [{ type: 'ENV', key: 'API_KEY', value: 'k' }] }, `${c.name}: answered`)
      }
    }
  })
}

/** The log, with every array of byte values (a Buffer as pino prints it) decoded, so a leak hiding in bytes is found too. */
function decodedLog (text: string): string {
  const decode = (value: unknown): unknown => {
    if (Array.isArray(value) && value.length > 8 && value.every(v => Number.isInteger(v) && v >= 0 && v < 256)) return Buffer.from(value as number[]).toString('latin1')
    if (Array.isArray(value)) return value.map(decode)
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]))
    return value
  }
  return text.split('\n').filter(l => l !== '').map(l => JSON.stringify(decode(JSON.parse(l)))).join('\n')
}

/** Sends raw bytes over TCP and returns the status line the server answers. */
async function rawRequest (url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(request))
    let answer = ''
    socket.on('data', chunk => { answer += String(chunk) })
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''))
    // The server may reset the connection right after its answer: what arrived still counts.
    socket.on('error', err => { if (answer === '') reject(err) })
  })
}

t.test('malformed requests carrying a valid token: refused, and the raw bytes (with the token) stay out of the trace log', async t => {
  const oversized = await rawRequest(svc.url, `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${valid}\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`)
  t.match(oversized, /^HTTP\/1\.1 431/, 'header overflow: 431')
  const badLine = await rawRequest(svc.url, `GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${valid}\r\nbroken header line\r\n\r\n`)
  t.match(badLine, /^HTTP\/1\.1 400/, 'a broken header line: 400')
  await new Promise(resolve => setTimeout(resolve, 50))
  t.match(lines(), /"level":10/, 'the capture runs at trace level, where node\'s client errors are logged')
  t.notMatch(decodedLog(lines()), validSignature, 'no token in the log, also not as bytes')
})

t.test('why a token was refused is in the server log, the token is not', async t => {
  const log = decodedLog(lines())
  for (const reason of ['FAST_JWT_EXPIRED', 'FAST_JWT_INVALID_ALGORITHM', 'signature matches no configured secret', 'token issued in the future', 'claim projectId is not a valid id', 'no Authorization header']) {
    t.match(log, reason, reason)
  }
  t.notMatch(log, validSignature, 'no token in the log')
  t.notMatch(log, TEST_SECRET, 'no secret in the log')
})

t.test('other paths do not answer secrets', async t => {
  const res = await fetch(new URL('/other', svc.url), { headers: { authorization: `Bearer ${valid}` } })
  t.equal(res.status, 404)
  const post = await fetch(svc.url, { method: 'POST', headers: { authorization: `Bearer ${valid}` } })
  t.equal(post.status, 404)
})
