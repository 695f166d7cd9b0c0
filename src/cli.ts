#!/usr/bin/env node
// nf-secret-source serve | token | resolve | check | demo
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { backendDefinitions } from '../backends/registry.js'
import { createBackends } from './create-backends.js'
import { loadConfig, type LoadedConfig } from './config/load.js'
import { isValidId, type Identity } from './core/identity.js'
import { createLogger } from './logger.js'
import { packageRoot } from './package-root.js'
import { createResolver } from './resolver.js'
import { serveUntilSignal } from './serve.js'
import { directReader, storeTimeouts } from './server.js'
import { parseDuration, signToken } from './token.js'

const USAGE = `usage: nf-secret-source <command> [options]

  serve   --config FILE                          run the service (production)
  token   --project P --object O --type T        sign a test JWT like Northflank's
          [--secret S | --config FILE] [--ttl 24h]
  resolve --config FILE --project P --object O --type T [--json] [--show-values]
                                                 what an identity would get, and from where
  check   --config FILE                          validate config and reach every store
  demo                                           zero-config demo on examples/secrets

--config may also come from NFSS_CONFIG.`

const OPTIONS = {
  config: { type: 'string' },
  project: { type: 'string' },
  object: { type: 'string' },
  type: { type: 'string' },
  secret: { type: 'string' },
  ttl: { type: 'string' },
  json: { type: 'boolean' },
  'show-values': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

type Flags = ReturnType<typeof parseArgs<{ options: typeof OPTIONS, allowPositionals: true }>>['values']

class UsageError extends Error {}

function requireConfig (flags: Flags): LoadedConfig {
  const file = flags.config ?? (process.env.NFSS_CONFIG || undefined)
  if (file === undefined) throw new UsageError('--config FILE is required (or set NFSS_CONFIG)')
  return loadConfig({ file })
}

function identityFrom (flags: Flags): Identity {
  const identity = { projectId: flags.project, nfObjectId: flags.object, nfObjectType: flags.type ?? 'service' }
  for (const [name, value] of [['--project', identity.projectId], ['--object', identity.nfObjectId], ['--type', identity.nfObjectType]] as const) {
    if (!isValidId(value)) throw new UsageError(`${name} must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without ".."`)
  }
  return identity as Identity
}

async function serve (flags: Flags): Promise<void> {
  const loaded = requireConfig(flags)
  await serveUntilSignal(loaded, createLogger(loaded.config.log.level))
}

async function demo (): Promise<void> {
  const root = packageRoot()
  const secret = randomBytes(32).toString('base64url')
  const loaded = loadConfig({
    baseDir: join(root, 'examples'),
    document: {
      server: { host: '127.0.0.1', port: 8080 },
      ops: { host: '127.0.0.1', port: 9090 },
      auth: { secrets: [secret] },
      backends: [{ name: 'examples', type: 'file', root: './secrets' }]
    }
  })
  const service = await serveUntilSignal(loaded, createLogger('warn'))
  const token = signToken({ projectId: 'demo-project', nfObjectId: 'api', nfObjectType: 'service' }, { secret, ttlSeconds: 3600 })
  process.stdout.write(`
nf-secret-source demo: serving examples/secrets/ on ${service.url}
The JWT secret is random for this run: ${secret}

Fetch the secrets of service "api" in project "demo-project":

  curl -s -H "Authorization: Bearer ${token}" ${service.url}

Health, readiness, store health and Prometheus metrics: ${service.opsUrl}healthz, ${service.opsUrl}readyz, ${service.opsUrl}stores, ${service.opsUrl}metrics

Sign a token for another identity:

  npx nf-secret-source token --project demo-project --object worker --type job --secret ${secret}

`)
}

function token (flags: Flags): void {
  const identity = identityFrom(flags)
  const secret = flags.secret ?? (flags.config !== undefined || (process.env.NFSS_CONFIG ?? '') !== '' ? requireConfig(flags).config.auth.secrets[0] : process.env.NF_JWT_SECRET)
  if (secret === undefined || secret === '') throw new UsageError('token needs --secret, --config FILE or NF_JWT_SECRET')
  process.stdout.write(signToken(identity, { secret, ttlSeconds: parseDuration(flags.ttl ?? '24h') }) + '\n')
}

async function resolve (flags: Flags): Promise<number> {
  const loaded = requireConfig(flags)
  const identity = identityFrom(flags)
  const logger = createLogger('warn')
  const backends = await createBackends(loaded.config.backends, { logger, baseDir: loaded.baseDir, layers: loaded.config.layers }, backendDefinitions)
  try {
    const resolver = createResolver(loaded.config.layers, backends, directReader(storeTimeouts(loaded.config)))
    const { answer, reads } = await resolver.resolve(identity, loaded.config.server.requestTimeoutSeconds * 1000)
    const show = flags['show-values'] === true
    const rows = answer.entries.map(({ entry, source }) => entry.type === 'ENV'
      ? { type: 'ENV', name: entry.key, value: show ? JSON.stringify(entry.value) : '****', ...source }
      : { type: 'FILE', name: entry.path, value: show ? JSON.stringify(entry.data) : '****', encoding: entry.encoding, ...source })
    if (flags.json === true) {
      process.stdout.write(JSON.stringify({ identity, entries: rows, skipped: answer.invalid, reads }, null, 2) + '\n')
    } else {
      for (const r of rows) process.stdout.write(`${r.type.padEnd(4)}  ${r.name}  ${r.value}  <- ${r.layer} / ${r.backend} / ${r.locator}\n`)
      for (const s of answer.invalid) process.stdout.write(`SKIP  ${s.key}: ${s.reason}  <- ${s.source.layer} / ${s.source.backend} / ${s.source.locator}\n`)
      for (const r of reads) process.stdout.write(`read  ${r.layer} / ${r.backend} / ${r.locator}: ${r.found ? `${r.entries} entries` : 'nothing stored'}\n`)
    }
    return loaded.config.strict && answer.invalid.length > 0 ? 1 : 0
  } finally {
    await Promise.allSettled(backends.map(b => b.close()))
  }
}

async function check (flags: Flags): Promise<number> {
  const loaded = requireConfig(flags)
  process.stdout.write(`config ok: ${loaded.config.backends.length} backend(s), layers ${loaded.config.layers.join(' -> ')}\n`)
  const backends = await createBackends(loaded.config.backends, { logger: createLogger('warn'), baseDir: loaded.baseDir, layers: loaded.config.layers }, backendDefinitions)
  let failed = 0
  for (const backend of backends) {
    try {
      await backend.ready(AbortSignal.timeout(loaded.config.ops.readyTimeoutSeconds * 1000))
      process.stdout.write(`ok    ${backend.name} (${backend.type})\n`)
    } catch (err) {
      failed++
      process.stdout.write(`FAIL  ${backend.name} (${backend.type}): ${(err as Error).message}\n`)
    }
  }
  await Promise.allSettled(backends.map(b => b.close()))
  return failed === 0 ? 0 : 1
}

async function main (argv: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true })
  const [command] = positionals
  if (flags.help === true || command === undefined) {
    process.stdout.write(USAGE + '\n')
    return command === undefined && flags.help !== true ? 2 : 0
  }
  switch (command) {
    case 'serve': await serve(flags); return 0
    case 'demo': await demo(); return 0
    case 'token': token(flags); return 0
    case 'resolve': return await resolve(flags)
    case 'check': return await check(flags)
    default: throw new UsageError(`unknown command ${command}`)
  }
}

main(process.argv.slice(2)).then(code => { if (code !== 0) process.exitCode = code }, (err: unknown) => {
  const error = err as Error & { code?: string }
  if (err instanceof UsageError || error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') process.stderr.write(`${error.message}\n\n${USAGE}\n`)
  else if (error.code?.startsWith('NFSS_') === true) process.stderr.write(`${error.message}\n`)
  else process.stderr.write(`${error.stack ?? String(err)}\n`)
  process.exitCode = 2
})
