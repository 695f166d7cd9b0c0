// No route of nf-secret-source takes a body: Northflank sends a plain GET, and so do probes and
// Prometheus on the ops port. A request that announces one (Content-Length above 0, or any
// Transfer-Encoding) is refused with 400 before any token work, and its connection is closed.
// Answering it and keeping the connection let a client get its 401 at once and then hold the
// connection open for minutes, dripping a 100 MB body one byte at a time (issue 15).
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { BodyNotAllowed } from '../errors.js'

export function announcesBody (headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0)
}

async function refuseBody (app: FastifyInstance): Promise<void> {
  // On the public app the audit line says why; the ops app has no audit line.
  const audited = app.hasRequestDecorator('auditNote')
  app.addHook('onRequest', (request, reply, done) => {
    if (!announcesBody(request.headers)) {
      done()
      return
    }
    const err = new BodyNotAllowed()
    if (audited) request.auditNote = err.code
    // Answered here, not through the error handler, so both listeners answer alike.
    // Connection: close makes node end the socket once the answer is written, body or not.
    void reply.code(400).header('connection', 'close').send({ error: 'Bad Request', code: err.code, message: err.message })
  })
}

export default fp(refuseBody, { name: 'refuse-body', fastify: '5.x' })
