// The audit line's JSON is built from cached parts (src/audit-line.ts); it must be exactly what
// JSON.stringify writes for the plain object, and the line exactly what pino's logger.info writes.
import fc from 'fast-check'
import { pino } from 'pino'
import t from 'tap'
import { auditJson, auditObject, auditWriter, type AuditRecord } from '../src/audit-line.js'
import { capturingLogger, withoutTime } from './helpers/logger.js'

const text = fc.string({ unit: 'binary', maxLength: 12 })
const scalar = fc.oneof(fc.integer(), fc.double(), text)
const report = fc.record({ layer: text, backend: text, locator: text, found: fc.boolean(), entries: fc.nat(), cache: fc.constantFrom('off', 'hit', 'miss', 'coalesced', 'stale' as const) })
const identity = fc.record({ projectId: text, nfObjectId: text, nfObjectType: text })
const answer = fc.record({ identity, env: fc.array(text, { maxLength: 4 }), files: fc.array(text, { maxLength: 4 }), skipped: fc.nat(), reads: fc.array(report, { maxLength: 4 }) })
const record: fc.Arbitrary<AuditRecord> = fc.record({
  status: fc.integer({ min: 100, max: 599 }),
  latencyMs: fc.double({ min: 0, max: 1e5, noNaN: true }),
  client: text,
  peer: fc.option(text, { nil: undefined }),
  identity: fc.option(identity, { nil: undefined }),
  iat: fc.option(scalar, { nil: undefined }),
  exp: fc.option(scalar, { nil: undefined }),
  note: fc.option(text, { nil: undefined }),
  answer: fc.option(answer, { nil: null }),
  // Mostly the answer's own identity (as the resolver gives it), an equal copy, or another one.
  same: fc.constantFrom('same', 'copy', 'other')
}).map(({ same, ...r }) => r.answer === null || same === 'other' ? r : { ...r, identity: same === 'same' ? r.answer.identity : { ...r.answer.identity } })

t.test('auditJson is JSON.stringify of the plain audit object, for any record (escapes, non-finite numbers, absent fields)', async t => {
  fc.assert(fc.property(record, r => auditJson(r) === JSON.stringify(auditObject(r))), { numRuns: 2000 })
  t.pass('2,000 records')
})

t.test('the cached parts follow the objects: a new answer or new reads give their own names', async t => {
  const reads = [{ layer: 'global', backend: 'files', locator: 'x', found: true, entries: 1, cache: 'hit' as const }]
  const id = { projectId: 'p', nfObjectId: 'o', nfObjectType: 'service' }
  const base: AuditRecord = { status: 200, latencyMs: 1, client: '::1', peer: undefined, identity: id, iat: undefined, exp: undefined, note: undefined, answer: { identity: id, env: ['A'], files: [], skipped: 0, reads } }
  t.equal(auditJson(base), JSON.stringify(auditObject(base)))
  const changed: AuditRecord = { ...base, answer: { identity: id, env: ['B'], files: ['/f'], skipped: 1, reads: [{ ...reads[0]!, cache: 'miss' }] } }
  t.equal(auditJson(changed), JSON.stringify(auditObject(changed)), 'not the first answer\'s cached names')
  const otherIdentity: AuditRecord = { ...base, identity: { ...id, nfObjectId: 'other' } }
  t.equal(auditJson(otherIdentity), JSON.stringify(auditObject(otherIdentity)), 'the request\'s identity, not the one cached with the answer')
  t.equal(auditJson(base), JSON.stringify(auditObject(base)), 'and the cached part is still the answer\'s own')
})

t.test('the line is what logger.info writes (level, bindings, reqId, audit, msg), for plain and child loggers', async t => {
  const r: AuditRecord = { status: 401, latencyMs: 0.25, client: '203.0.113.7', peer: '127.0.0.1', identity: undefined, iat: undefined, exp: undefined, note: 'FAST_JWT_INVALID_SIGNATURE: "quoted"\n', answer: null }
  for (const [name, make] of [['service logger', (l: pino.Logger) => l], ['audit child at info', (l: pino.Logger) => l.child({ listener: 'public' }, { level: 'info' })]] as const) {
    const fast = capturingLogger('info')
    const slow = capturingLogger('info')
    auditWriter(make(fast.logger), 'secret request')('req-7', r)
    make(slow.logger).info({ reqId: 'req-7', audit: auditObject(r) }, 'secret request')
    t.same(withoutTime(fast.lines()), withoutTime(slow.lines()), name)
    t.equal(fast.lines().replace(/"time":\d+/, ''), slow.lines().replace(/"time":\d+/, ''), `${name}: byte for byte, but the time`)
  }
})

t.test('a logger whose lines pino changes per call (a mixin) gets logger.info itself; a silent one nothing', async t => {
  const r: AuditRecord = { status: 200, latencyMs: 1, client: '::1', peer: undefined, identity: undefined, iat: undefined, exp: undefined, note: undefined, answer: null }
  const lines: string[] = []
  const sink = { write: (line: string) => { lines.push(line) } }
  auditWriter(pino({ mixin: () => ({ extra: 1 }) }, sink), 'secret request')('req-1', r)
  t.match(JSON.parse(lines[0] as string), { extra: 1, reqId: 'req-1', audit: { status: 200 } }, 'the mixin is applied')
  auditWriter(pino({ level: 'silent' }, sink), 'secret request')('req-2', r)
  auditWriter(pino({ level: 'warn' }, sink), 'secret request')('req-3', r)
  t.equal(lines.length, 1, 'nothing below the logger\'s level')
})
