// Shared plumbing for the real test servers (OpenBao, moto, Lowkey Vault, kube-apiserver).
// Every server listens on 127.0.0.1 on a free port chosen here; nothing leaves loopback.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
/**
 * Builds, downloads and logs of the test servers. NFSS_CACHE_DIR moves them out of the clone
 * (.ci/run does, so that CI runs in fresh clones on the same machine stay warm).
 */
export const cacheDir = process.env.NFSS_CACHE_DIR ?? join(repoRoot, '.cache')
export const isCI = process.env.CI === 'true'

export function freePort (): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => resolvePort(port))
    })
  })
}

export async function waitUntil (what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      lastError = err
    }
    await new Promise(r => setTimeout(r, 200))
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms${lastError ? `: ${String(lastError)}` : ''}`)
}

/** Starts a long-running server process with its output in .cache/logs/<name>.log. */
export function startProcess (name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const logs = join(cacheDir, 'logs')
  mkdirSync(logs, { recursive: true })
  const out = openSync(join(logs, `${name}.log`), 'a')
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out] })
  child.unref()
  // A test file that crashes before its teardown must not leave its server running.
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  child.once('exit', () => process.removeListener('exit', killOnExit))
  return child
}

export async function stopProcess (child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(r => child.once('exit', () => r()))
  // startProcess unref()s the child; while a test awaits its exit it must hold the event loop,
  // or a server slower than 5 s to stop (kube-apiserver under load) lets the loop drain once the
  // SIGKILL timer has fired, and the file exits with its test unfinished.
  child.ref()
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** What suiteCanRun() needs of a tap test. */
export interface SuiteHost {
  fail: (message: string) => unknown
  test: (name: string, options: { skip: string }, fn: () => void) => unknown
}

/**
 * The one rule for a test server that cannot run here: under CI=true a failure with the reason;
 * locally one loud line and a skipped test. True when the suite can run.
 */
export function suiteCanRun (t: SuiteHost, suite: string, reason: string | undefined): boolean {
  if (reason === undefined) return true
  if (isCI) {
    t.fail(`${suite}: required under CI=true, cannot run: ${reason}`)
  } else {
    process.stderr.write(`\n*** SKIPPING ${suite}: ${reason} ***\n\n`)
    t.test(suite, { skip: reason }, () => {})
  }
  return false
}

/** Starts a test server for a suite under suiteCanRun()'s rule: a failed start counts as a reason too. */
export async function startForSuite<T> (t: SuiteHost, suite: string, reason: string | undefined, start: () => Promise<T>): Promise<T | undefined> {
  if (!suiteCanRun(t, suite, reason)) return undefined
  try {
    return await start()
  } catch (err) {
    suiteCanRun(t, suite, (err as Error).message)
    return undefined
  }
}

/** Why a store suite cannot run here (missing prerequisites), or undefined when it can. */
export function unavailableReason (prerequisites: Array<[ok: boolean, why: string]>): string | undefined {
  const missing = prerequisites.filter(([ok]) => !ok).map(([, why]) => why)
  return missing.length === 0 ? undefined : missing.join('; ')
}

export function binaryIn (dir: string, name: string): string | undefined {
  const p = join(dir, name)
  return existsSync(p) ? p : undefined
}

/** A fake HTTP endpoint started on a free 127.0.0.1 port: its URL, how many requests it saw, and how to stop it. */
export interface LoopbackFake {
  endpoint: string
  requests: () => number
  close: () => Promise<void>
}

/** Listens on a free 127.0.0.1 port; `seen` counts the requests the server's handler took. */
export async function listenOnLoopback (server: import('node:http').Server, seen: () => number): Promise<LoopbackFake> {
  const port = await freePort()
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: seen,
    close: async () => { await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }) }
  }
}

/** Runs a scripts/provision-*.sh; a failure throws with the last 30 lines of its output. */
export async function runProvisionScript (what: string, script: string): Promise<void> {
  const output: Buffer[] = []
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (d: Buffer) => output.push(d))
    child.stderr.on('data', (d: Buffer) => output.push(d))
    child.on('error', reject)
    child.on('close', resolve)
  })
  if (code !== 0) {
    const tail = Buffer.concat(output).toString('utf8').split('\n').slice(-30).join('\n')
    throw new Error(`${what}: ${script} failed (exit ${String(code)}):\n${tail}`)
  }
}
