import t from 'tap'
import { mergeLayers } from '../../src/core/merge.js'

const env = (key: string, value: string) => ({ type: 'ENV' as const, key, value })
const file = (path: string, data: string) => ({ type: 'FILE' as const, path, data, encoding: 'utf-8' as const })

t.test('later layers win, and within a layer later backends win', async t => {
  const merged = mergeLayers([
    { layer: 'global', backend: 'a', locator: 'g', entries: [env('X', 'global-a'), env('ONLY_GLOBAL', '1'), file('/f', 'global')] },
    { layer: 'global', backend: 'b', locator: 'g', entries: [env('X', 'global-b')] },
    { layer: 'project', backend: 'a', locator: 'p', entries: [env('X', 'project-a'), env('Y', 'project-a'), file('/f', 'project')] },
    { layer: 'object', backend: 'a', locator: 'o', entries: [env('Y', 'object-a')] },
    { layer: 'object', backend: 'b', locator: 'o', entries: [env('Y', 'object-b')] }
  ])
  t.same(merged.map(r => [r.entry, r.source.layer, r.source.backend]), [
    [env('ONLY_GLOBAL', '1'), 'global', 'a'],
    [env('X', 'project-a'), 'project', 'a'],
    [env('Y', 'object-b'), 'object', 'b'],
    [file('/f', 'project'), 'project', 'a']
  ])
})

t.test('order is ENV by key then FILE by path, in code-unit order (never locale order)', async t => {
  const merged = mergeLayers([{ layer: 'l', backend: 'b', locator: 'x', entries: [file('/z', ''), env('b', ''), file('/A', ''), env('B', ''), env('_a', ''), file('/a', '')] }])
  t.same(merged.map(r => r.entry.type === 'ENV' ? r.entry.key : r.entry.path), ['B', '_a', 'b', '/A', '/a', '/z'])
})

t.test('an ENV key and a FILE path never collide', async t => {
  t.equal(mergeLayers([{ layer: 'l', backend: 'b', locator: 'x', entries: [env('A', '1'), file('/A', '2')] }]).length, 2)
})
