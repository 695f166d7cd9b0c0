// npm run bench:burst — a deploy burst against throttling stores (issue #17): 1,000 distinct
// identities in 100 projects (10 objects each) arrive within 5 s, evenly spread, each with a
// fresh HS256 token, against
//   (a) AWS SSM Parameter Store: the real moto server behind bench/ssm-throttling-proxy.ts (a
//       fake that enforces AWS's 40 calls/s per account and region with its ThrottlingException);
//   (b) a real OpenBao dev server with a real rate-limit quota (40 per 1 s on the KV mount), seen
//       through a counting proxy.
// For each store, the burst runs twice: call budgets on (the store type's defaults) and off, each
// time with a fresh service (cold caches) and a fresh bucket or quota. The caller is modelled as a
// platform: a workload start that gets a 503 tries again after its Retry-After (1 s without one)
// until 60 s after its arrival. Writes the "burst" section of bench/results.md.
import { execSync, fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm'
import { packageRoot } from '../src/package-root.js'
import { signToken } from '../src/token.js'
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, useMotoCredentials } from '../test/servers/moto.js'
import { startOpenBao, type OpenBaoServer } from '../test/servers/openbao.js'
import { writeSection } from './results-file.js'
import { startSsmThrottlingProxy } from './ssm-throttling-proxy.js'

const PROJECTS = 100
const OBJECTS_PER_PROJECT = 10
const ARRIVAL_WINDOW_MS = 5000
const RETRY_WINDOW_MS = 60_000
const DEFAULT_RETRY_MS = 1000
const QUOTA = { rate: 40, interval: '1s' }
const QUOTA_NAME = 'nfss-burst'
const secret = randomBytes(32).toString('base64url')
const seedRun = randomBytes(4).toString('hex')

interface Identity { projectId: string, nfObjectId: string, nfObjectType: string }
const identities: Identity[] = []
for (let p = 0; p < PROJECTS; p++) {
  for (let o = 0; o < OBJECTS_PER_PROJECT; o++) identities.push({ projectId: `burst-p${p}`, nfObjectId: `obj${o}`, nfObjectType: 'service' })
}
// Interleaved, as a cluster upgrade restarts services of many projects at once.
identities.sort((a, b) => a.nfObjectId.localeCompare(b.nfObjectId) || a.projectId.localeCompare(b.projectId))

/** What each layer holds: a mark of its own, and SHARED, which the object layer must win. */
const globalEntries = { GLOBAL_MARK: `global-${seedRun}`, SHARED: 'global' }
const projectEntries = (p: string): Record<string, string> => ({ PROJECT_MARK: p, SHARED: `project:${p}` })
const objectEntries = (p: string, o: string): Record<string, string> => ({ OBJECT_MARK: `${p}/${o}`, SHARED: `object:${p}/${o}` })
const layersOf = (): Array<{ path: string, entries: Record<string, string> }> => {
  const layers: Array<{ path: string, entries: Record<string, string> }> = [{ path: 'northflank/_global', entries: globalEntries }]
  for (let p = 0; p < PROJECTS; p++) layers.push({ path: `northflank/burst-p${p}/_shared`, entries: projectEntries(`burst-p${p}`) })
  for (const id of identities) layers.push({ path: `northflank/${id.projectId}/${id.nfObjectId}`, entries: objectEntries(id.projectId, id.nfObjectId) })
  return layers
}

async function inParallel<T> (items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) await work(items[next++] as T) }))
}

// ---- stores -------------------------------------------------------------------------------

/** The default SSM layout: one String parameter per ENV entry under the layer path. */
async function seedSsm (endpoint: string): Promise<number> {
  const client = new SSMClient({ region: MOTO_REGION, endpoint, credentials: MOTO_CREDENTIALS })
  const puts = layersOf().flatMap(l => Object.entries(l.entries).map(([key, value]) => ({ Name: `/${l.path}/${key}`, Value: value })))
  await inParallel(puts, 8, async p => { await client.send(new PutParameterCommand({ ...p, Type: 'String', Overwrite: true })) })
  client.destroy()
  return puts.length
}

