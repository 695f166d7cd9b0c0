import { createHmac } from 'node:crypto'
import t from 'tap'
import type { Entry, FileEntry } from '../../src/core/entries.js'
import { mergeLayers } from '../../src/core/merge.js'
import { diffTraces, fingerprinter, octalMode, sameAnswer, traceAnswer, type TracedRead } from '../../src/core/provenance.js'

const env = (key: string, value: string): Entry => ({ type: 'ENV', key, value })
const file = (path: string, data: string, more: Partial<FileEntry> = {}): Entry => ({ type: 'FILE', path, data, encoding: 'utf-8', ...more })
const read = (layer: string, backend: string, locator: string, entries: Entry[], invalid: Array<{ key: string, reason: string }> = []): TracedRead =>
  ({ layer, backend, locator, result: { found: true, entries, invalid } })
const missing = (layer: string, backend: string, locator: string): TracedRead => ({ layer, backend, locator, result: { found: false } })

// Readable in assertions: the value itself. The real fingerprinter is tested below.
const plain = (e: Entry): string => e.type === 'ENV' ? `v:${e.value}` : `v:${Buffer.from(e.data, e.encoding === 'base64' ? 'base64' : 'utf8').toString()}`
const src = (layer: string, backend: string, locator: string) => ({ layer, backend, locator })

t.test('three layers override one key: the winner and both overridden entries, least specific first', async t => {
  const trace = traceAnswer([
    read('global', 'files', 'g', [env('LOG_LEVEL', 'info')]),
    read('project', 'files', 'p', [env('LOG_LEVEL', 'debug')]),
    read('object', 'files', 'o', [env('LOG_LEVEL', 'trace')])
  ], plain)
  t.equal(trace.entries.length, 1)
  const [entry] = trace.entries
  t.match(entry, { type: 'ENV', name: 'LOG_LEVEL', source: src('object', 'files', 'o'), fingerprint: 'v:trace', entry: env('LOG_LEVEL', 'trace') })
  t.same(entry?.overrides.map(o => [o.source, o.fingerprint, o.changed]), [
    [src('global', 'files', 'g'), 'v:info', ['value']],
    [src('project', 'files', 'p'), 'v:debug', ['value']]
  ])
  t.notOk('attributes' in (entry as object), 'ENV entries have no attributes')
})

t.test('two backends in one layer: the later backend wins, the earlier is listed as overridden', async t => {
  const trace = traceAnswer([
    read('object', 'vault', 'northflank/p/api', [env('TOKEN', 'from-vault'), env('ONLY_VAULT', 'x')]),
    read('object', 'ssm', '/northflank/p/api', [env('TOKEN', 'from-ssm')])
  ], plain)
  t.same(trace.entries.map(e => [e.name, e.source.backend, e.overrides.map(o => o.source.backend)]), [
    ['ONLY_VAULT', 'vault', []],
    ['TOKEN', 'ssm', ['vault']]
  ])
})

t.test('a FILE path overridden with different attributes: attributes of both, and what changed', async t => {
  const trace = traceAnswer([
    read('project', 'files', 'p', [file('/etc/tls/key.pem', 'a2V5', { encoding: 'base64', permissions: { policy: 'KeepOrSet', mode: 420 }, owner: { policy: 'AlwaysSetInherited' } })]),
    read('object', 'files', 'o', [file('/etc/tls/key.pem', 'key', { permissions: { policy: 'AlwaysSet', mode: '0400' }, owner: { policy: 'AlwaysSetExplicit', value: '1000' }, group: { policy: 'AlwaysSetExplicit', value: '1000' } })])
  ], plain)
  const [entry] = trace.entries
  t.same(entry?.attributes, { encoding: 'utf-8', permissions: { policy: 'AlwaysSet', mode: '0400' }, owner: { policy: 'AlwaysSetExplicit', value: '1000' }, group: { policy: 'AlwaysSetExplicit', value: '1000' } })
  const [overridden] = entry?.overrides ?? []
  t.same(overridden?.attributes, { encoding: 'base64', permissions: { policy: 'KeepOrSet', mode: 420 }, owner: { policy: 'AlwaysSetInherited' }, group: null })
  // base64 "a2V5" is the bytes "key": the content did not change, only how it is stored and the attributes.
  t.equal(overridden?.fingerprint, entry?.fingerprint)
  t.same(overridden?.changed, ['encoding', 'permissions', 'owner', 'group'])
})

t.test('modes are compared as octal: "400", "0400" and 256 are one mode', async t => {
  t.same([octalMode('400'), octalMode('0400'), octalMode(256), octalMode(0o644)], ['0400', '0400', '0400', '0644'])
  const trace = traceAnswer([
    read('project', 'files', 'p', [file('/f', 'x', { permissions: { policy: 'AlwaysSet', mode: 256 } })]),
    read('object', 'files', 'o', [file('/f', 'x', { permissions: { policy: 'AlwaysSet', mode: '400' } })])
  ], plain)
  t.same(trace.entries[0]?.overrides[0]?.changed, [])
})

t.test('an identical value overridden: same fingerprint, nothing changed', async t => {
  const fp = fingerprinter(Buffer.alloc(32, 7))
  const trace = traceAnswer([
    read('global', 'files', 'g', [env('REGION', 'eu-west-1')]),
    read('object', 'files', 'o', [env('REGION', 'eu-west-1')])
  ], fp)
  const [entry] = trace.entries
  t.equal(entry?.overrides[0]?.fingerprint, entry?.fingerprint)
  t.same(entry?.overrides[0]?.changed, [])
  t.equal(entry?.source.layer, 'object')
})

