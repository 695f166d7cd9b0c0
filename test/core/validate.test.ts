import t from 'tap'
import { entryProblem, partitionValid, pathProblem } from '../../src/core/validate.js'

t.test('ENV names follow ^[A-Za-z_][A-Za-z0-9_]*$', async t => {
  for (const good of ['A', '_A', 'a_b9', 'DATABASE_URL']) t.equal(entryProblem({ type: 'ENV', key: good, value: '' }), undefined, good)
  for (const bad of ['', '9A', 'A-B', 'A.B', 'A B', 'É', 'A=B', '/etc']) t.ok(entryProblem({ type: 'ENV', key: bad, value: '' }), JSON.stringify(bad))
})

t.test('traversal: file paths must be absolute and normalised', async t => {
  for (const good of ['/a', '/etc/app/config.json', '/a/.hidden', '/a/b..c']) t.equal(pathProblem(good), undefined, good)
  const bad: Array<[string, RegExp]> = [
    ['relative/path', /absolute/],
    ['/etc/../shadow', /\.\./],
    ['/etc/./x', /\./],
    ['/etc//x', /empty/],
    ['/etc/x/', /empty/],
    ['/', /root/],
    ['/etc/x\0y', /NUL/],
    ['/..', /\.\./]
  ]
  for (const [path, reason] of bad) t.match(pathProblem(path), reason, JSON.stringify(path))
})

t.test('permissions mode must be octal text or a number in range', async t => {
  const file = (mode: string | number) => ({ type: 'FILE' as const, path: '/a', data: '', encoding: 'utf-8' as const, permissions: { policy: 'AlwaysSet' as const, mode } })
  t.equal(entryProblem(file('0400')), undefined)
  t.equal(entryProblem(file(256)), undefined)
  t.ok(entryProblem(file('rw-r--r--')))
  t.ok(entryProblem(file(70000)))
})

t.test('partitionValid keeps valid entries and names the invalid ones', async t => {
  const { valid, invalid } = partitionValid([
    { type: 'ENV', key: 'OK', value: '1' },
    { type: 'ENV', key: 'NOT-OK', value: '2' },
    { type: 'FILE', path: 'rel', data: '', encoding: 'utf-8' }
  ])
  t.same(valid, [{ type: 'ENV', key: 'OK', value: '1' }])
  t.same(invalid.map(i => i.key), ['NOT-OK', 'rel'])
})
