// A real moto server (PyPI "moto[server]") for the AWS store tests, and a fault-injecting fake.
// scripts/provision-moto.sh installs moto into .cache/moto-venv when missing (cold: ~2 min).
// Everything listens on 127.0.0.1; tests never reach AWS (every client gets the moto endpoint).
import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { cacheDir, freePort, listenOnLoopback, repoRoot, startForSuite, type LoopbackFake, startProcess, stopProcess, unavailableReason, waitUntil, runProvisionScript, type SuiteHost } from './common.js'

export const motoVenv = join(cacheDir, 'moto-venv')
const motoServerBinary = join(motoVenv, 'bin', 'moto_server')
const provisionScript = join(repoRoot, 'scripts', 'provision-moto.sh')

/** Fake static credentials for moto; the tests put them in the environment of the test process. */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' }
export const MOTO_REGION = 'us-east-1'

export interface MotoServer {
  /** http://127.0.0.1:PORT */
  endpoint: string
  /** The installed moto version (from the venv's stamp). */
  version: string
  /** POST /moto-api/reset: forget every resource. */
  reset: () => Promise<void>
  stop: () => Promise<void>
}

function python3Available (): boolean {
  const r = spawnSync('python3', ['-c', 'import venv, ensurepip'], { stdio: 'ignore' })
  return r.error === undefined && r.status === 0
}

/** Why the moto suites cannot run here, or undefined when they can. */
export function motoUnavailable (): string | undefined {
  return unavailableReason([
    [existsSync(motoServerBinary) || python3Available(),
      `moto: ${motoServerBinary} is missing and python3 (with venv and ensurepip) is not available to install it (scripts/provision-moto.sh)`],
    [process.platform === 'linux' || process.platform === 'darwin', `moto: unsupported platform ${process.platform}`]
  ])
}

/** Installs moto when missing (no-op when present). */
export async function provisionMoto (): Promise<string> {
  await runProvisionScript('moto', provisionScript)
  return motoServerBinary
}

export interface StartMotoOptions {
  /** moto's INITIAL_NO_AUTH_ACTION_COUNT: after this many calls every call must be signed by a known IAM user and allowed. */
  enforceIamAfter?: number
  /** Log file name under .cache/logs. */
  name?: string
}

export async function startMoto (options: StartMotoOptions = {}): Promise<MotoServer> {
  const binary = await provisionMoto()
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  const name = options.name ?? 'moto'
  const child: ChildProcess = startProcess(name, binary, ['-H', '127.0.0.1', '-p', String(port)], {
    ...(options.enforceIamAfter === undefined ? {} : { INITIAL_NO_AUTH_ACTION_COUNT: String(options.enforceIamAfter) })
  })
  const killOnExit = (): void => { child.kill('SIGKILL') }
  process.once('exit', killOnExit)
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit)
    await stopProcess(child)
  }
  try {
    await waitUntil(name, async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`moto_server exited (${String(child.exitCode ?? child.signalCode)}); see ${join(cacheDir, 'logs', `${name}.log`)}`)
      }
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      return res.ok
    }, 60_000)
  } catch (err) {
    await stop()
    throw err
  }
  const stamp = join(motoVenv, '.moto-version')
  return {
    endpoint,
    version: existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : 'unknown',
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' })
      if (!res.ok) throw new Error(`moto reset: HTTP ${res.status}`)
    },
    stop
  }
}

/**
 * Creates an IAM user with an access key and no policy on a moto that does not enforce IAM
 * yet (its first `enforceIamAfter` calls are free, and unsigned: moto routes by the credential
 * scope). Two calls: start moto with enforceIamAfter: 2, then every call signed with these
 * credentials is refused by moto's own policy evaluation.
 */
export async function createUserWithoutPolicies (endpoint: string, userName: string): Promise<{ accessKeyId: string, secretAccessKey: string }> {
  const iam = async (body: string): Promise<string> => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `AWS4-HMAC-SHA256 Credential=${MOTO_CREDENTIALS.accessKeyId}/20240101/${MOTO_REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`
      },
      body: `${body}&Version=2010-05-08`
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`moto IAM ${body.split('&')[0]}: HTTP ${res.status}`)
    return text
  }
  await iam(`Action=CreateUser&UserName=${userName}`)
  const xml = await iam(`Action=CreateAccessKey&UserName=${userName}`)
  const field = (tag: string): string => xml.match(new RegExp(`<${tag}>([^<]+)</${tag}>`))?.[1] ?? ''
  return { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey') }
}

/** Its requests() counts what it has seen, faulted and forwarded. */
export type AwsFake = LoopbackFake

/**
 * A FAKE AWS endpoint (not moto): answers the first `faults` requests with an AWS JSON-protocol
 * error exactly as AWS shapes it (HTTP 400, {"__type": ...}), then forwards to `target` (moto),
 * or keeps faulting when there is no target. moto itself cannot throttle.
 */
export async function startAwsFaultFake (fault: { type: string, status?: number, faults?: number, target?: string }): Promise<AwsFake> {
  let seen = 0
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen++
    if (seen <= (fault.faults ?? Number.POSITIVE_INFINITY) || fault.target === undefined) {
      req.resume()
      const body = JSON.stringify({ __type: fault.type, message: 'User: arn:aws:iam::123456789012:user/fake-secret-principal is refused by the fake' })
      res.writeHead(fault.status ?? 400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `fake-${seen}` })
      res.end(body)
      return
    }
    const upstream = request(`${fault.target}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, answer => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => { res.writeHead(502).end() })
    req.pipe(upstream)
  })
  return await listenOnLoopback(server, () => seen)
}

export interface RecordedCall {
  command: string
  input: Record<string, any>
}

/** Records every SDK call (one per send(), whatever the retries) made by an AWS SDK client. */
export function recordCalls (client: { middlewareStack: { add: (...args: any[]) => void } }, calls: RecordedCall[]): void {
  client.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: { input: Record<string, any> }) => {
      calls.push({ command: context.commandName ?? 'unknown', input: args.input })
      return await next(args)
    },
    { step: 'initialize', name: 'nfssRecordCalls' }
  )
}

/** The calls `action` made, out of a list recordCalls() fills. */
export async function callsDuring<T> (calls: readonly RecordedCall[], action: () => Promise<T>): Promise<{ result: T, made: RecordedCall[] }> {
  const before = calls.length
  const result = await action()
  return { result, made: calls.slice(before) }
}

/**
 * The default credential chain of the code under test finds these fake keys first, and
 * nothing can fall through to a profile, SSO or the instance metadata service.
 */
export function useMotoCredentials (): void {
  process.env.AWS_ACCESS_KEY_ID = MOTO_CREDENTIALS.accessKeyId
  process.env.AWS_SECRET_ACCESS_KEY = MOTO_CREDENTIALS.secretAccessKey
  delete process.env.AWS_SESSION_TOKEN
  delete process.env.AWS_PROFILE
  process.env.AWS_EC2_METADATA_DISABLED = 'true'
}

/** Starts moto for a suite, under suiteCanRun()'s rule (skip locally, fail under CI). */
export async function startMotoForSuite (t: SuiteHost, suite: string): Promise<MotoServer | undefined> {
  return await startForSuite(t, `${suite} (moto)`, motoUnavailable(), async () => await startMoto({ name: `moto-${suite}` }))
}
