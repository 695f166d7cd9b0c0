#!/usr/bin/env node
// nf-secret-source serve | token | resolve | check | demo
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { backendDefinitions } from '../backends/registry.js'
import { createBackends } from './create-backends.js'
import { loadConfig, type LoadedConfig } from './config/load.js'
import type { Entry, OwnerPolicy, Source } from './core/entries.js'
import { isValidId, type Identity } from './core/identity.js'
import { diffTraces, fingerprinter, octalMode, sameAnswer, traceAnswer, type Aspect, type Compared, type Contribution, type FileAttributes, type Fingerprint, type Trace, type TraceDiff, type TracedEntry } from './core/provenance.js'
import { createLogger } from './logger.js'
import { packageRoot } from './package-root.js'
import { createResolver, planReads, type ReadReport, type Resolution } from './resolver.js'
import { serveUntilSignal } from './serve.js'
import { directReader, storeTimeouts } from './server.js'
import type { Backend, ReadResult } from './store/port.js'
import { parseDuration, signToken } from './token.js'

const USAGE = `usage: nf-secret-source <command> [options]

  serve   --config FILE                          run the service (production)
  token   --project P --object O --type T        sign a test JWT like Northflank's
          [--secret S | --config FILE] [--ttl 24h]
  resolve --config FILE --project P --object O [--type T] [--json] [--show-values]
                                                 what an identity would get, from where, what
                                                 each entry overrode, the reads (values masked)
  resolve --config FILE --diff PROJECT/OBJECT[/TYPE] PROJECT/OBJECT[/TYPE] [--json] [--show-values]
                                                 what two identities get differently (TYPE: service)
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
  diff: { type: 'boolean' },
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
  // --config is read when given, NFSS_CONFIG only when no --secret is (as for the secret itself).
  const configured = flags.config !== undefined || (flags.secret === undefined && (process.env.NFSS_CONFIG ?? '') !== '')
  const auth = configured ? requireConfig(flags).config.auth : undefined
  const secret = flags.secret ?? auth?.secrets[0] ?? process.env.NF_JWT_SECRET
  if (secret === undefined || secret === '') throw new UsageError('token needs --secret, --config FILE or NF_JWT_SECRET')
  const ttlSeconds = parseDuration(flags.ttl ?? '24h')
  // A token the service would refuse (exp too far after iat) is no test token.
  if (auth !== undefined && ttlSeconds > auth.maxTokenLifetimeSeconds) {
    throw new UsageError(`--ttl ${flags.ttl ?? '24h'} is ${ttlSeconds} s, longer than auth.maxTokenLifetimeSeconds (${auth.maxTokenLifetimeSeconds} s): the service would refuse the token`)
  }
  process.stdout.write(signToken(identity, { secret, ttlSeconds }) + '\n')
}

// ---- resolve: what an identity gets and where each entry comes from (issue #18) ----

type ReadRow = ReadReport & { skipped: number }

interface Resolved {
  identity: Identity
  trace: Trace
  reads: ReadRow[]
  /** What the service would answer: 502 when strict and an entry is skipped. */
  status: 200 | 502
}

/** A resolve that cannot answer: names the identity and the read, and lists nothing. */
class ResolveFailed extends Error {
  readonly code: string
  constructor (identity: Identity, err: Error & { code: string, statusCode?: number, layer?: string, backend?: string, locator?: string }) {
    const where = err.layer === undefined ? '' : ` (layer ${err.layer}, backend ${err.backend ?? '?'}, locator ${err.locator ?? '?'})`
    super(`resolve failed for ${identityText(identity)}: ${err.message}${where}\nnothing is listed: the service would answer ${err.statusCode ?? 503} ${err.code}`)
    this.code = err.code
  }
}

const FINGERPRINTS = 'hmac-sha256 of each value (FILE: its bytes) under a key made at random for this run and never shown, cut to 48 bits: equal fingerprints mean equal values, within this output only'

function identityText (identity: Identity): string {
  return `project ${identity.projectId}, object ${identity.nfObjectId}, type ${identity.nfObjectType}`
}

/** PROJECT/OBJECT[/TYPE], TYPE defaulting to service: ids cannot contain "/". */
function identityArg (text: string): Identity {
  const parts = text.split('/')
  if (parts.length < 2 || parts.length > 3) throw new UsageError(`--diff takes two identities PROJECT/OBJECT[/TYPE], got "${text}"`)
  const [projectId, nfObjectId, nfObjectType = 'service'] = parts
  for (const [name, value] of [['project', projectId], ['object', nfObjectId], ['type', nfObjectType]] as const) {
    if (!isValidId(value)) throw new UsageError(`${name} of "${text}" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without ".."`)
  }
  return { projectId, nfObjectId, nfObjectType } as Identity
}

/**
 * Resolves through the service's own resolver (same plan, merge, deadline and errors) with a reader
 * that keeps each store read, then traces those reads; the trace must agree with the answer.
 */
async function resolveTraced (loaded: LoadedConfig, backends: Backend[], identity: Identity, fingerprint: Fingerprint): Promise<Resolved> {
  const { config } = loaded
  const direct = directReader(storeTimeouts(config))
  const kept = new Map<Backend, Map<string, ReadResult>>()
  const resolver = createResolver(config.layers, backends, async (backend, locator) => {
    const read = await direct(backend, locator)
    const byLocator = kept.get(backend) ?? new Map<string, ReadResult>()
    kept.set(backend, byLocator.set(locator, read.result))
    return read
  })
  let resolution: Resolution
  try {
    resolution = await resolver.resolve(identity, config.server.requestTimeoutSeconds * 1000)
  } catch (err) {
    // Store errors and the deadline (all NFSS_ codes, 503 in the service); anything else is a bug, shown as it is.
    if ((err as { code?: unknown }).code?.toString().startsWith('NFSS_') === true) throw new ResolveFailed(identity, err as Error & { code: string })
    throw err
  }
  const traced = planReads(config.layers, backends, identity).map(p => {
    const result = kept.get(p.backend)?.get(p.locator)
    if (result === undefined) throw new Error(`internal: no read kept for ${p.backend.name} ${p.locator}`)
    return { layer: p.layer, backend: p.backend.name, locator: p.locator, result }
  })
  const trace = traceAnswer(traced, fingerprint)
  const answered = JSON.stringify(resolution.answer.entries.map(r => [r.entry, r.source]))
  if (JSON.stringify(trace.entries.map(e => [e.entry, e.source])) !== answered) throw new Error('internal: the traced entries differ from the answer')
  const reads = traced.map(r => {
    const report = resolution.reads.find(x => x.layer === r.layer && x.backend === r.backend && x.locator === r.locator)
    return { layer: r.layer, backend: r.backend, locator: r.locator, found: r.result.found, entries: r.result.found ? r.result.entries.length : 0, skipped: r.result.found ? r.result.invalid.length : 0, cache: report?.cache ?? 'off' }
  })
  return { identity, trace, reads, status: config.strict && trace.invalid.length > 0 ? 502 : 200 }
}

// -- JSON: stable field names; values "****" unless --show-values

function attributeFields (attributes: FileAttributes | undefined): Record<string, unknown> {
  return attributes === undefined ? {} : { encoding: attributes.encoding, permissions: attributes.permissions, owner: attributes.owner, group: attributes.group }
}

function valueOf (entry: Entry): string {
  return entry.type === 'ENV' ? entry.value : entry.data
}

function contributionJson (c: Contribution, show: boolean): Record<string, unknown> {
  return { value: show ? valueOf(c.entry) : '****', fingerprint: c.fingerprint, ...c.source, ...attributeFields(c.attributes) }
}

function entryJson (e: TracedEntry, show: boolean): Record<string, unknown> {
  return {
    type: e.type,
    name: e.name,
    ...contributionJson(e, show),
    overrides: e.overrides.map(o => ({ ...contributionJson(o, show), changed: o.changed }))
  }
}

function resolvedJson (r: Resolved, layers: readonly string[], show: boolean): Record<string, unknown> {
  return {
    identity: r.identity,
    layers,
    status: r.status,
    entries: r.trace.entries.map(e => entryJson(e, show)),
    skipped: r.trace.invalid.map(i => ({ name: i.key, reason: i.reason, ...i.source })),
    reads: r.reads
  }
}

function comparedJson (c: Compared, show: boolean): Record<string, unknown> {
  const side = (e: TracedEntry): Record<string, unknown> => ({ ...contributionJson(e, show), overrides: e.overrides.length })
  return { type: c.type, name: c.name, changed: c.changed, sourceDiffers: c.sourceDiffers, a: side(c.a), b: side(c.b) }
}

// -- human output

/** Pads every column but the last to its widest cell; rows are joined by two spaces. */
function table (rows: string[][], indent = ''): string[] {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map(row => indent + row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd())
}

function sourceText (s: Source): string {
  return `${s.layer} / ${s.backend} / ${s.locator}`
}

function ownerText (name: string, owner: OwnerPolicy | null): string {
  if (owner === null) return `${name} unset`
  return 'value' in owner ? `${name} ${owner.value} (${owner.policy})` : `${name} (${owner.policy})`
}

function attributesText (a: FileAttributes): string {
  const mode = a.permissions === null ? 'mode unset' : `mode ${octalMode(a.permissions.mode)} (${a.permissions.policy})`
  return [`encoding ${a.encoding}`, mode, ownerText('owner', a.owner), ownerText('group', a.group)].join(', ')
}

function changedText (changed: readonly Aspect[], type: Entry['type']): string {
  if (changed.length > 0) return `changed: ${changed.join(', ')}`
  return type === 'ENV' ? 'same value' : 'same content and attributes'
}

function shown (c: Contribution, show: boolean): string {
  return show ? JSON.stringify(valueOf(c.entry)) : c.fingerprint
}

function readRows (reads: readonly ReadRow[], side?: string): string[][] {
  return reads.map(r => [
    ...(side === undefined ? [] : [side]),
    r.layer, r.backend, r.locator, `cache ${r.cache}`,
    r.found ? `${r.entries} ${r.entries === 1 ? 'entry' : 'entries'}${r.skipped > 0 ? `, ${r.skipped} skipped` : ''}` : 'nothing stored'
  ])
}

function answerText (r: Resolved): string {
  const env = r.trace.entries.filter(e => e.type === 'ENV').length
  const skipped = r.trace.invalid.length === 0 ? '' : `, ${r.trace.invalid.length} skipped`
  const strict = r.status === 502 ? ' (strict: true and an entry is skipped: 502 NFSS_INVALID_ENTRIES)' : ''
  return `${r.status}: ${env} ENV, ${r.trace.entries.length - env} FILE${skipped}${strict}`
}

function valuesLine (show: boolean): string {
  return show ? 'values    SHOWN (--show-values); fingerprints compare within this output only' : 'values    masked; hmac: fingerprints are equal for equal values, within this output only'
}

function renderResolved (r: Resolved, layers: readonly string[], show: boolean): string {
  const out = [`identity  ${identityText(r.identity)}`, `layers    ${layers.join(' -> ')}`, valuesLine(show), '']
  // Overrides of the whole listing in one table, so their columns line up across entries.
  const overrides = r.trace.entries.flatMap(e => e.overrides)
  const layerWidth = Math.max(0, ...overrides.map(o => o.source.layer.length))
  const backendWidth = Math.max(0, ...overrides.map(o => o.source.backend.length))
  const overrideRows = r.trace.entries.flatMap(e => e.overrides.map(o => [
    `${o.source.layer.padEnd(layerWidth)} / ${o.source.backend.padEnd(backendWidth)} / ${o.source.locator}`, o.fingerprint,
    [changedText(o.changed, e.type), ...(o.attributes === undefined ? [] : [attributesText(o.attributes)]), ...(show ? [JSON.stringify(valueOf(o.entry))] : [])].join('  ')
  ]))
  const overrideLines = table(overrideRows)
  let next = 0
  if (r.trace.entries.length === 0) out.push('(no entries: the service answers {"secrets":[]})')
  for (const e of r.trace.entries) {
    out.push(`${e.type.padEnd(4)}  ${e.name}  ${shown(e, show)}  <- ${sourceText(e.source)}`)
    if (e.attributes !== undefined) out.push(`        file       ${attributesText(e.attributes)}`)
    e.overrides.forEach((_, i) => out.push(`        ${i === 0 ? 'overrides' : '         '}  ${overrideLines[next++] ?? ''}`))
  }
  if (r.trace.invalid.length > 0) {
    out.push('', 'skipped (held by a store, not served)')
    out.push(...table(r.trace.invalid.map(i => [i.key, i.reason, `<- ${sourceText(i.source)}`]), '  '))
  }
  out.push('', 'reads (resolve reads every store directly: cache off)')
  out.push(...table(readRows(r.reads), '  '))
  out.push('', `answer    ${answerText(r)}`)
  return out.join('\n') + '\n'
}

function renderDiff (a: Resolved, b: Resolved, diff: TraceDiff, show: boolean): string {
  const out = [`A  ${identityText(a.identity)}`, `B  ${identityText(b.identity)}`, valuesLine(show).replace(/^values {4}/, 'values  '), '']
  // One table for every section, so columns line up across the whole diff.
  type Row = string[] | string
  const rows: Row[] = []
  const detail = (c: Contribution, attributes: boolean): string =>
    [...(attributes && c.attributes !== undefined ? [attributesText(c.attributes)] : []), ...(show ? [JSON.stringify(valueOf(c.entry))] : [])].join('  ')
  const last = (...parts: string[]): string => parts.filter(p => p !== '').join('  ')
  const one = (side: string, e: TracedEntry): string[] => [`  ${e.type}`, e.name, side, e.fingerprint, sourceText(e.source), detail(e, true)]
  const pair = (c: Compared, note: string): string[][] => {
    const attributes = c.changed.some(x => x !== 'value')
    return [
      [`  ${c.type}`, c.name, 'A', c.a.fingerprint, sourceText(c.a.source), last(note, detail(c.a, attributes))],
      ['', '', 'B', c.b.fingerprint, sourceText(c.b.source), detail(c.b, attributes)]
    ]
  }
  const section = (title: string, count: number, body: Row[]): void => {
    rows.push(`${title} (${count})`, ...body)
  }
  section('only in A', diff.onlyInA.length, diff.onlyInA.map(e => one('A', e)))
  section('only in B', diff.onlyInB.length, diff.onlyInB.map(e => one('B', e)))
  section('different', diff.different.length, diff.different.flatMap(c => pair(c, changedText(c.changed, c.type) + (c.sourceDiffers ? '; other source' : ''))))
  section('same value, different source', diff.sameValueDifferentSource.length, diff.sameValueDifferentSource.flatMap(c => pair(c, 'other layer or backend')))
  section('same', diff.same.length, diff.same.map(c => [`  ${c.type}`, c.name, 'A=B', c.a.fingerprint, `${c.a.source.layer} / ${c.a.source.backend}`, '']))
  const lines = table(rows.filter((r): r is string[] => typeof r !== 'string'))
  let next = 0
  for (const r of rows) out.push(typeof r === 'string' ? r : lines[next++] ?? '')
  const skipped = [...a.trace.invalid.map(i => ['A', i.key, i.reason, `<- ${sourceText(i.source)}`]), ...b.trace.invalid.map(i => ['B', i.key, i.reason, `<- ${sourceText(i.source)}`])]
  if (skipped.length > 0) out.push('', 'skipped (held by a store, not served)', ...table(skipped, '  '))
  out.push('', 'reads (resolve reads every store directly: cache off)', ...table([...readRows(a.reads, 'A'), ...readRows(b.reads, 'B')], '  '))
  out.push('', `answers A ${answerText(a)}`, `        B ${answerText(b)}`, `        ${sameAnswer(diff) ? 'the same secrets' : 'different secrets'}`)
  return out.join('\n') + '\n'
}

async function resolve (flags: Flags, positionals: string[]): Promise<number> {
  const diffing = flags.diff === true
  if (diffing && (flags.project !== undefined || flags.object !== undefined || flags.type !== undefined)) throw new UsageError('--diff takes its two identities as PROJECT/OBJECT[/TYPE], not --project/--object/--type')
  if (diffing && positionals.length !== 2) throw new UsageError('resolve --diff takes two identities: PROJECT/OBJECT[/TYPE] PROJECT/OBJECT[/TYPE]')
  if (!diffing && positionals.length > 0) throw new UsageError(`resolve takes --project, --object and --type (or --diff A B), not "${positionals.join(' ')}"`)
  const loaded = requireConfig(flags)
  const identities = diffing ? positionals.map(identityArg) : [identityFrom(flags)]
  const logger = createLogger('warn')
  const backends = await createBackends(loaded.config.backends, { logger, baseDir: loaded.baseDir, layers: loaded.config.layers }, backendDefinitions)
  try {
    // One key for the whole run: fingerprints compare across the identities of a diff, never across runs.
    const fingerprint = fingerprinter(randomBytes(32))
    const resolved: Resolved[] = []
    // One after the other: a failure stops before the next identity is read; nothing is printed before all succeed.
    for (const identity of identities) resolved.push(await resolveTraced(loaded, backends, identity, fingerprint))
    const show = flags['show-values'] === true
    const { layers } = loaded.config
    if (!diffing) {
      const [r] = resolved as [Resolved]
      process.stdout.write(flags.json === true ? JSON.stringify({ ...resolvedJson(r, layers, show), fingerprints: FINGERPRINTS }, null, 2) + '\n' : renderResolved(r, layers, show))
      return r.status === 502 ? 1 : 0
    }
    const [a, b] = resolved as [Resolved, Resolved]
    const diff = diffTraces(a.trace, b.trace)
    if (flags.json === true) {
      process.stdout.write(JSON.stringify({
        a: resolvedJson(a, layers, show),
        b: resolvedJson(b, layers, show),
        sameSecrets: sameAnswer(diff),
        onlyInA: diff.onlyInA.map(e => entryJson(e, show)),
        onlyInB: diff.onlyInB.map(e => entryJson(e, show)),
        different: diff.different.map(c => comparedJson(c, show)),
        sameValueDifferentSource: diff.sameValueDifferentSource.map(c => comparedJson(c, show)),
        same: diff.same.map(c => comparedJson(c, show)),
        fingerprints: FINGERPRINTS
      }, null, 2) + '\n')
    } else {
      process.stdout.write(renderDiff(a, b, diff, show))
    }
    return sameAnswer(diff) && a.status === 200 && b.status === 200 ? 0 : 1
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
    case 'resolve': return await resolve(flags, positionals.slice(1))
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
