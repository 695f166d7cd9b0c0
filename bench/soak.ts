// npm run soak — a steady rate over 10,000 distinct identities, with cache churn, against the
// file backend and a real store (Secrets Manager on moto), bounded in time (SOAK_SECONDS,
// default 300). Reports errors, p50/p99, RSS and open file descriptors; writes bench/results.md.
import { execSync, fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import autocannon from 'autocannon'
import { packageRoot } from '../src/package-root.js'
import { signToken } from '../src/token.js'
import { MOTO_CREDENTIALS, MOTO_REGION, startMoto, useMotoCredentials } from '../test/servers/moto.js'
import { writeSection } from './results-file.js'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300)
const RATE = Number(process.env.SOAK_RATE ?? 200)
const IDENTITIES = 10_000
const PROJECTS = 100
const secret = randomBytes(32).toString('base64url')

const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length
/** The target's heap after a full GC, in MiB. */
async function heapAfterGc (target: ChildProcess): Promise<number> {
  const answer = new Promise<number>(resolve => {
    const onMessage = (m: unknown): void => {
      const bytes = (m as { heapAfterGc?: number }).heapAfterGc
      if (bytes === undefined) return
      target.off('message', onMessage)
      resolve(bytes / 2 ** 20)
    }
    target.on('message', onMessage)
  })
  target.send('heap-after-gc')
  return await answer
}

const moto = await startMoto()
useMotoCredentials()
const child = (() => {
  execSync('npm run build --silent', { cwd: packageRoot(), stdio: 'inherit' })
  return fork(join(packageRoot(), 'dist/bench/targets.js'), ['soak', secret, ''], { execArgv: ['--expose-gc'], env: { ...process.env, SOAK_SM_ENDPOINT: moto.endpoint }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
})()
try {
  const seeder = new SecretsManagerClient({ region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS })
  await seeder.send(new CreateSecretCommand({ Name: 'northflank/_global', SecretString: JSON.stringify({ REGION: 'soak' }) }))
  for (let p = 0; p < PROJECTS; p++) await seeder.send(new CreateSecretCommand({ Name: `northflank/p${p}/_shared`, SecretString: JSON.stringify({ PROJECT: `p${p}` }) }))
  // One object in ten has its own secret; the rest are empty layers (negative caching).
  for (let i = 0; i < IDENTITIES; i += 10) await seeder.send(new CreateSecretCommand({ Name: `northflank/p${i % PROJECTS}/o${i}`, SecretString: JSON.stringify({ OBJECT: `o${i}` }) }))
  seeder.destroy()

  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    child.once('message', m => resolve(m as { url: string }))
    child.once('exit', code => reject(new Error(`soak target exited ${code}`)))
  })
  const tokens = Array.from({ length: IDENTITIES }, (_, i) => signToken({ projectId: `p${i % PROJECTS}`, nfObjectId: `o${i}`, nfObjectType: 'service' }, { secret, ttlSeconds: 3 * 3600 }))
  let next = 0
  const pid = child.pid as number
  // Warm-up: visit every identity once, so the bounded caches and the answer memo are full.
  await autocannon({ url, connections: 20, amount: IDENTITIES, requests: [{ method: 'GET', setupRequest: req => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % IDENTITIES] as string}` } }) }] })
  const start = { rss: rssMiB(pid), fds: openFds(pid), heap: await heapAfterGc(child) }
  const samples: number[] = []
  const sampler = setInterval(() => samples.push(rssMiB(pid)), 10_000)
  const result = await autocannon({
    url,
    connections: 20,
    overallRate: RATE,
    duration: SECONDS,
    requests: [{ method: 'GET', setupRequest: req => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % IDENTITIES] as string}` } }) }]
  })
  clearInterval(sampler)
  const end = { rss: rssMiB(pid), fds: openFds(pid), heap: await heapAfterGc(child) }
  const date = new Date().toISOString()
  const report = `## Soak

Command: \`SOAK_SECONDS=${SECONDS} npm run soak\` (bench/soak.ts: ${RATE} req/s for ${SECONDS} s over ${IDENTITIES.toLocaleString('en')} identities in ${PROJECTS} projects; backends: file + Secrets Manager on moto ${moto.version}, caches ttl 5 s and 2,000 entries each, so they churn)
Date: ${date}
Machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}

| requests | 2xx | non-2xx | errors | timeouts | p50 ms | p99 ms | heap after GC start / end MiB | RSS start / end / max MiB | open fds start / end |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| ${result.requests.total} | ${result['2xx']} | ${result.non2xx} | ${result.errors} | ${result.timeouts} | ${result.latency.p50} | ${result.latency.p99} | ${start.heap.toFixed(1)} / ${end.heap.toFixed(1)} | ${start.rss.toFixed(0)} / ${end.rss.toFixed(0)} / ${Math.max(...samples, end.rss).toFixed(0)} | ${start.fds} / ${end.fds} |

Start is measured after a warm-up request for each of the ${IDENTITIES.toLocaleString('en')} identities (the bounded caches and the answer memo are then full).

RSS every 10 s (MiB): ${samples.map(s => s.toFixed(0)).join(', ')}.
`
  writeSection('soak', report)
  process.stdout.write(report)
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) process.exitCode = 1
} finally {
  child.kill('SIGTERM')
  await moto.stop()
}
