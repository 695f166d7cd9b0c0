// npm run bench — in one run on this machine:
// 1. throughput of (a) nf-secret-source with a warm cache vs (b) a bare Fastify route that
//    only verifies the JWT; each target in its own process, measured twice, alternating. Like real
//    traffic (a fresh token with every workload start), both get a rotating pool of distinct
//    tokens (distinct iat) over many identities: no verifier cache can help either.
//    Then the same two loaded at once (half the connections each), round after round: both see
//    the same moment of a shared machine, so its drift cancels out. What two processes differ by
//    on their own does not; the floor against a second copy of itself shows how much that is.
// 2. single-flight: 200 concurrent first requests for one identity; store calls per locator.
// Writes bench/results.md.
import { execSync, fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { packageRoot } from '../src/package-root.js'
import { signToken } from '../src/token.js'
import { countingDefinition, countingStore } from '../test/helpers/counting-backend.js'
import { writeSection } from './results-file.js'
import { startTestService } from '../test/helpers/service.js'

// Rounds of (service, bare), alternating: on a shared machine the ratio of one pair can move by a
// few tenths from one round to the next, so the report gives every round's ratio and the spread.
const DURATION = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const CONCURRENT_ROUNDS = Number(process.env.BENCH_CONCURRENT_ROUNDS ?? 10)
const CONCURRENT_SECONDS = Number(process.env.BENCH_CONCURRENT_SECONDS ?? 3)
const identity = { projectId: 'demo-project', nfObjectId: 'api', nfObjectType: 'service' }
const secret = randomBytes(32).toString('base64url')
const token = signToken(identity, { secret, ttlSeconds: 3600 })
const TOKEN_POOL = Number(process.env.BENCH_TOKENS ?? 5000)
const now = Math.floor(Date.now() / 1000)
// One in ten is the example identity (5 ENV + 3 FILE entries), the rest 700 other identities
// (nothing stored: an empty answer after the same layers, locators and cache reads).
const tokens = Array.from({ length: TOKEN_POOL }, (_, i) => signToken(
  i % 10 === 0 ? identity : { projectId: `p${i % 100}`, nfObjectId: `o${i % 7}`, nfObjectType: 'service' },
  { secret, ttlSeconds: 3600, issuedAt: now - (i % 3000) }))

interface Target { child: ChildProcess, url: string }

// The targets run the compiled build (dist/), as production does: code run through tsx wraps
// every closure it creates in esbuild's __name(), which showed up in the profile.
execSync('npm run build --silent', { cwd: packageRoot(), stdio: 'inherit' })

async function startTarget (kind: 'service' | 'bare', fixedBody = ''): Promise<Target> {
  const child = fork(join(packageRoot(), 'dist/bench/targets.js'), [kind, secret, fixedBody], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    child.once('message', m => resolve(m as { url: string }))
    child.once('exit', code => reject(new Error(`${kind} exited ${code}`)))
  })
  return { child, url }
}

interface Run { rps: number, p50: number, p99: number, non2xx: number, errors: number, perCpuSecond: number }

