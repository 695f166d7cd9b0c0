// YAML secret documents keep what was written: no number or boolean rewrites a secret or a mode.
import t from 'tap'
import { parseDocument } from '../../src/core/document.js'
import { readYamlDocument } from '../../src/core/yaml-document.js'

const entriesOf = (text: string): unknown[] => {
  const yaml = readYamlDocument(text)
  if (!yaml.ok) throw new Error(`not YAML at line ${String(yaml.line)}`)
  const parsed = parseDocument(yaml.value)
  if (!parsed.ok) throw new Error(parsed.reason)
  return [...parsed.entries, ...parsed.invalid]
}

t.test('values YAML 1.2 would read as numbers or booleans keep their source text', async t => {
  const entries = entriesOf([
    'PIN: 0123',
    'TOKEN: 12345678901234567890123',
    'VERSION: 1.10',
    'HEX: 0x1F',
    'OCT: 0o17',
    'INF: .inf',
    'FLAG: True',
    'EXP: 1e3',
    'QUOTED: "0123"',
    '/etc/app/port: 08080'
  ].join('\n'))
  t.same(entries, [
    { type: 'ENV', key: 'PIN', value: '0123' },
    { type: 'ENV', key: 'TOKEN', value: '12345678901234567890123' },
    { type: 'ENV', key: 'VERSION', value: '1.10' },
    { type: 'ENV', key: 'HEX', value: '0x1F' },
    { type: 'ENV', key: 'OCT', value: '0o17' },
    { type: 'ENV', key: 'INF', value: '.inf' },
    { type: 'ENV', key: 'FLAG', value: 'True' },
    { type: 'ENV', key: 'EXP', value: '1e3' },
    { type: 'ENV', key: 'QUOTED', value: '0123' },
    { type: 'FILE', path: '/etc/app/port', data: '08080', encoding: 'utf-8' }
  ])
})

t.test('an anchored number keeps its text where it is aliased too', async t => {
  t.same(entriesOf('A: &pin 0123\nB: *pin'), [{ type: 'ENV', key: 'A', value: '0123' }, { type: 'ENV', key: 'B', value: '0123' }])
})

t.test('null and empty values stay invalid entries, not the text "null"', async t => {
  const entries = entriesOf('N: null\nT: ~\nE:\n') as Array<{ key: string, reason?: string }>
  t.same(entries.map(e => e.key), ['N', 'T', 'E'])
  t.ok(entries.every(e => e.reason !== undefined))
})

t.test('mode spellings: 0400 and 644 are octal, 0o400 and 0x100 are refused (never 256 -> "0256")', async t => {
  const entries = entriesOf([
    '/a: { data: x, mode: 0400 }',
    '/b: { data: x, mode: 644 }',
    '/c: { data: x, mode: 0o400 }',
    '/d: { data: x, mode: 0x100 }'
  ].join('\n')) as Array<{ path?: string, key?: string, permissions?: unknown, reason?: string }>
  t.same(entries.slice(0, 2).map(e => e.permissions), [{ policy: 'AlwaysSet', mode: '0400' }, { policy: 'AlwaysSet', mode: '0644' }])
  t.same(entries.slice(2).map(e => [e.key, e.reason]), [['/c', 'mode is not an octal file mode'], ['/d', 'mode is not an octal file mode']])
})

t.test('permissions.mode: a decimal number stays Northflank\'s decimal; a leading-zero spelling is octal', async t => {
  const entries = entriesOf([
    '/a: { data: x, permissions: { policy: KeepOrSet, mode: 420 } }',
    '/b: { data: x, permissions: { policy: AlwaysSet, mode: 0644 } }',
    '/c: { data: x, permissions: { policy: AlwaysSet, mode: 0o600 } }',
    '/d: { data: x, permissions: { policy: AlwaysSet, mode: "0400" } }'
  ].join('\n')) as Array<{ permissions?: unknown }>
  t.same(entries.map(e => e.permissions), [
    { policy: 'KeepOrSet', mode: 420 },
    { policy: 'AlwaysSet', mode: '0644' },
    { policy: 'AlwaysSet', mode: 384 },
    { policy: 'AlwaysSet', mode: '0400' }
  ])
})

t.test('invalid YAML reports its line only (the message would quote the line, which may hold a secret)', async t => {
  const yaml = readYamlDocument('A: 1\nB: [unclosed\nC: 3')
  t.equal(yaml.ok, false)
  t.same(Object.keys(yaml).sort(), ['line', 'ok'])
  t.same(readYamlDocument('A: 1\nA: 2').ok, false, 'duplicate keys are refused')
})

t.test('alias bombs: more than 100 alias expansions are refused', async t => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
  for (let i = 1; i < 8; i++) lines.push(`${'abcdefgh'[i] as string}: &${'abcdefgh'[i] as string} [${Array(10).fill(`*${'abcdefgh'[i - 1] as string}`).join(', ')}]`)
  t.equal(readYamlDocument(lines.join('\n')).ok, false)
})