async function bao (server: OpenBaoServer, method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> {
  const res = await fetch(`${server.address}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': server.rootToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) }
}

/** The default Vault layout: one KV v2 secret per layer on the dev server's `secret/` mount. */
async function seedBao (server: OpenBaoServer): Promise<number> {
  const layers = layersOf()
  await inParallel(layers, 16, async l => {
    const { status } = await bao(server, 'POST', `secret/data/${l.path}`, { data: l.entries })
    if (status !== 200) throw new Error(`seeding ${l.path}: HTTP ${status}`)
  })
  return layers.length
}

/**
 * A fresh rate-limit quota (a new one starts with fresh per-client buckets): 40 requests per 1 s
 * on the KV mount. OpenBao keys it by client IP (the service's 127.0.0.1) and checks it before any
 * token is looked at, so the root token is not exempt.
 */
async function freshQuota (server: OpenBaoServer): Promise<Record<string, unknown>> {
  await bao(server, 'DELETE', `sys/quotas/rate-limit/${QUOTA_NAME}`)
  const created = await bao(server, 'POST', `sys/quotas/rate-limit/${QUOTA_NAME}`, { ...QUOTA, path: 'secret/' })
  if (created.status !== 204 && created.status !== 200) throw new Error(`creating the quota: HTTP ${created.status} ${JSON.stringify(created.json)}`)
  const { json } = await bao(server, 'GET', `sys/quotas/rate-limit/${QUOTA_NAME}`)
  return json.data
}

interface CountingProxy { endpoint: string, counts: () => Record<string, Record<string, number>>, close: () => Promise<void> }

/** Counts OpenBao's answers per kind of call and status (429 is the quota); forwards everything unchanged. */
async function startCountingProxy (target: string): Promise<CountingProxy> {
  const upstream = new URL(target)
  const agent = new Agent({ keepAlive: true })
  const counts = new Map<string, Map<string, number>>()
  const kindOf = (method: string, path: string): string => path.startsWith('/v1/secret/data/') ? `${method} KV read` : `${method} ${path.replace(/^\/v1\//, '').split('/').slice(0, 3).join('/')}`
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const kind = kindOf(req.method ?? 'GET', (req.url ?? '/').split('?')[0] as string)
    const count = (status: string): void => {
      const byStatus = counts.get(kind) ?? new Map<string, number>()
      counts.set(kind, byStatus)
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1)
    }
    const forwarded = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers, agent }, answer => {
      count(String(answer.statusCode))
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    forwarded.on('error', () => { count('error'); if (!res.headersSent) res.writeHead(502); res.end() })
    req.pipe(forwarded)
  })
  server.maxConnections = 100_000
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts: () => Object.fromEntries([...counts].map(([k, v]) => [k, Object.fromEntries(v)])),
    close: async () => { await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }); agent.destroy() }
  }
}

// ---- the service ----------------------------------------------------------------------------

interface ServiceLog { status: number, note?: string, detail?: string }

interface RunningService {
  url: string
  ops: string
  /** Per request id: the audit line's status and note, and the failed read's detail. */
  requests: Map<string, ServiceLog>
  stop: () => Promise<void>
}

