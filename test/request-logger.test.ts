// request.log is made on first use (src/request-logger.ts): a request that logs writes the line
// pino's child would have written, with its reqId; one that logs nothing makes no child.
import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../src/logger.js'
import { RequestLogger } from '../src/request-logger.js'
import { capturingLogger, withoutTime } from './helpers/logger.js'
import { startTestService } from './helpers/service.js'

t.test('no child until something is logged; then the same line as pino\'s child, bindings and redaction included', async t => {
  const lazy = capturingLogger('info')
  const eager = capturingLogger('info')
  let children = 0
  const parent = lazy.logger
  const child = parent.child.bind(parent)
  parent.child = ((bindings, options) => { children++; return child(bindings, options) }) as typeof parent.child
  const requestLog = new RequestLogger(parent, { reqId: 'req-7' }, {})
  t.equal(requestLog.level, 'info', 'the level is read without a child')
  requestLog.debug({ detail: 'below the level' }, 'not written')
  t.equal(children, 1, 'a call at any level makes the child once')
  requestLog.warn({ reason: 'x', authorization: 'Bearer secret-token' }, 'token refused')
  requestLog.error('plain message %s', 'with an argument')
  t.equal(children, 1, 'and only once')
  const reference = eager.logger.child({ reqId: 'req-7' }, {})
  reference.warn({ reason: 'x', authorization: 'Bearer secret-token' }, 'token refused')
  reference.error('plain message %s', 'with an argument')
  t.same(lazy.lines().trim().split('\n').map(withoutTime), eager.lines().trim().split('\n').map(withoutTime))
  t.notMatch(lazy.lines(), 'secret-token')
})

t.test('an unused request logger makes no child', async t => {
  const { logger } = capturingLogger('info')
  let children = 0
  const child = logger.child.bind(logger)
  logger.child = ((bindings, options) => { children++; return child(bindings, options) }) as typeof logger.child
  const requestLog = new RequestLogger(logger, { reqId: 'req-1' }, {})
  t.equal(requestLog.level, 'info')
  t.equal(children, 0)
})

t.test('in the service, a refused token\'s warning carries the reqId its audit line has', async t => {
  const chunks: string[] = []
  const logger = createLogger('info', new Writable({ write (chunk, _enc, done) { chunks.push(String(chunk)); done() } }))
  const svc = await startTestService({ backends: [{ name: 'files', type: 'file', root: '.' }] }, { logger })
  t.teardown(svc.close)
  const refused = await fetch(svc.url, { headers: { authorization: 'Bearer a.b.c' } })
  t.equal(refused.status, 401)
  await new Promise(resolve => setTimeout(resolve, 50))
  const lines = chunks.join('').trim().split('\n').map(l => JSON.parse(l) as { msg: string, reqId?: string, audit?: { status: number } })
  const warning = lines.find(l => l.msg === 'token refused')
  const audit = lines.find(l => l.audit?.status === 401)
  t.ok(warning?.reqId, 'the warning has a reqId')
  t.equal(warning?.reqId, audit?.reqId, 'the same as its audit line')
})
