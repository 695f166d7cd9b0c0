// One audit line per request: who asked (client address, identity, the token's iat and exp),
// status, entry names and counts, layers read, latency. Never a value or a token.
// The audit line has its own logger, written at info whatever log.level says (log.level warn
// used to drop it), to the service log's stream or to its own destination (log.audit).
import { openSync, closeSync } from 'node:fs'
import { resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { createLogger } from '../logger.js'
import { logDestination } from '../log-stream.js'
import type { Metrics } from '../metrics.js'
import { auditWriter, type AuditAnswer } from '../audit-line.js'

declare module 'fastify' {
  interface FastifyRequest {
    auditAnswer: AuditAnswer | null
    /** Why the request was refused or failed, for the audit line. */
    auditNote: string | null
  }
}

export interface AuditLog {
  logger: Logger
  /** Reopens a file destination (after logrotate moved it: SIGHUP). */
  reopen: () => void
  /** Writes out what is buffered. */
  flush: () => Promise<void>
}

/**
 * log.audit.destination: `log` writes to the service log's stream at info, whatever log.level
 * is, except `silent`, which silences that stream entirely (audit included); `stdout`, `stderr`
 * or a file path (relative to the config file, appended, opened at start-up so a bad path fails
 * start-up) get the audit lines alone, at every log.level including silent.
 */
export function createAuditLog (serviceLog: Logger, destination: string, baseDir: string): AuditLog {
  if (destination === 'log') {
    const logger = serviceLog.child({}, { level: serviceLog.level === 'silent' ? 'silent' : 'info' })
    return { logger, reopen: () => {}, flush: async () => { await new Promise<void>(resolve => { logger.flush(() => resolve()) }) } }
  }
  const file = destination === 'stdout' || destination === 'stderr' ? undefined : resolve(baseDir, destination)
  if (file !== undefined) closeSync(openSync(file, 'a', 0o600))
  const stream = logDestination(file ?? (destination === 'stdout' ? 1 : 2))
  // A failed write must not crash the service; it is said loudly on the service log instead.
  stream.on('error', err => { serviceLog.error({ destination, code: (err as NodeJS.ErrnoException).code }, 'cannot write the audit log') })
  return {
    logger: createLogger('info', stream),
    reopen: () => { if (file !== undefined) stream.reopen() },
    flush: async () => { await new Promise<void>(resolve => { stream.flush(() => resolve()) }) }
  }
}

export interface AuditLogOptions {
  /** Where audit lines go; default: the app's logger at info (log.audit.destination `log`). */
  audit?: Logger
  metrics?: Pick<Metrics, 'request'>
}

/** A verified iat/exp as the line shows it: finite numbers as they are, anything else named, never echoed at length. */
function timeClaim (value: unknown): number | string | undefined {
  if (value === undefined) return undefined
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value)
  return `not a number (${typeof value})`
}

async function auditLog (app: FastifyInstance, { audit, metrics }: AuditLogOptions): Promise<void> {
  const writer = audit ?? (app.log as Logger).child({}, { level: app.log.level === 'silent' ? 'silent' : 'info' })
  app.decorateRequest('auditAnswer', null)
  app.decorateRequest('auditNote', null)
  const write = auditWriter(writer, 'secret request')
  app.addHook('onResponse', (request, reply, done) => {
    metrics?.request(reply.statusCode, reply.elapsedTime / 1000)
    // Claims are present only once the signature verified; an unverified token's claims are not shown.
    const claims = request.claims
    const peer = request.socket.remoteAddress
    const client = request.ip
    write(request.id, {
      status: reply.statusCode,
      latencyMs: Math.round(reply.elapsedTime * 100) / 100,
      // The client as server.trustProxy resolves it; the TCP peer too when that is a proxy.
      client,
      peer: peer === client ? undefined : peer,
      identity: request.identity ?? undefined,
      iat: claims === null ? undefined : timeClaim(claims.iat),
      exp: claims === null ? undefined : timeClaim(claims.exp),
      note: request.auditNote ?? undefined,
      answer: request.auditAnswer
    })
    done()
  })
}

export default fp(auditLog, { name: 'audit-log' })