t.test('invalid entries are listed with their reason and source; reads with nothing stored add nothing', async t => {
  const trace = traceAnswer([
    missing('global', 'files', 'g'),
    read('project', 'files', 'p', [env('OK', '1')], [{ key: 'bad-name', reason: 'not a valid environment variable name' }]),
    read('object', 'vault', 'o', [], [{ key: 'etc/relative', reason: 'file path is not absolute' }])
  ], plain)
  t.same(trace.invalid, [
    { key: 'bad-name', reason: 'not a valid environment variable name', source: src('project', 'files', 'p') },
    { key: 'etc/relative', reason: 'file path is not absolute', source: src('object', 'vault', 'o') }
  ])
  t.same(trace.entries.map(e => e.name), ['OK'])
})

t.test('the winners are exactly what mergeLayers answers, in the same order', async t => {
  const reads = [
    read('global', 'a', 'g', [env('X', 'global-a'), env('ONLY_GLOBAL', '1'), file('/f', 'global'), file('/A', '1'), env('A', '2')]),
    read('global', 'b', 'g', [env('X', 'global-b'), env('b', ''), env('_a', '')]),
    missing('project', 'b', 'p'),
    read('project', 'a', 'p', [env('X', 'project-a'), env('Y', 'project-a'), file('/f', 'project'), file('/a', '')]),
    read('object', 'a', 'o', [env('Y', 'object-a'), env('B', '')]),
    read('object', 'b', 'o', [env('Y', 'object-b'), file('/z', '')])
  ]
  const merged = mergeLayers(reads.flatMap(r => r.result.found ? [{ layer: r.layer, backend: r.backend, locator: r.locator, entries: [...r.result.entries] }] : []))
  const trace = traceAnswer(reads, plain)
  t.same(trace.entries.map(e => ({ entry: e.entry, source: e.source })), merged)
  t.same(trace.entries.find(e => e.name === 'X')?.overrides.map(o => `${o.source.layer}/${o.source.backend}`), ['global/a', 'global/b'])
})

t.test('fingerprints: keyed HMAC-SHA256 of the bytes, 48 bits; another key gives unrelated fingerprints', async t => {
  const key = Buffer.alloc(32, 1)
  const fp = fingerprinter(key)
  t.equal(fp(env('PIN', '1234')), `hmac:${createHmac('sha256', key).update('1234').digest('hex').slice(0, 12)}`)
  t.match(fp(env('PIN', '1234')), /^hmac:[0-9a-f]{12}$/)
  t.not(fp(env('PIN', '1234')), fp(env('PIN', '1235')))
  t.not(fingerprinter(Buffer.alloc(32, 2))(env('PIN', '1234')), fp(env('PIN', '1234')), 'a fingerprint compares within one key (one run) only')
  t.equal(fp(file('/f', 'hello')), fp(file('/f', 'aGVsbG8=', { encoding: 'base64' })), 'FILE: the bytes the file will hold')
  t.equal(fp(env('A', 'hello')), fp(file('/f', 'hello')), 'the key is not part of the fingerprint (equal values across names compare equal)')
})

t.test('diff: only in A, only in B, different, same value from another source, same', async t => {
  const fp = fingerprinter(Buffer.alloc(32, 3))
  const a = traceAnswer([
    read('global', 'files', 'g', [env('REGION', 'eu'), env('LOG_LEVEL', 'info'), file('/etc/ca.pem', 'ca')]),
    read('object', 'files', 'northflank/pa/api', [env('ONLY_A', '1'), env('DATABASE_URL', 'pg://a'), file('/etc/key', 'k', { permissions: { policy: 'AlwaysSet', mode: '0400' } })])
  ], fp)
  const b = traceAnswer([
    read('global', 'files', 'g', [env('REGION', 'eu'), env('LOG_LEVEL', 'info'), file('/etc/ca.pem', 'ca')]),
    read('object', 'files', 'northflank/pb/api', [env('DATABASE_URL', 'pg://b'), env('LOG_LEVEL', 'info'), file('/etc/key', 'k', { permissions: { policy: 'AlwaysSet', mode: '0440' } }), file('/only/b', 'x')])
  ], fp)
  const diff = diffTraces(a, b)
  t.same(diff.onlyInA.map(e => e.name), ['ONLY_A'])
  t.same(diff.onlyInB.map(e => e.name), ['/only/b'])
  t.same(diff.different.map(c => [c.name, c.changed, c.sourceDiffers]), [['DATABASE_URL', ['value'], false], ['/etc/key', ['permissions'], false]])
  t.same(diff.sameValueDifferentSource.map(c => [c.name, c.a.source.layer, c.b.source.layer]), [['LOG_LEVEL', 'global', 'object']])
  t.same(diff.same.map(c => c.name), ['REGION', '/etc/ca.pem'])
  t.notOk(sameAnswer(diff))
  t.ok(sameAnswer(diffTraces(a, a)))
  t.ok(sameAnswer({ ...diffTraces(a, a), sameValueDifferentSource: diff.sameValueDifferentSource }), 'another source alone is the same answer')
})
