// The audit line (issue 15, item 5): one per request, written whatever log.level is, with the
// client address (through server.trustProxy) and the token's iat and exp; never a value or a
// token. log.level silent silences the service log's stream, audit included; an audit line with
// its own destination (log.audit.destination) is written at every level, silent too.
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { createAuditLog } from '../src/plugins/audit-log.js'
import { capturingLogger } from './helpers/logger.js'
import { startTestService } from './helpers/service.js'

const dir = await mkdtemp(join(tmpdir(), 'nfss-audit-'))
await mkdir(join(dir, 'secrets/northflank/proj'), { recursive: true })
await writeFile(join(dir, 'secrets/northflank/proj/api.yaml'), 'API_KEY: audit-must-not-show-this\n/etc/app/key.pem: also-not-this\n')
const api = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' }
const backends = [{ name: 'files', type: 'file', root: './secrets' }]
const CLIENT = '203.0.113.77'
const ISSUED = Math.floor(Date.now() / 1000) - 60

interface Line { msg: string, level: number, reqId?: string, audit?: Record<string, any> }
const parse = (text: string): Line[] => text.split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Line)
const auditLines = (text: string): Line[] => parse(text).filter(l => l.msg === 'secret request')

/** Starts a service at `level`, makes one answered and one refused request through a simulated proxy. */
async function twoRequests (t: Test, level: string, audit?: Record<string, unknown>): Promise<{ log: string, token: string }> {
  const { logger, lines } = capturingLogger(level)
  const svc = await startTestService({
    server: { host: '127.0.0.1', port: 0, trustProxy: ['127.0.0.1'] },
    log: { level, ...(audit === undefined ? {} : { audit }) },
    backends
  }, { logger, baseDir: dir })
  const token = svc.token(api, { issuedAt: ISSUED, ttlSeconds: 3600 })
  t.equal((await fetch(svc.url, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': CLIENT } })).status, 200)
  t.equal((await fetch(svc.url, { headers: { authorization: `Bearer ${token.slice(0, -2)}xx`, 'x-forwarded-for': CLIENT } })).status, 401)
  await svc.close()
  return { log: lines(), token }
}

function checkAuditLines (t: Test, text: string, token: string): void {
  const [answered, refused] = auditLines(text)
  t.match(answered, {
    level: 30,
    reqId: String,
    audit: { status: 200, client: CLIENT, peer: '127.0.0.1', iat: ISSUED, exp: ISSUED + 3600, identity: api, env: ['API_KEY'], files: ['/etc/app/key.pem'] }
  }, 'the answered request: address, iat, exp, identity, names')
  t.match(refused, { audit: { status: 401, client: CLIENT, note: /signature/ } }, 'the refused request: address and why')
  t.equal(refused?.audit?.iat, undefined, 'an unverified token\'s claims are not shown')
  t.notMatch(text, token.split('.')[2] as string, 'no token')
  t.notMatch(text, token.split('.')[1] as string, 'not even its payload')
  t.notMatch(text, 'audit-must-not-show-this', 'no value')
  t.notMatch(text, 'also-not-this', 'no file data')
}

for (const level of ['warn', 'error', 'fatal']) {
  t.test(`audit-at-${level}: log.level ${level} still writes one audit line per request, with address, iat and exp`, async t => {
    const { log, token } = await twoRequests(t, level)
    t.equal(auditLines(log).length, 2, 'one line per request')
    checkAuditLines(t, log, token)
    t.notOk(parse(log).some(l => l.msg !== 'secret request' && l.level < { warn: 40, error: 50, fatal: 60 }[level]!), `the rest of the log keeps its level (${level})`)
  })
}

t.test('audit-at-silent: log.level silent writes nothing to the service log, audit included', async t => {
  const { log } = await twoRequests(t, 'silent')
  t.equal(log, '')
})

t.test('audit-to-file: log.audit.destination a file gets the audit lines alone, at every level, silent too', async t => {
  for (const level of ['silent', 'warn', 'info']) {
    const file = join(dir, `audit-${level}.log`)
    const { log, token } = await twoRequests(t, level, { destination: `audit-${level}.log` }) // relative to the config folder
    const text = await eventually(async () => await readFile(file, 'utf8'), s => auditLines(s).length === 2)
    t.equal(auditLines(text).length, 2, `${level}: two audit lines in the file`)
    t.equal(parse(text).length, 2, `${level}: nothing else in the file`)
    checkAuditLines(t, text, token)
    t.equal(auditLines(log).length, 0, `${level}: no audit line in the service log`)
  }
})

t.test('an audit file that cannot be opened fails start-up', async t => {
  await t.rejects(startTestService({ log: { audit: { destination: 'no/such/dir/audit.log' } }, backends }, { baseDir: dir }), { code: 'ENOENT' })
})

t.test('audit-to-file: reopen() (SIGHUP under serve) starts a new file after logrotate moved the old one', async t => {
  const { logger } = capturingLogger('silent')
  const audit = createAuditLog(logger, 'rotated.log', dir)
  audit.logger.info({ audit: { n: 1 } }, 'secret request')
  await eventually(async () => await readFile(join(dir, 'rotated.log'), 'utf8'), s => s.includes('"n":1'))
  await rename(join(dir, 'rotated.log'), join(dir, 'rotated.log.1'))
  audit.reopen()
  audit.logger.info({ audit: { n: 2 } }, 'secret request')
  const fresh = await eventually(async () => await readFile(join(dir, 'rotated.log'), 'utf8').catch(() => ''), s => s.includes('"n":2'))
  t.match(fresh, '"n":2', 'the new file gets the next line')
  t.notMatch(await readFile(join(dir, 'rotated.log.1'), 'utf8'), '"n":2', 'the rotated one does not')
  await audit.flush()
})

async function eventually (read: () => Promise<string>, done: (s: string) => boolean): Promise<string> {
  const deadline = Date.now() + 5000
  for (;;) {
    const text = await read()
    if (done(text) || Date.now() > deadline) return text
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
