// Slow and greedy clients (issue 15, item 3), over raw TCP against the real listeners: a client
// dripping its headers, the GET with Content-Length 100000000 dripping its body, a
// silent connection, an idle keep-alive, a client that never finishes the TLS handshake, and
// more connections than server.maxConnections. The public and the ops listener alike.
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { connect as tlsConnect } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { openRaw, within, type RawConnection } from './helpers/raw-client.js'
import { startTestService } from './helpers/service.js'

const dir = await mkdtemp(join(tmpdir(), 'nfss-slow-'))
await mkdir(join(dir, 'secrets/northflank/proj'), { recursive: true })
await writeFile(join(dir, 'secrets/northflank/proj/api.yaml'), 'API_KEY: k\n')
const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }
const backends = [{ name: 'files', type: 'file', root: './secrets' }]

// Timing bounds are generous: the machine is shared. Node checks for late requests once a second.
const HEADERS_TIMEOUT_S = 2
const svc = await startTestService({
  server: { host: '127.0.0.1', port: 0, headersTimeoutSeconds: HEADERS_TIMEOUT_S, keepAliveTimeoutSeconds: 0.5 },
  backends
}, { baseDir: dir })
t.teardown(() => svc.close())
const token = svc.token(api)
const opsUrl = new URL('healthz', svc.service.opsUrl).href

const statusLine = (text: string): string => text.split('\r\n')[0] ?? ''

