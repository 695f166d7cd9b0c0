// FAKES for the vault suites, each named as one. The real store is OpenBao (vault-server.ts);
// these cover what it cannot do: answers it never gives (a KV secret that is a list, 500,
// 429, sealed, a proxy's HTML page), a fault it gives only by accident (a 503 from renew-self),
// a TLS front requiring client certificates, and a recorder of the headers the backend sends.
import { execFileSync } from 'node:child_process'
import { createServer as createHttpServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { freePort } from '../../servers/common.js'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  /** TLS fakes: did the client present a certificate our fake CA signed? */
  clientCertificate?: boolean
}

export interface Fake {
  address: string
  seen: SeenRequest[]
  close: () => Promise<void>
}

async function listen (server: Server, protocol: 'http' | 'https', seen: SeenRequest[]): Promise<Fake> {
  const port = await freePort()
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  return {
    address: `${protocol}://127.0.0.1:${port}`,
    seen,
    close: async () => { await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }) }
  }
}

function forward (target: string, req: IncomingMessage, res: ServerResponse): void {
  const upstream = request(`${target}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, answer => {
    res.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(res)
  })
  upstream.on('error', () => { res.writeHead(502).end() })
  req.pipe(upstream)
}

/** A FAKE proxy that records every request (method, path, headers) and forwards it to `target`. */
export async function startRecordingProxyFake (target: string): Promise<Fake> {
  const seen: SeenRequest[] = []
  const server = createHttpServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    forward(target, req, res)
  })
  return await listen(server, 'http', seen)
}

export interface FakeAnswer { status: number, body?: unknown, text?: string, headers?: Record<string, string> }

function reply (res: ServerResponse, answer: FakeAnswer): void {
  res.writeHead(answer.status, { 'content-type': answer.text === undefined ? 'application/json' : 'text/html', ...answer.headers })
  res.end(answer.text ?? (answer.body === undefined ? '' : JSON.stringify(answer.body)))
}

/**
 * A FAKE fault in front of `target`: a request for which `fault` returns an answer gets that
 * answer (e.g. a 503 from renew-self, which OpenBao does not give on demand); the rest is forwarded.
 */
export async function startFaultProxyFake (target: string, fault: (request: SeenRequest) => FakeAnswer | undefined): Promise<Fake> {
  const seen: SeenRequest[] = []
  const server = createHttpServer((req, res) => {
    const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers }
    seen.push(request)
    const answer = fault(request)
    if (answer === undefined) forward(target, req, res)
    else req.resume().on('end', () => { reply(res, answer) })
  })
  return await listen(server, 'http', seen)
}

/**
 * A FAKE Vault: token lookup-self succeeds (a non-expiring token), the mount lookup says KV v2,
 * and every other request gets `answer(path)`.
 */
export async function startFakeVault (answer: (path: string) => FakeAnswer): Promise<Fake> {
  const seen: SeenRequest[] = []
  const server = createHttpServer((req, res) => {
    req.resume()
    const path = (req.url ?? '').replace(/^\/v1\//, '')
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
    reply(res, path === 'auth/token/lookup-self'
      ? { status: 200, body: { data: { ttl: 0, renewable: false, policies: ['fake'], display_name: 'fake-token' } } }
      : path.startsWith('sys/internal/ui/mounts/')
        ? { status: 200, body: { data: { type: 'kv', options: { version: '2' } } } }
        : answer(path))
  })
  return await listen(server, 'http', seen)
}

export interface FakeCertificates {
  dir: string
  /** File names inside `dir`. */
  ca: 'ca.pem'
  clientCert: 'client.pem'
  clientKey: 'client.key'
}

/** A throw-away CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
export function makeFakeCertificates (): FakeCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'nfss-vault-tls-'))
  const openssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=nfss fake CA')
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  for (const [name, ext] of [['server', ['-extfile', 'server.ext']], ['client', []]] as const) {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=nfss fake ${name}`)
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', ...ext)
  }
  return { dir, ca: 'ca.pem', clientCert: 'client.pem', clientKey: 'client.key' }
}

/** A FAKE TLS front for OpenBao (which runs plain HTTP in dev mode) that requires a client certificate. */
export async function startTlsProxyFake (target: string, certificates: FakeCertificates): Promise<Fake> {
  const seen: SeenRequest[] = []
  const file = (name: string): Buffer => readFileSync(join(certificates.dir, name))
  const server = createHttpsServer({ key: file('server.key'), cert: file('server.pem'), ca: file('ca.pem'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, clientCertificate: (req.socket as TLSSocket).authorized })
    forward(target, req, res)
  })
  return await listen(server, 'https', seen)
}
