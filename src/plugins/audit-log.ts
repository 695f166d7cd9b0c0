// One audit line per request: identity, status, entry names and counts, layers read,
// latency. Never a value or a token.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from '../metrics.js'
import type { ReadReport } from '../resolver.js'

export interface AuditAnswer {
  env: string[]
  files: string[]
  skipped: number
  reads: ReadReport[]
}

declare module 'fastify' {
  interface FastifyRequest {
    auditAnswer: AuditAnswer | null
    /** Why the request was refused or failed, for the audit line. */
    auditNote: string | null
  }
}

async function auditLog (app: FastifyInstance, { metrics }: { metrics?: Pick<Metrics, 'request'> }): Promise<void> {
  app.decorateRequest('auditAnswer', null)
  app.decorateRequest('auditNote', null)
  app.addHook('onResponse', (request, reply, done) => {
    metrics?.request(reply.statusCode, reply.elapsedTime / 1000)
    const answer = request.auditAnswer
    request.log.info({
      audit: {
        status: reply.statusCode,
        latencyMs: Math.round(reply.elapsedTime * 100) / 100,
        identity: request.identity ?? undefined,
        note: request.auditNote ?? undefined,
        ...(answer === null
          ? {}
          : {
              envCount: answer.env.length,
              fileCount: answer.files.length,
              env: answer.env,
              files: answer.files,
              skipped: answer.skipped,
              layers: answer.reads.map(r => `${r.layer}:${r.backend}:${r.found ? r.entries : 'none'}:${r.cache}`)
            })
      }
    }, 'secret request')
    done()
  })
}

export default fp(auditLog, { name: 'audit-log' })