for (const [listener, url, path] of [['public', svc.url, '/'], ['ops', opsUrl, '/healthz']] as const) {
  t.test(`slow-drip headers (${listener}): a client that never finishes its headers is disconnected after server.headersTimeoutSeconds`, async t => {
    const conn = await openRaw(url)
    conn.drip(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nX-Slow: ${'a'.repeat(10_000)}`, 100)
    const closed = await within(conn.closed, 15_000, undefined)
    t.ok(closed, 'closed by the server')
    t.comment(`${listener}: a slow-drip connection lived ${Math.round(closed?.afterMs ?? -1)} ms (headersTimeoutSeconds ${HEADERS_TIMEOUT_S})`)
    t.ok((closed?.afterMs ?? 0) >= HEADERS_TIMEOUT_S * 1000 - 200, 'not before the timeout')
    t.ok((closed?.afterMs ?? Infinity) < HEADERS_TIMEOUT_S * 1000 + 4000, 'within the timeout plus the once-a-second check (and a loaded machine)')
    t.match(statusLine(closed?.received ?? ''), /^(HTTP\/1\.1 408 |$)/, '408 Request Timeout, or just closed')
  })

  t.test(`slow-drip body (${listener}, the issue's reproduction): a GET with Content-Length 100000000 is refused with 400 and closed at once`, async t => {
    const conn = await openRaw(url)
    conn.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100000000\r\n\r\n`)
    conn.drip('x'.repeat(1000), 100)
    const closed = await within(conn.closed, 15_000, undefined)
    t.ok(closed, 'closed by the server')
    t.comment(`${listener}: the body-dripping connection lived ${Math.round(closed?.afterMs ?? -1)} ms`)
    t.ok((closed?.afterMs ?? Infinity) < HEADERS_TIMEOUT_S * 1000, 'closed before any timeout could have done it')
    t.match(statusLine(closed?.received ?? ''), /^HTTP\/1\.1 400/)
    t.match(closed?.received, /\r\nconnection: close\r\n/i)
    t.match(closed?.received, '"code":"NFSS_BODY_NOT_ALLOWED"')
  })

  t.test(`a body by Transfer-Encoding (${listener}), or on any other method, is refused and closed too; Content-Length: 0 is no body`, async t => {
    for (const request of [
      `GET ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`
    ]) {
      const conn = await openRaw(url)
      conn.socket.write(request)
      const closed = await within(conn.closed, 15_000, undefined)
      t.match(statusLine(closed?.received ?? ''), /^HTTP\/1\.1 400/, statusLine(request))
      t.ok((closed?.afterMs ?? Infinity) < HEADERS_TIMEOUT_S * 1000, 'closed at once')
    }
    const empty = await fetch(url, { headers: { authorization: `Bearer ${token}`, 'content-length': '0' } })
    t.equal(empty.status, 200, 'Content-Length: 0 is answered')
  })

  t.test(`silent connection (${listener}): a client that connects and sends nothing is closed after the timeout`, async t => {
    const conn = await openRaw(url)
    const closed = await within(conn.closed, 15_000, undefined)
    t.ok(closed, 'closed by the server')
    t.ok((closed?.afterMs ?? Infinity) < HEADERS_TIMEOUT_S * 1000 + 4000, `within the timeout (${Math.round(closed?.afterMs ?? -1)} ms)`)
  })

  t.test(`idle keep-alive (${listener}): closed after server.keepAliveTimeoutSeconds`, async t => {
    const conn = await openRaw(url)
    conn.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    const answeredAt = await answered(conn)
    const closed = await within(conn.closed, 15_000, undefined)
    t.match(statusLine(conn.received()), /^HTTP\/1\.1 200/)
    t.ok(closed, 'closed by the server')
    const idleMs = (closed?.afterMs ?? Infinity) - answeredAt
    t.comment(`${listener}: idle keep-alive closed ${Math.round(idleMs)} ms after the answer (keepAliveTimeoutSeconds 0.5)`)
    // node keeps the socket 1 s past keepAliveTimeout (a margin against a client's late request).
    t.ok(idleMs >= 400 && idleMs < 4000, 'keepAliveTimeoutSeconds (plus node\'s 1 s margin) after the answer')
  })
}

/** performance.now() offset (from the connection's opening) when a full answer has arrived. */
async function answered (conn: RawConnection): Promise<number> {
  const started = performance.now()
  for (;;) {
    const text = conn.received()
    const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text)
    const bodyAt = text.indexOf('\r\n\r\n')
    if (length !== null && bodyAt >= 0 && text.length - bodyAt - 4 >= Number(length[1])) return performance.now() - started
    if (conn.socket.destroyed) throw new Error(`closed before the answer: ${text}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

t.test('TLS: a client that never completes the handshake is disconnected after server.headersTimeoutSeconds (not node\'s 120 s)', async t => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' })
  const tls = await startTestService({
    server: { host: '127.0.0.1', port: 0, headersTimeoutSeconds: 1, tls: { cert: 'tls.crt', key: 'tls.key' } },
    backends
  }, { baseDir: dir })
  t.teardown(() => tls.close())
  const conn = await openRaw(tls.url.replace('https:', 'http:'))
  conn.socket.write(Buffer.from([0x16, 0x03, 0x01])) // the first bytes of a ClientHello, then nothing
  const closed = await within(conn.closed, 15_000, undefined)
  t.ok(closed, 'closed by the server')
  t.comment(`an unfinished TLS handshake lived ${Math.round(closed?.afterMs ?? -1)} ms (headersTimeoutSeconds 1)`)
  t.ok((closed?.afterMs ?? Infinity) < 5000)
  // A real client still gets its answer.
  const ca = await readFile(join(dir, 'tls.crt'), 'utf8')
  const status = await new Promise<string>((resolve, reject) => {
    const { port } = new URL(tls.url)
    const socket = tlsConnect({ host: '127.0.0.1', port: Number(port), ca }, () => {
      socket.write(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${tls.token(api)}\r\n\r\n`)
    })
    let text = ''
    socket.on('data', chunk => { text += String(chunk) })
    socket.on('close', () => { resolve(statusLine(text)) })
    socket.on('error', reject)
  })
  t.match(status, /^HTTP\/1\.1 200/)
})

t.test('connection flood: beyond server.maxConnections connections are closed at once, per listener; a normal request works once they go away', async t => {
  const cap = 5
  const capped = await startTestService({
    server: { host: '127.0.0.1', port: 0, maxConnections: cap, headersTimeoutSeconds: 30 },
    backends
  }, { baseDir: dir })
  t.teardown(() => capped.close())
  const server = capped.service.app.server
  const open = async (): Promise<number> => await new Promise((resolve, reject) => { server.getConnections((err, n) => { err === null ? resolve(n) : reject(err) }) })
  const until = async (done: (n: number) => boolean): Promise<number> => {
    const deadline = performance.now() + 10_000
    for (;;) {
      const n = await open()
      if (done(n) || performance.now() > deadline) return n
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  const held = await Promise.all(Array.from({ length: cap }, async () => await openRaw(capped.url)))
  t.equal(await until(n => n >= cap), cap, `${cap} silent connections are held`)
  const extra = await openRaw(capped.url)
  const refused = await within(extra.closed, 5000, undefined)
  t.ok(refused, 'one more is closed')
  t.ok((refused?.afterMs ?? Infinity) < 2000, `at once (${Math.round(refused?.afterMs ?? -1)} ms)`)
  t.equal(refused?.received, '', 'without a word')
  await t.rejects(fetch(capped.url, { headers: { authorization: `Bearer ${capped.token(api)}` } }), 'a request while the cap is reached fails')
  const ops = await fetch(new URL('healthz', capped.service.opsUrl))
  t.equal(ops.status, 200, 'the ops listener has its own cap: probes still pass')

  for (const conn of held) conn.socket.destroy()
  t.equal(await until(n => n === 0), 0, 'the held connections are gone')
  const res = await fetch(capped.url, { headers: { authorization: `Bearer ${capped.token(api)}` } })
  t.equal(res.status, 200, 'a normal request is answered again')
})