/** CPU seconds a process has used (utime + stime from /proc; clock ticks are 100 per second on Linux). */
function cpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Loads one target for `seconds`, each request with the pool's next token from `firstToken` on; the caller reads the CPU. */
async function loadOnly (target: Target, seconds: number, connections: number, firstToken: number): Promise<autocannon.Result> {
  let next = firstToken
  return await autocannon({
    url: target.url,
    connections,
    duration: seconds,
    requests: [{ setupRequest: request => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length] as string}` } }) }]
  })
}

async function load (target: Target, seconds: number): Promise<Run> {
  const cpuBefore = cpuSeconds(target.child.pid as number)
  const result = await loadOnly(target, seconds, CONNECTIONS, 0)
  const cpu = cpuSeconds(target.child.pid as number) - cpuBefore
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors, perCpuSecond: result.requests.total / cpu }
}

/** Both loaded at once: a's requests per CPU-second over b's, and the non-2xx and errors of both. */
async function together (a: Target, b: Target, seconds: number): Promise<{ ratio: number, failed: number }> {
  const before = [cpuSeconds(a.child.pid as number), cpuSeconds(b.child.pid as number)]
  const [ra, rb] = await Promise.all([loadOnly(a, seconds, CONNECTIONS / 2, 0), loadOnly(b, seconds, CONNECTIONS / 2, tokens.length / 2)])
  const perCpu = (r: autocannon.Result, target: Target, i: number): number => r.requests.total / (cpuSeconds(target.child.pid as number) - (before[i] as number))
  return { ratio: perCpu(ra, a, 0) / perCpu(rb, b, 1), failed: ra.non2xx + ra.errors + rb.non2xx + rb.errors }
}

const inverted = (pair: { ratio: number, failed: number }): { ratio: number, failed: number } => ({ ratio: 1 / pair.ratio, failed: pair.failed })

interface Spread { median: number, mean: number, standardError: number, rounds: number[] }
/** The median too: one round that another process on the machine disturbed moves the mean, not the median. */
function spread (rounds: number[]): Spread {
  const m = rounds.reduce((sum, r) => sum + r, 0) / rounds.length
  const variance = rounds.reduce((sum, r) => sum + (r - m) ** 2, 0) / Math.max(1, rounds.length - 1)
  const sorted = [...rounds].sort((x, y) => x - y)
  const middle = sorted.length >> 1
  const median = sorted.length % 2 === 1 ? sorted[middle] as number : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
  return { median, mean: m, standardError: Math.sqrt(variance / rounds.length), rounds }
}

async function throughput (): Promise<{ service: Run[], bare: Run[], concurrent: Spread, floorAgainstItself: Spread, concurrentFailed: number }> {
  const service = await startTarget('service')
  const body = await (await fetch(service.url, { headers: { authorization: `Bearer ${token}` } })).text()
  const bare = await startTarget('bare', body)
  const secondBare = await startTarget('bare', body)
  const runs = { service: [] as Run[], bare: [] as Run[] }
  const concurrent: number[] = []
  const floorAgainstItself: number[] = []
  let concurrentFailed = 0
  try {
    for (const target of [service, bare, secondBare]) await load(target, 2) // warm: JIT, connections, cache
    for (let round = 0; round < ROUNDS; round++) {
      runs.service.push(await load(service, DURATION))
      runs.bare.push(await load(bare, DURATION))
    }
    // The second floor gets as much load as the first had, so the two are as warm (JIT, heap sizes).
    await load(secondBare, ROUNDS * DURATION)
    for (let round = 0; round < CONCURRENT_ROUNDS; round++) {
      // Which target's load starts first alternates, so neither always has that head start.
      const pair = round % 2 === 0 ? await together(service, bare, CONCURRENT_SECONDS) : inverted(await together(bare, service, CONCURRENT_SECONDS))
      concurrent.push(pair.ratio)
      // Every other round, the method's own noise: the floor against a second floor.
      if (round % 2 === 1) {
        const same = round % 4 === 1 ? await together(secondBare, bare, CONCURRENT_SECONDS) : inverted(await together(bare, secondBare, CONCURRENT_SECONDS))
        floorAgainstItself.push(same.ratio)
        concurrentFailed += same.failed
      }
      concurrentFailed += pair.failed
    }
  } finally {
    for (const target of [service, bare, secondBare]) target.child.kill('SIGTERM')
  }
  return { ...runs, concurrent: spread(concurrent), floorAgainstItself: spread(floorAgainstItself), concurrentFailed }
}

async function singleFlight (): Promise<Record<string, number>> {
  const store = countingStore()
  store.documents.set('northflank/demo-project/api', { API_KEY: 'k' })
  store.delayMs = 50
  const svc = await startTestService({ backends: [{ name: 'counting', type: 'counting' }] }, { definitions: [countingDefinition(store)] })
  try {
    const statuses = await Promise.all(Array.from({ length: 200 }, async () => (await svc.fetchAs(identity)).status))
    if (statuses.some(s => s !== 200)) throw new Error(`single-flight run: not all 200: ${statuses.join(',')}`)
    return Object.fromEntries(store.calls)
  } finally {
    await svc.close()
  }
}

const mean = (runs: Run[], key: keyof Run): number => runs.reduce((sum, r) => sum + r[key], 0) / runs.length
const fmt = (n: number, digits = 0): string => n.toFixed(digits)

const { service, bare, concurrent, floorAgainstItself, concurrentFailed } = await throughput()
const calls = await singleFlight()
const ratio = mean(service, 'rps') / mean(bare, 'rps')
const cpuRatio = mean(service, 'perCpuSecond') / mean(bare, 'perCpuSecond')
const roundRatios = service.map((r, i) => r.perCpuSecond / (bare[i] as Run).perCpuSecond)
const date = new Date().toISOString()
const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`
const rows = [
  `| target | req/s (mean of ${ROUNDS} runs) | p50 ms | p99 ms | requests per CPU-second of the server | non-2xx | errors |`,
  '| --- | --- | --- | --- | --- | --- | --- |',
  `| (a) nf-secret-source, file backend, warm cache | ${fmt(mean(service, 'rps'))} | ${fmt(mean(service, 'p50'), 1)} | ${fmt(mean(service, 'p99'), 1)} | ${fmt(mean(service, 'perCpuSecond'))} | ${mean(service, 'non2xx') * ROUNDS} | ${mean(service, 'errors') * ROUNDS} |`,
  `| (b) bare Fastify + fast-jwt verify, fixed body | ${fmt(mean(bare, 'rps'))} | ${fmt(mean(bare, 'p50'), 1)} | ${fmt(mean(bare, 'p99'), 1)} | ${fmt(mean(bare, 'perCpuSecond'))} | ${mean(bare, 'non2xx') * ROUNDS} | ${mean(bare, 'errors') * ROUNDS} |`
]
const report = `## Throughput and single-flight

Command: \`npm run bench\` (bench/run.ts; ${ROUNDS} rounds, ${DURATION} s per run, ${CONNECTIONS} connections; then ${CONCURRENT_ROUNDS} rounds of ${CONCURRENT_SECONDS} s with both targets loaded at once; autocannon in the parent process, each target in its own process running the compiled build)
Date: ${date}
Machine: ${machine}

### Warm cache vs the bare-Fastify floor

${rows.join('\n')}

**Ratio a/b: ${fmt(ratio, 2)} in req/s; ${fmt(cpuRatio, 2)} in requests per CPU-second of the server process** (${ROUNDS} rounds of a then b after a 2 s warm-up of each; per round, in requests per CPU-second: ${roundRatios.map(r => fmt(r, 2)).join(', ')}, from ${fmt(Math.min(...roundRatios), 2)} to ${fmt(Math.max(...roundRatios), 2)}; a fresh token per request from a pool of ${TOKEN_POOL} distinct tokens over 701 identities, no verifier cache on either side; (b) answers the example identity's JSON body, 5 ENV + 3 FILE entries, to every token, (a) answers each identity its own). The CPU-normalised ratio is the steadier one on a shared machine: it does not move when other processes take cores.
**Both loaded at once: median ${fmt(concurrent.median, 2)}, mean ${fmt(concurrent.mean, 2)} ± ${fmt(concurrent.standardError, 2)} in requests per CPU-second** (standard error of the mean; ${CONCURRENT_ROUNDS} rounds of ${CONCURRENT_SECONDS} s, ${CONNECTIONS / 2} connections to each target, tokens from the same pool; per round: ${concurrent.rounds.map(r => fmt(r, 2)).join(', ')}). The same method with the floor against a second copy of itself, as warm: median ${fmt(floorAgainstItself.median, 2)}, mean ${fmt(floorAgainstItself.mean, 2)} ± ${fmt(floorAgainstItself.standardError, 2)} (${floorAgainstItself.rounds.length} rounds: ${floorAgainstItself.rounds.map(r => fmt(r, 2)).join(', ')}). Non-2xx and errors in these rounds: ${concurrentFailed}.
Load average when the run ended: ${loadavg().map(l => l.toFixed(2)).join(', ')}.
Per run, a: ${service.map(r => fmt(r.rps)).join(', ')} req/s; b: ${bare.map(r => fmt(r.rps)).join(', ')} req/s.

### Single-flight: 200 concurrent first requests for one identity

Store calls per locator (counting test backend, 50 ms per call): ${Object.entries(calls).map(([l, n]) => `\`${l}\`: ${n}`).join(', ')}.
`
writeSection('bench', report)
process.stdout.write(report)
if (Object.values(calls).some(n => n !== 1) || concurrentFailed > 0) process.exitCode = 1
