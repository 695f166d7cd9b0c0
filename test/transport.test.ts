// The public listener's transport: built-in TLS, mTLS, the header size limit, the rate limit.
// Slow clients and the connection cap: test/slow-clients.test.ts; behind a proxy: test/proxy-rate-limit.test.ts.
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Agent, fetch } from 'undici'
import { startTestService } from './helpers/service.js'

const dir = await mkdtemp(join(tmpdir(), 'nfss-tls-'))
const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
// A CA, a server certificate for 127.0.0.1 and a client certificate, all made for this run.
openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=nfss test CA')
await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'server.ext')
await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=northflank')
openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '1', '-extfile', 'client.ext')
const pem = async (name: string): Promise<string> => await readFile(join(dir, name), 'utf8')
const ca = await pem('ca.crt')

await mkdir(join(dir, 'secrets/northflank/proj'), { recursive: true })
await writeFile(join(dir, 'secrets/northflank/proj/api.yaml'), 'API_KEY: over-tls\n')
const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }
const backends = [{ name: 'files', type: 'file', root: './secrets' }]

t.test('built-in TLS: the secret route answers over HTTPS only', async t => {
  const svc = await startTestService({ server: { host: '127.0.0.1', port: 0, tls: { cert: 'server.crt', key: 'server.key' } }, backends }, { baseDir: dir })
  t.teardown(() => svc.close())
  t.match(svc.url, /^https:\/\/127\.0\.0\.1:\d+\/$/)
  const res = await fetch(svc.url, { headers: { authorization: `Bearer ${svc.token(api)}` }, dispatcher: new Agent({ connect: { ca } }) })
  t.equal(res.status, 200)
  t.same(await res.json(), { secrets: [{ type: 'ENV', key: 'API_KEY', value: 'over-tls' }] })
  await t.rejects(fetch(svc.url.replace('https:', 'http:'), { headers: { authorization: `Bearer ${svc.token(api)}` } }), 'plain HTTP to the TLS port fails')
})

t.test('mTLS: without a client certificate signed by clientCa the handshake fails', async t => {
  const svc = await startTestService({ server: { host: '127.0.0.1', port: 0, tls: { cert: 'server.crt', key: 'server.key', clientCa: 'ca.crt' } }, backends }, { baseDir: dir })
  t.teardown(() => svc.close())
  const headers = { authorization: `Bearer ${svc.token(api)}` }
  await t.rejects(fetch(svc.url, { headers, dispatcher: new Agent({ connect: { ca } }) }), 'no client certificate')
  const withCert = await fetch(svc.url, { headers, dispatcher: new Agent({ connect: { ca, cert: await pem('client.crt'), key: await pem('client.key') } }) })
  t.equal(withCert.status, 200)
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '1', '-subj', '/CN=rogue')
  await t.rejects(fetch(svc.url, { headers, dispatcher: new Agent({ connect: { ca, cert: await pem('rogue.crt'), key: await pem('rogue.key') } }) }), 'a self-signed client certificate is refused')
})

t.test('request headers over server.maxHeaderBytes are refused with 431', async t => {
  const svc = await startTestService({ server: { host: '127.0.0.1', port: 0, maxHeaderBytes: 4096 }, backends }, { baseDir: dir })
  t.teardown(() => svc.close())
  t.equal((await fetch(svc.url, { headers: { authorization: `Bearer ${svc.token(api)}` } })).status, 200)
  t.equal((await fetch(svc.url, { headers: { authorization: `Bearer ${svc.token(api)}`, 'x-padding': 'p'.repeat(5000) } })).status, 431)
})

t.test('rate limit per client: past server.rateLimit.max refused tokens a client gets 429; a valid token is never limited', async t => {
  const svc = await startTestService({ server: { host: '127.0.0.1', port: 0, rateLimit: { max: 3, windowSeconds: 60 } }, backends }, { baseDir: dir })
  t.teardown(() => svc.close())
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await fetch(svc.url, { headers: { authorization: 'Bearer not.a.token' } })).status)
  const limited = await fetch(svc.url, { headers: { authorization: 'Bearer not.a.token' } })
  t.same(statuses, [401, 401, 401])
  t.equal(limited.status, 429)
  t.match(await limited.json(), { error: 'Too Many Requests', code: 'NFSS_RATE_LIMITED' })
  t.ok(limited.headers.get('retry-after'), 'Retry-After is set')
  t.equal((await fetch(svc.url, { headers: { authorization: `Bearer ${svc.token(api)}` } })).status, 200, 'the same client with a valid token: answered (test/proxy-rate-limit.test.ts: behind a proxy)')
})