async function startServiceProcess (backend: Record<string, unknown>): Promise<RunningService> {
  const document = {
    server: { host: '127.0.0.1', port: 0 },
    ops: { host: '127.0.0.1', port: 0 },
    auth: { secrets: [secret] },
    backends: [backend]
  }
  const child: ChildProcess = fork(join(packageRoot(), 'bench/burst-service.ts'), [JSON.stringify(document)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true' }
  })
  const stderr: string[] = []
  child.stderr?.on('data', (d: Buffer) => { stderr.push(d.toString('utf8')) })
  const requests = new Map<string, ServiceLog>()
  const entry = (reqId: string): ServiceLog => { const known = requests.get(reqId) ?? { status: 0 }; requests.set(reqId, known); return known }
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  lines.on('line', line => {
    // Only 503s and their causes matter here; parsing every audit line would load this process.
    if (!line.startsWith('{') || (!line.includes('"status":503') && !line.includes('store read failed'))) return
    const record = JSON.parse(line) as { reqId?: string, msg?: string, detail?: string, audit?: { status: number, note?: string } }
    if (record.reqId === undefined) return
    if (record.msg === 'secret request' && record.audit !== undefined) Object.assign(entry(record.reqId), { status: record.audit.status, note: record.audit.note })
    else if (record.msg === 'store read failed') entry(record.reqId).detail = record.detail
  })
  const closed = new Promise<void>(resolve => { lines.once('close', () => resolve()) })
  const { url, ops } = await new Promise<{ url: string, ops: string }>((resolve, reject) => {
    child.once('message', m => resolve(m as { url: string, ops: string }))
    child.once('exit', code => reject(new Error(`the service exited ${String(code)}:\n${stderr.join('').slice(-3000)}`)))
  })
  for (let i = 0; i < 100; i++) {
    const ready = await fetch(new URL('readyz', ops)).then(r => r.status === 200, () => false)
    if (ready) break
    await sleep(100)
  }
  return {
    url,
    ops,
    requests,
    stop: async () => {
      child.kill('SIGTERM')
      await closed
    }
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Prometheus text -> value of one series (summed over the series that match). */
function metric (text: string, name: string, labels = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
    else if (line.startsWith(`${name} `)) sum += Number(line.slice(name.length + 1))
  }
  return sum
}

// ---- the burst ------------------------------------------------------------------------------

interface Workload {
  arrival: number
  attempts: number
  firstStatus: number
  firstCode?: string
  firstLatencyMs: number
  /** ms from arrival to the 200, undefined when it never started. */
  startedAfterMs?: number
  /** The 200 lacked a layer (or held another identity's value). */
  missingLayer: boolean
  otherFailure?: string
}

interface Tally {
  workloads: Workload[]
  codes503: Map<string, number>
  networkErrors: number
  retryAfterSeen: number
}

function retryAfterMs (header: string | null): number | undefined {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(header)
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined
}

/** Every layer's entry present, with this identity's values, and the object layer winning SHARED. */
function hasEveryLayer (body: string, id: Identity): boolean {
  const secrets = (JSON.parse(body) as { secrets: Array<{ type: string, key?: string, value?: string }> }).secrets
  const env = new Map(secrets.filter(s => s.type === 'ENV').map(s => [s.key, s.value]))
  const want = { ...globalEntries, ...projectEntries(id.projectId), ...objectEntries(id.projectId, id.nfObjectId) }
  return Object.entries(want).every(([key, value]) => env.get(key) === value)
}

async function workloadStart (url: string, id: Identity, tally: Tally): Promise<Workload> {
  const arrival = performance.now()
  const authorization = `Bearer ${signToken(id, { secret, ttlSeconds: 3600 })}`
  const w: Workload = { arrival, attempts: 0, firstStatus: 0, firstLatencyMs: 0, missingLayer: false }
  for (;;) {
    const sent = performance.now()
    w.attempts++
    let status = 0
    let body = ''
    let code: string | undefined
    let wait: number | undefined
    try {
      const res = await fetch(url, { headers: { authorization } })
      status = res.status
      body = await res.text()
      wait = retryAfterMs(res.headers.get('retry-after'))
      if (wait !== undefined) tally.retryAfterSeen++
      if (status === 503) code = (JSON.parse(body) as { code?: string }).code ?? 'no code'
    } catch {
      tally.networkErrors++
    }
    if (w.attempts === 1) Object.assign(w, { firstStatus: status, firstCode: code, firstLatencyMs: performance.now() - sent })
    if (status === 200) {
      w.startedAfterMs = performance.now() - arrival
      w.missingLayer = !hasEveryLayer(body, id)
      return w
    }
    if (status === 503) tally.codes503.set(code as string, (tally.codes503.get(code as string) ?? 0) + 1)
    else if (status !== 0) {
      w.otherFailure = `HTTP ${status}`
      return w
    }
    wait ??= DEFAULT_RETRY_MS
    if (performance.now() + wait > arrival + RETRY_WINDOW_MS) return w
    await sleep(wait)
  }
}

async function burst (url: string): Promise<Tally> {
  const tally: Tally = { workloads: [], codes503: new Map(), networkErrors: 0, retryAfterSeen: 0 }
  const t0 = performance.now()
  const step = ARRIVAL_WINDOW_MS / identities.length
  tally.workloads = await Promise.all(identities.map(async (id, i) => {
    const due = t0 + i * step - performance.now()
    if (due > 0) await sleep(due)
    return await workloadStart(url, id, tally)
  }))
  return tally
}

/** Why each 503 happened, from the service's own log lines (joined by request id). */
function causeOf (log: ServiceLog): string {
  if (log.note?.startsWith('NFSS_DEADLINE_EXCEEDED') === true) return 'request deadline'
  const detail = log.detail
  if (detail === undefined) return 'unknown'
  if (/call budget: .*throttled answer/.test(detail)) return 'budget wait, retrying a store throttle'
  if (/call budget:/.test(detail)) return 'budget wait'
  if (/ThrottlingException|throttled|rate limit|HTTP 429/i.test(detail)) return 'store throttle'
  if (/no answer within/.test(detail)) return 'store timeout'
  return 'other store error'
}

function percentile (sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

interface RunResult {
  store: string
  budget: 'on' | 'off'
  storeCalls: number
  throttledByStore: number
  callsDetail: string
  tally: Tally
  causes: Map<string, number>
  service503s: number
  metrics: string
}

async function runOnce (store: string, budget: 'on' | 'off', backend: Record<string, unknown>, counters: () => { calls: number, throttled: number, detail: string }): Promise<RunResult> {
  const service = await startServiceProcess({ ...backend, ...(budget === 'off' ? { budget: { enabled: false } } : {}) })
  process.stdout.write(`burst: ${store}, budgets ${budget}: service at ${service.url} ...\n`)
  let tally: Tally
  let metrics = ''
  try {
    const started = performance.now()
    tally = await burst(service.url)
    metrics = await (await fetch(new URL('metrics', service.ops))).text()
    process.stdout.write(`burst: ${store}, budgets ${budget}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`)
  } finally {
    await service.stop()
  }
  const causes = new Map<string, number>()
  let service503s = 0
  for (const log of service.requests.values()) {
    if (log.status !== 503) continue
    service503s++
    const cause = causeOf(log)
    causes.set(cause, (causes.get(cause) ?? 0) + 1)
  }
  const { calls, throttled, detail } = counters()
  return { store, budget, storeCalls: calls, throttledByStore: throttled, callsDetail: detail, tally, causes, service503s, metrics }
}

// ---- the run --------------------------------------------------------------------------------

const t0 = performance.now()
// The service runs the compiled build (dist/), as production does.
execSync('npm run build --silent', { cwd: packageRoot(), stdio: 'inherit' })
useMotoCredentials()
const moto = await startMoto({ name: 'moto-burst' })
const openBao = await startOpenBao()
const results: RunResult[] = []
let quotaShown: Record<string, unknown> = {}
let seeded = ''
try {
  const [parameters, secrets] = await Promise.all([seedSsm(moto.endpoint), seedBao(openBao)])
  seeded = `${parameters} SSM parameters, ${secrets} KV secrets`
  process.stdout.write(`burst: seeded ${seeded} in ${((performance.now() - t0) / 1000).toFixed(0)} s (with the build)\n`)

  for (const budget of ['on', 'off'] as const) {
    const proxy = await startSsmThrottlingProxy({ target: moto.endpoint, callsPerSecond: 40, burst: 40 })
    try {
      results.push(await runOnce('SSM (moto behind the throttling proxy)', budget, { name: 'ssm', type: 'aws-ssm', region: MOTO_REGION, endpoint: proxy.endpoint }, () => {
        const totals = proxy.totals()
        const detail = Object.entries(proxy.counts()).map(([action, c]) => `${action} ${c.forwarded} + ${c.throttled} throttled`).join('; ')
        return { calls: totals.forwarded + totals.throttled, throttled: totals.throttled, detail }
      }))
    } finally {
      await proxy.close()
    }
  }

  for (const budget of ['on', 'off'] as const) {
    quotaShown = await freshQuota(openBao)
    const proxy = await startCountingProxy(openBao.address)
    try {
      results.push(await runOnce('OpenBao (rate-limit quota)', budget, { name: 'bao', type: 'vault', address: proxy.endpoint, auth: { method: 'token', token: openBao.rootToken } }, () => {
        const counts = proxy.counts()
        let calls = 0
        let throttled = 0
        for (const byStatus of Object.values(counts)) {
          for (const [status, n] of Object.entries(byStatus)) { calls += n; if (status === '429') throttled += n }
        }
        const detail = Object.entries(counts).map(([kind, byStatus]) => `${kind}: ${Object.entries(byStatus).map(([s, n]) => `${n}× ${s}`).join(', ')}`).join('; ')
        return { calls, throttled, detail }
      }))
    } finally {
      await proxy.close()
    }
  }
} finally {
  await Promise.allSettled([moto.stop(), openBao.stop()])
}

// ---- the report -----------------------------------------------------------------------------

const fmtMs = (ms: number | undefined): string => ms === undefined ? 'never' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`
/** Percentile over every workload, one that never started counting as the slowest. */
const startPercentile = (ws: Workload[], p: number): string => {
  const times = ws.map(w => w.startedAfterMs ?? Infinity).sort((a, b) => a - b)
  const v = percentile(times, p)
  return v === undefined || v === Infinity ? 'not started' : fmtMs(v)
}
const sumCauses = (r: RunResult, ...names: string[]): number => names.reduce((s, n) => s + (r.causes.get(n) ?? 0), 0)

const storeRows = results.map(r => {
  const reads = metric(r.metrics, 'nf_secret_source_store_calls_total', 'outcome="found"') + metric(r.metrics, 'nf_secret_source_store_calls_total', 'outcome="not_found"')
  const readMs = 1000 * metric(r.metrics, 'nf_secret_source_store_call_duration_seconds_sum') / Math.max(1, metric(r.metrics, 'nf_secret_source_store_call_duration_seconds_count'))
  const budgetNote = r.budget === 'on'
    ? `${metric(r.metrics, 'nf_secret_source_budget_throttled_total')} throttled, ${metric(r.metrics, 'nf_secret_source_budget_retried_total')} retried, ${metric(r.metrics, 'nf_secret_source_budget_refused_total')} refused; rate at the end ${metric(r.metrics, 'nf_secret_source_budget_calls_per_second').toFixed(1)}/s`
    : 'off'
  return `| ${r.store} | ${r.budget} | ${r.storeCalls} | ${r.throttledByStore} | ${reads} | ${fmtMs(readMs)} | ${budgetNote} | ${r.callsDetail} |`
})
const callerRows = results.map(r => {
  const ws = r.tally.workloads
  const first503 = ws.filter(w => w.firstStatus === 503).length
  const started = ws.filter(w => w.startedAfterMs !== undefined).length
  const firstLatencies = ws.map(w => w.firstLatencyMs).sort((a, b) => a - b)
  const codes = [...r.tally.codes503].map(([code, n]) => `${code} ${n}`).join(', ') || '0'
  const causes = [...r.causes].sort((a, b) => b[1] - a[1]).map(([cause, n]) => `${cause} ${n}`).join(', ') || '0'
  const throttle503 = sumCauses(r, 'store throttle')
  const other = ws.filter(w => w.otherFailure !== undefined).length
  return `| ${r.store} | ${r.budget} | ${ws.filter(w => w.firstStatus === 200).length} / ${first503} | ${fmtMs(percentile(firstLatencies, 50))} / ${fmtMs(percentile(firstLatencies, 99))} | ${codes} | ${causes} | **${throttle503}** | **${ws.filter(w => w.missingLayer).length}** | ${started} / ${ws.length - started - other}${other > 0 ? ` (+${other} other failures)` : ''} | ${startPercentile(ws, 50)} / ${startPercentile(ws, 99)} | ${ws.reduce((s, w) => s + w.attempts, 0)} | ${r.tally.retryAfterSeen} | ${r.tally.networkErrors} |`
})
const consistency = results.map(r => {
  const seen = [...r.tally.codes503.values()].reduce((a, b) => a + b, 0)
  return `${r.store}, budgets ${r.budget}: ${seen} 503s seen by the callers, ${r.service503s} in the service's audit lines`
})
const date = new Date().toISOString()
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`
const report = `## Deploy burst: throttling stores, budgets on and off

