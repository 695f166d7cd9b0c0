import t from 'tap'
import { parse } from 'yaml'
import { modeShorthand, ownerPolicy, parseDocument } from '../../src/core/document.js'

t.test('ENV values: strings as they are, numbers and booleans as strings', async t => {
  const result = parseDocument(parse('A: text\nB: 42\nC: true\nD: 1.5\nE: ""\n'))
  t.same(result, {
    ok: true,
    invalid: [],
    entries: [
      { type: 'ENV', key: 'A', value: 'text' },
      { type: 'ENV', key: 'B', value: '42' },
      { type: 'ENV', key: 'C', value: 'true' },
      { type: 'ENV', key: 'D', value: '1.5' },
      { type: 'ENV', key: 'E', value: '' }
    ]
  })
})

t.test('FILE shorthand: a text value is a utf-8 file', async t => {
  t.same(parseDocument({ '/etc/app/config.json': '{"debug": false}' }), {
    ok: true, invalid: [], entries: [{ type: 'FILE', path: '/etc/app/config.json', data: '{"debug": false}', encoding: 'utf-8' }]
  })
})

t.test('FILE attributes map to Northflank policies', async t => {
  const doc = parse(`
/etc/tls/key.pem:
  data: aGVsbG8=
  encoding: base64
  mode: "0400"
  owner: "1000"
  group: app
/etc/inherit:
  data: x
  owner: inherit
  group: inherit
/etc/full:
  data: x
  owner: { policy: KeepOrSetExplicit, value: "app" }
  group: { policy: KeepOrSetInherited }
  permissions: { policy: KeepOrSet, mode: 420 }
`)
  const result = parseDocument(doc)
  t.ok(result.ok)
  if (!result.ok) return
  t.same(result.invalid, [])
  t.same(result.entries, [
    {
      type: 'FILE',
      path: '/etc/tls/key.pem',
      data: 'aGVsbG8=',
      encoding: 'base64',
      permissions: { policy: 'AlwaysSet', mode: '0400' },
      owner: { policy: 'AlwaysSetExplicit', value: '1000' },
      group: { policy: 'AlwaysSetExplicit', value: 'app' }
    },
    { type: 'FILE', path: '/etc/inherit', data: 'x', encoding: 'utf-8', owner: { policy: 'AlwaysSetInherited' }, group: { policy: 'AlwaysSetInherited' } },
    {
      type: 'FILE',
      path: '/etc/full',
      data: 'x',
      encoding: 'utf-8',
      owner: { policy: 'KeepOrSetExplicit', value: 'app' },
      group: { policy: 'KeepOrSetInherited' },
      permissions: { policy: 'KeepOrSet', mode: 420 }
    }
  ])
})

t.test('mode shorthand: YAML 1.2 reads 0400 as decimal 400; it still means octal 0400', async t => {
  const result = parseDocument(parse('/a:\n  data: x\n  mode: 0400\n/b:\n  data: x\n  mode: 644\n'))
  t.ok(result.ok)
  if (!result.ok) return
  t.same(result.entries.map(e => e.type === 'FILE' ? e.permissions : undefined), [{ policy: 'AlwaysSet', mode: '0400' }, { policy: 'AlwaysSet', mode: '0644' }])
  t.equal(modeShorthand(489), undefined, '489 has a 9: not octal digits')
  t.equal(modeShorthand('0o400'), undefined)
  t.equal(modeShorthand('4755'), '4755')
})

t.test('owner shorthand refuses empty and odd values', async t => {
  t.equal(ownerPolicy(''), undefined)
  t.equal(ownerPolicy('a b'), undefined)
  t.equal(ownerPolicy({ policy: 'AlwaysSetExplicit' }), undefined, 'explicit needs a value')
  t.equal(ownerPolicy({ policy: 'Sometimes', value: '1' }), undefined)
  t.same(ownerPolicy(0), { policy: 'AlwaysSetExplicit', value: '0' })
})

t.test('bad entries are reported one by one; the rest still parse', async t => {
  const result = parseDocument({
    GOOD: 'yes',
    LIST: ['a'],
    NULL: null,
    '/f1': { data: 'x', mde: '0400' },
    '/f2': { encoding: 'base64' },
    '/f3': { data: 'not base64!', encoding: 'base64' },
    '/f4': { data: 'x', encoding: 'latin1' },
    '/f5': { data: 'x', mode: '0999' },
    '/f6': { data: 'x', mode: '0400', permissions: { policy: 'AlwaysSet', mode: '0400' } },
    '/f7': { data: 'x', permissions: { policy: 'AlwaysSet', mode: '0o400' } },
    '/f8': { data: 'x', permissions: { policy: 'AlwaysSet', mode: 0o10000 } }
  })
  t.ok(result.ok)
  if (!result.ok) return
  t.same(result.entries, [{ type: 'ENV', key: 'GOOD', value: 'yes' }])
  t.same(result.invalid.map(i => i.key), ['LIST', 'NULL', '/f1', '/f2', '/f3', '/f4', '/f5', '/f6', '/f7', '/f8'])
  t.match(result.invalid[2]?.reason, /unknown file attribute mde/)
})

t.test('a document that is not a map is malformed; an empty one is empty', async t => {
  t.same(parseDocument(['a']), { ok: false, reason: 'document is a list, not a map' })
  t.same(parseDocument('text'), { ok: false, reason: 'document is a string, not a map' })
  t.same(parseDocument(null), { ok: true, entries: [], invalid: [] })
})

t.test('metadata attributes: every Northflank policy from one-value metadata (KeepOrSet through -policy names)', async t => {
  const { metadataAttributes } = await import('../../src/core/document.js')
  const names = { mode: 'm', modePolicy: 'mp', owner: 'o', ownerPolicy: 'op', group: 'g', groupPolicy: 'gp' }
  const of = (values: Record<string, string>): unknown => metadataAttributes(n => values[n], names, 'tag')
  t.same(of({ m: '0400', o: '1000', g: 'inherit' }), { permissions: { policy: 'AlwaysSet', mode: '0400' }, owner: { policy: 'AlwaysSetExplicit', value: '1000' }, group: { policy: 'AlwaysSetInherited' } })
  t.same(of({ m: '440', mp: 'KeepOrSet', o: 'app', op: 'KeepOrSet', g: 'inherit', gp: 'KeepOrSet' }), { permissions: { policy: 'KeepOrSet', mode: '0440' }, owner: { policy: 'KeepOrSetExplicit', value: 'app' }, group: { policy: 'KeepOrSetInherited' } })
  t.same(of({ m: '0600', mp: 'AlwaysSet' }), { permissions: { policy: 'AlwaysSet', mode: '0600' } })
  t.same(of({}), {})
  t.equal(of({ m: '0400', mp: 'keep' }), 'tag mp is neither AlwaysSet nor KeepOrSet')
  t.equal(of({ op: 'KeepOrSet' }), 'tag op without o')
  t.equal(of({ m: 'rwx' }), 'tag m is not an octal file mode')
  t.equal(of({ g: 'a b' }), 'tag g is not a user/group id, name or "inherit"')
})
