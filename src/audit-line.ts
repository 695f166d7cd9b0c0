// The audit line's JSON, built from parts. What is fixed per answer and set of reads (the
// identity, entry names and counts, the layers) is serialised once and reused while the same
// object comes back (the resolver hands out the very same summary for a warm identity); per
// request only numbers and short strings are added. pino still makes the line's head (level,
// time, bindings) and tail (msg) as for any of its lines, and the line goes to the logger's own
// stream. Through pino's generic object walk (JSON.stringify of the nested object, a string per
// layer) the audit line was the largest cost of a warm request after the JWT check
// (bench/results.md).
import { pino, type Logger } from 'pino'
import type { Identity } from './core/identity.js'
import type { ReadReport, ResolutionSummary } from './resolver.js'

export type AuditAnswer = ResolutionSummary

export interface AuditRecord {
  status: number
  latencyMs: number
  client: string
  peer: string | undefined
  identity: Identity | undefined
  iat: number | string | undefined
  exp: number | string | undefined
  note: string | undefined
  answer: AuditAnswer | null
}

/** The `audit` object of the line, as the plain object JSON.stringify would be given (the reference shape). */
export function auditObject (r: AuditRecord): Record<string, unknown> {
  return {
    status: r.status,
    latencyMs: r.latencyMs,
    client: r.client,
    peer: r.peer,
    iat: r.iat,
    exp: r.exp,
    note: r.note,
    // Next to the answer: for a warm identity the two are one cached part of the line.
    identity: r.identity,
    ...(r.answer === null
      ? {}
      : {
          envCount: r.answer.env.length,
          fileCount: r.answer.files.length,
          env: r.answer.env,
          files: r.answer.files,
          skipped: r.answer.skipped,
          layers: layerNames(r.answer.reads)
        })
  }
}

function layerNames (reads: readonly ReadReport[]): string[] {
  return reads.map(r => `${r.layer}:${r.backend}:${r.found ? r.entries : 'none'}:${r.cache}`)
}

/**
 * Per answer summary, its part of the line (with the identity it is for), kept on the summary
 * itself under a symbol of this module (a WeakMap would cost a lookup per request; the resolver
 * hands out the same summary while the answer and its reads are the same, and drops it with them).
 */
const ANSWER_JSON = Symbol('nfss.audit.answerJson')

function identityJson (id: Identity): string {
  return `,"identity":{"projectId":${JSON.stringify(id.projectId)},"nfObjectId":${JSON.stringify(id.nfObjectId)},"nfObjectType":${JSON.stringify(id.nfObjectType)}}`
}

function answerJson (a: AuditAnswer): string {
  return `,"envCount":${a.env.length},"fileCount":${a.files.length},"env":${JSON.stringify(a.env)},"files":${JSON.stringify(a.files)},"skipped":${scalar(a.skipped)},"layers":${JSON.stringify(layerNames(a.reads))}`
}

function sameIdentity (a: Identity, b: Identity): boolean {
  return a.projectId === b.projectId && a.nfObjectId === b.nfObjectId && a.nfObjectType === b.nfObjectType
}

/** The identity and answer parts: cached on the summary when the request's identity is the summary's (always, from the resolver). */
function identityAndAnswerJson (id: Identity | undefined, a: AuditAnswer | null): string {
  if (a === null) return id === undefined ? '' : identityJson(id)
  if (id === undefined) return answerJson(a)
  if (!sameIdentity(id, a.identity)) return identityJson(id) + answerJson(a)
  const holder = a as AuditAnswer & { [ANSWER_JSON]?: string }
  return holder[ANSWER_JSON] ??= identityJson(a.identity) + answerJson(a)
}

/** A number or a string as JSON.stringify writes it (non-finite numbers are null there). */
function scalar (value: number | string): string {
  return typeof value === 'number' ? (Number.isFinite(value) ? String(value) : 'null') : JSON.stringify(value)
}

/** Exactly JSON.stringify(auditObject(r)) (test/audit-line.test.ts checks it), built from cached parts. */
export function auditJson (r: AuditRecord): string {
  let json = `{"status":${scalar(r.status)},"latencyMs":${scalar(r.latencyMs)},"client":${JSON.stringify(r.client)}`
  if (r.peer !== undefined) json += `,"peer":${JSON.stringify(r.peer)}`
  if (r.iat !== undefined) json += `,"iat":${scalar(r.iat)}`
  if (r.exp !== undefined) json += `,"exp":${scalar(r.exp)}`
  if (r.note !== undefined) json += `,"note":${JSON.stringify(r.note)}`
  json += identityAndAnswerJson(r.identity, r.answer)
  return `${json}}`
}

const MARK = 'nfss-audit-mark'
const TIME_MARK = 'nfss-time-mark'

/**
 * Writes `{reqId, audit}` lines at info on `logger`. The head and tail come from pino itself (a
 * probe line with markers, made once), so the line is what logger.info would write. A logger
 * whose lines pino changes per call (mixin, hooks, formatters.log, nestedKey, a msg prefix, a
 * stream that wants metadata) gets logger.info itself.
 */
export function auditWriter (logger: Logger, msg: string): (reqId: string, record: AuditRecord) => void {
  const s = pino.symbols as typeof pino.symbols & { msgPrefixSym: symbol }
  const internals = logger as unknown as Record<symbol, any>
  const stream = internals[s.streamSym] as { write: (line: string) => void, [k: symbol]: unknown } | undefined
  const perCall = internals[s.mixinSym] !== undefined || internals[s.hooksSym]?.logMethod !== undefined || internals[s.hooksSym]?.streamWrite !== undefined ||
    internals[s.formattersSym]?.log !== undefined || (internals[s.nestedKeySym] ?? null) !== null || internals[s.msgPrefixSym] !== undefined ||
    stream === undefined || stream[s.needsMetadataGsym] === true ||
    ['reqId', 'audit'].some(key => internals[s.serializersSym]?.[key] !== undefined || internals[s.stringifiersSym]?.[key] !== undefined)
  if (perCall) return (reqId, record) => { logger.info({ reqId, audit: auditObject(record) }, msg) }
  const probe = internals[s.asJsonSym]({ [MARK]: 0 }, msg, logger.levels.values.info, TIME_MARK) as string
  const [head, afterTime] = probe.split(TIME_MARK) as [string, string | undefined]
  const [bindings, tail] = (afterTime ?? '').split(`,"${MARK}":0`) as [string, string | undefined]
  if (afterTime === undefined || tail === undefined) return (reqId, record) => { logger.info({ reqId, audit: auditObject(record) }, msg) }
  const time = internals[s.timeSym] as () => string
  return (reqId, record) => {
    if (!logger.isLevelEnabled('info')) return
    stream.write(`${head}${time()}${bindings},"reqId":${JSON.stringify(reqId)},"audit":${auditJson(record)}${tail}`)
  }
}