Command: \`npm run bench:burst\` (bench/burst.ts; whole run ${((performance.now() - t0) / 1000).toFixed(0)} s)
Date: ${date}
Machine: ${machine}; moto ${moto.version}, OpenBao from scripts/provision-openbao.sh

**Workload.** ${identities.length} distinct identities (${PROJECTS} projects x ${OBJECTS_PER_PROJECT} objects, interleaved across projects) arrive evenly within ${ARRIVAL_WINDOW_MS / 1000} s, each with a fresh HS256 token. Every identity has entries in all three layers (global, project, object; ${seeded}, the default locator layout of each store), so a cold burst needs ${1 + PROJECTS + identities.length} distinct layer reads. Each 200 is checked for every layer's own value and for the object layer winning a key all three layers set. The service runs the compiled build in its own process with its production defaults (call timeout 5 s, request deadline 10 s, cache ttl 30 s); each run starts a fresh service (cold caches) and a fresh store bucket or quota.

**Stores.** (a) SSM: the real moto server behind bench/ssm-throttling-proxy.ts, a fake that enforces AWS's standard throughput, one token bucket of 40 calls/s (burst 40) shared by every SSM action, and answers over it as AWS does (HTTP 400, \`x-amzn-ErrorType: ThrottlingException\`, \`{"__type":"ThrottlingException","message":"Rate exceeded"}\`); the SDK's own adaptive retry (3 attempts) runs as in production. (b) A real OpenBao dev server with a real rate-limit quota \`sys/quotas/rate-limit/${QUOTA_NAME}\` (${JSON.stringify({ rate: quotaShown.rate, interval: quotaShown.interval, path: quotaShown.path })}), seen through a counting proxy. OpenBao applies it per client IP (the service's 127.0.0.1), in fixed 1 s windows, before any token is looked at (the root token is not exempt; only paths like sys/health are), and answers 429 without Retry-After (rate-limit headers are off by default).

**Caller model.** Like a platform starting workloads: a workload start that gets a 503 tries again after the answer's Retry-After, or after 1 s without one, until 60 s after its arrival; a 200 is a start. "Time to start" runs from arrival to the 200, retries included; a workload that never started counts as slower than all that did.

### What the stores saw

| store | budget | store calls | throttled answers from the store | layer reads answered | mean layer read, budget wait included | call budget (service metrics) | calls by action and answer |
| --- | --- | --- | --- | --- | --- | --- | --- |
${storeRows.join('\n')}

### What the callers saw

| store | budget | first attempt 200 / 503 | first attempt p50 / p99 latency | 503s, all attempts, by code | 503s by cause (service log) | throttled store answers reaching a caller as 503 | answers without a layer | started / never started | time to start p50 / p99 | attempts | answers with Retry-After | connection errors |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
${callerRows.join('\n')}

503 causes come from the service's "store read failed" log line of each 503 (joined to its audit line by request id): *store throttle* is the store's throttling answer itself (ThrottlingException after the SDK's retries, or HTTP 429); *budget wait* is the call budget refusing a call that could not start within the wait its timeout allows (half of it; predicted at once, or still waiting then), never a store answer; *budget wait, retrying a store throttle* is a throttled call whose retry found no slot in time; *store timeout* is no answer within the call timeout (for SSM, the SDK's own backoff after throttling counts here). Load average when the run ended: ${loadavg().map(l => l.toFixed(2)).join(', ')}. Check: ${consistency.join('; ')}.
`
writeSection('burst', report)
process.stdout.write(report)
const failed = results.filter(r => r.budget === 'on' && (sumCauses(r, 'store throttle') > 0 || r.tally.workloads.some(w => w.missingLayer)))
if (failed.length > 0) process.exitCode = 1
