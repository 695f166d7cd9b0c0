// A real OpenBao dev server for the tests: `bao server -dev`, in memory, plain HTTP on
// 127.0.0.1 with a random root token. The binary is built from the Go module proxy by
// scripts/provision-openbao.sh (sources in test/servers/openbao/) into .cache/bin.
//
// Dev mode facts the suites can rely on:
// - `secret/` is KV v2 (`/v1/secret/data/<path>`, `/v1/secret/metadata/<path>`);
// - the root token never expires (no TTL, nothing to renew); child tokens made with
//   POST /v1/auth/token/create take `ttl`, `explicit_max_ttl`, `renewable`, `period`;
// - storage is in memory: every start is a blank server.
import { execFile, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'
import {
  binaryIn,
  cacheDir,
  freePort,
  repoRoot,
  startProcess,
  stopProcess,
  unavailableReason,
  waitUntil
} from './common.js'

export const openBaoBinary = join(cacheDir, 'bin', 'openbao-dev')
export const openBaoProvisionScript = join(repoRoot, 'scripts', 'provision-openbao.sh')
export const openBaoLog = join(cacheDir, 'logs', 'openbao.log')

export interface OpenBaoServer {
  /** e.g. http://127.0.0.1:41234 (no trailing slash) */
  address: string
  /** root token of the dev server; never expires */
  rootToken: string
  /** the OpenBao process, for tests that want to kill it abruptly */
  process: ChildProcess
  stop(): Promise<void>
}

export interface OpenBaoOptions {
  /** server log level, default 'warn' (log file: .cache/logs/openbao.log) */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error'
  /** ms to wait for the build (first run only) and for /v1/sys/health; defaults 20 min / 60 s */
  buildTimeoutMs?: number
  readyTimeoutMs?: number
}

function portIsFree (port: number): Promise<boolean> {
  return new Promise(resolveFree => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolveFree(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolveFree(true)))
  })
}

/**
 * Dev mode also opens its cluster listener (HTTPS, unused here) on port + 1; it logs an
 * error and runs on if that port is taken, but it would steal it from a neighbour: pick a
 * port whose successor is free too.
 */
async function freePortPair (): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort()
    if (port < 65535 && await portIsFree(port + 1)) return port
  }
  return await freePort()
}

function onPath (name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some(dir => dir !== '' && binaryIn(dir, name) !== undefined)
}

/** Why OpenBao cannot run here, or undefined when it can (the binary exists or `go` can build it). */
export function openBaoUnavailable (): string | undefined {
  if (existsSync(openBaoBinary)) return undefined
  return unavailableReason([
    [onPath('go'), `OpenBao binary ${openBaoBinary} is missing and 'go' is not on PATH to build it (install Go >= 1.24.6, then run scripts/provision-openbao.sh)`],
    [onPath('bash'), `'bash' is not on PATH to run ${openBaoProvisionScript}`]
  ])
}

/**
 * Runs scripts/provision-openbao.sh, which rebuilds only when the binary is missing or
 * test/servers/openbao/ changed. A cold build takes minutes on 2 cores.
 */
export async function ensureOpenBao (timeoutMs = 20 * 60_000): Promise<string> {
  const reason = openBaoUnavailable()
  if (reason !== undefined) throw new Error(reason)
  if (!onPath('go') && existsSync(openBaoBinary)) return openBaoBinary // cannot check freshness: use what is there
  try {
    await promisify(execFile)('bash', [openBaoProvisionScript], { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 })
  } catch (err) {
    const e = err as { stderr?: string, message: string }
    throw new Error(`building OpenBao with ${openBaoProvisionScript} failed: ${(e.stderr ?? '').trim().split('\n').slice(-20).join('\n') || e.message}`)
  }
  if (!existsSync(openBaoBinary)) throw new Error(`${openBaoProvisionScript} ran but ${openBaoBinary} does not exist`)
  return openBaoBinary
}

/**
 * Starts `server -dev` on 127.0.0.1:<free port> (cluster listener on port + 1), waits for
 * GET /v1/sys/health = 200. Output goes to .cache/logs/openbao.log.
 */
export async function startOpenBao (options: OpenBaoOptions = {}): Promise<OpenBaoServer> {
  const binary = await ensureOpenBao(options.buildTimeoutMs)
  const rootToken = `root-${randomBytes(12).toString('hex')}`
  const port = await freePortPair()
  const address = `http://127.0.0.1:${port}`

  // Blank every BAO_*/VAULT_* variable of the caller (OpenBao reads both, e.g. BAO_SEAL_TYPE,
  // VAULT_ADDR): the dev server must depend on the flags below only.
  const env: NodeJS.ProcessEnv = {}
  for (const key of Object.keys(process.env)) {
    if (key.startsWith('BAO_') || key.startsWith('VAULT_')) env[key] = ''
  }
  const child = startProcess('openbao', binary, [
    'server',
    '-dev',
    `-dev-root-token-id=${rootToken}`,
    `-dev-listen-address=127.0.0.1:${port}`,
    '-dev-no-store-token', // do not write ~/.vault-token
    `-log-level=${options.logLevel ?? 'warn'}`
  ], env)

  let exited: string | undefined
  child.once('exit', (code, signal) => { exited = `exited early (code ${String(code)}, signal ${String(signal)}); see ${openBaoLog}` })
  child.once('error', err => { exited = `could not start ${binary}: ${err.message}` })

  const stop = async (): Promise<void> => { await stopProcess(child) }
  try {
    await waitUntil(`OpenBao at ${address}`, async () => {
      if (exited !== undefined) return true // stop polling; reported just below
      const res = await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(2000) })
      await res.body?.cancel()
      return res.status === 200
    }, options.readyTimeoutMs ?? 60_000)
    if (exited !== undefined) throw new Error(exited)
  } catch (err) {
    await stop()
    throw err
  }
  return { address, rootToken, process: child, stop }
}
