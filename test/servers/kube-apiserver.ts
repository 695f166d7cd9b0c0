// A real kube-apiserver (with an embedded etcd) for the Kubernetes store tests.
// The binary is test/servers/kube-apiserver (Go), built into .cache/bin/kube-test-server by
// scripts/provision-kube-apiserver.sh; a cold build takes minutes, so `npm test` runs it (through
// scripts/provision.sh) before tap, and this file's provisionKubeApiserver only finds it up to date
// (or, for a test file run on its own, builds it as a fallback). Everything listens on 127.0.0.1.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binaryIn, cacheDir, freePort, repoRoot, startProcess, stopProcess, unavailableReason, waitUntil, runProvisionScript } from './common.js'

export const kubeApiserverBinaryPath = join(cacheDir, 'bin', 'kube-test-server')
const provisionScript = join(repoRoot, 'scripts', 'provision-kube-apiserver.sh')

export interface KubeResponse {
  status: number
  /** Parsed JSON when the answer is JSON, else the raw text. */
  body: any
}

export interface KubeRequestOptions {
  /** Bearer token; defaults to the admin token. */
  token?: string
  /** Sent as JSON unless it is a string. */
  body?: unknown
  /** Defaults to application/json (use application/merge-patch+json etc. for PATCH). */
  contentType?: string
}

export interface KubeApiserver {
  /** https://127.0.0.1:PORT */
  server: string
  /** Admin kubeconfig (token user 'admin', group system:masters, with certificate-authority-data). */
  kubeconfigPath: string
  /** User 'admin', group system:masters: may do anything. */
  adminToken: string
  /** User 'restricted', only system:authenticated, no RBAC bindings: gets 403 on secrets etc. */
  restrictedToken: string
  /** PEM of the CA that signed the serving certificate. */
  caData: string
  /** Path of that PEM file (exists while the server runs). */
  caFile: string
  /** An HTTPS request to the apiserver trusting caData (no undici needed). */
  request: (method: string, path: string, options?: KubeRequestOptions) => Promise<KubeResponse>
  stop: () => Promise<void>
}

function goAvailable (): boolean {
  const r = spawnSync('go', ['version'], { stdio: 'ignore' })
  return r.error === undefined && r.status === 0
}

/** Why the kube-apiserver suite cannot run here, or undefined when it can. */
export function kubeApiserverUnavailable (): string | undefined {
  const haveBinary = binaryIn(join(cacheDir, 'bin'), 'kube-test-server') !== undefined
  return unavailableReason([
    [haveBinary || goAvailable(),
      `${kubeApiserverBinaryPath} is missing and 'go' (>= 1.26) is not on PATH to build it (scripts/provision-kube-apiserver.sh)`],
    [process.platform === 'linux' || process.platform === 'darwin', `unsupported platform ${process.platform}`]
  ])
}

/** Builds the binary when missing or stale (no-op when up to date). Needs go unless the binary exists. */
export async function provisionKubeApiserver (): Promise<string> {
  const haveGo = goAvailable()
  if (!haveGo) {
    if (existsSync(kubeApiserverBinaryPath)) return kubeApiserverBinaryPath
    throw new Error(`kube-apiserver: cannot build ${kubeApiserverBinaryPath}: 'go' (>= 1.26) is not on PATH`)
  }
  await runProvisionScript('kube-apiserver', provisionScript)
  return kubeApiserverBinaryPath
}

export async function startKubeApiserver (options: { readyTimeoutMs?: number } = {}): Promise<KubeApiserver> {
  const binary = await provisionKubeApiserver()
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'kube-test-'))
  const dataDir = join(dir, 'data')
  const kubeconfigPath = join(dir, 'kubeconfig')
  const adminToken = randomBytes(24).toString('hex')
  const restrictedToken = randomBytes(24).toString('hex')
  const server = `https://127.0.0.1:${port}`

  const child: ChildProcess = startProcess('kube-apiserver', binary, [
    `--port=${port}`,
    `--kubeconfig=${kubeconfigPath}`,
    `--data-dir=${dataDir}`,
    `--admin-token=${adminToken}`,
    `--restricted-token=${restrictedToken}`,
    `--ready-timeout=${Math.ceil(readyTimeoutMs / 1000)}s`
  ])
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const cleanup = async (): Promise<void> => {
    process.removeListener('exit', killOnExit)
    await stopProcess(child)
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    // The binary writes the kubeconfig (atomically) only once /readyz passes.
    await waitUntil('kube-apiserver', async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`kube-test-server exited (${String(child.exitCode ?? child.signalCode)}); see ${join(cacheDir, 'logs', 'kube-apiserver.log')}`)
      }
      return existsSync(kubeconfigPath)
    }, readyTimeoutMs + 5_000)
  } catch (err) {
    await cleanup()
    throw err
  }

  const caFile = join(dataDir, 'pki', 'ca.crt')
  const caData = readFileSync(caFile, 'utf8')
  const request = (method: string, path: string, opts: KubeRequestOptions = {}): Promise<KubeResponse> =>
    kubeRequest(server, caData, opts.token ?? adminToken, method, path, opts.body, opts.contentType)

  return { server, kubeconfigPath, adminToken, restrictedToken, caData, caFile, request, stop: cleanup }
}

function kubeRequest (server: string, ca: string, token: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, server), {
      method,
      ca,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/json',
        ...(payload === undefined ? {} : { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) })
      },
      timeout: 30_000
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown = text
        if ((res.headers['content-type'] ?? '').includes('json')) {
          try { parsed = JSON.parse(text) } catch { /* keep text */ }
        }
        resolve({ status: res.statusCode ?? 0, body: parsed })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`kube-apiserver: ${method} ${path} timed out`)))
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}
