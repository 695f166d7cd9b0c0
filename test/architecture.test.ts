// The import rules that keep the architecture visible: stores know the service only through the
// port (src/store) and the pure core (src/core); the port and the core know no HTTP framework.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'
import { backendDefinitions } from '../backends/registry.js'
import { repoRoot } from './servers/common.js'

function sourceFiles (dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter(e => e.isFile() && e.name.endsWith('.ts'))
    .map(e => relative(repoRoot, join(e.parentPath, e.name)))
}

/** Every module a file imports: relative ones as repo paths, packages by name. */
function importsOf (file: string): string[] {
  const text = readFileSync(join(repoRoot, file), 'utf8')
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm)]
    .map(m => (m[1] ?? m[2]) as string)
    .map(spec => spec.startsWith('.') ? relative(repoRoot, resolve(dirname(join(repoRoot, file)), spec)) : spec)
}

t.test('stores import only src/core, src/store, their own folder and the shared backends/aws', async t => {
  for (const file of sourceFiles('backends')) {
    if (file === 'backends/registry.ts') continue
    const own = file.split('/').slice(0, 2).join('/')
    for (const target of importsOf(file).filter(i => i.startsWith('src/') || i.startsWith('backends/'))) {
      const allowed = target.startsWith('src/core/') || target.startsWith('src/store/') || target.startsWith(`${own}/`) || target.startsWith('backends/aws/')
      t.ok(allowed, `${file} imports ${target}`)
    }
  }
})

t.test('the port and the core import no HTTP framework and nothing of the service', async t => {
  for (const file of [...sourceFiles('src/store'), ...sourceFiles('src/core')]) {
    for (const target of importsOf(file)) {
      t.notOk(/^(fastify|@fastify\/|fastify-plugin)/.test(target), `${file} imports ${target}`)
      if (target.startsWith('src/')) t.ok(target.startsWith('src/core/') || target.startsWith('src/store/'), `${file} imports ${target}`)
    }
  }
})

t.test('one folder per store: each registered type has backends/<type>/index.ts exporting a ...Definition', async t => {
  for (const definition of backendDefinitions) {
    const index = join('backends', definition.type, 'index.ts')
    const text = readFileSync(join(repoRoot, index), 'utf8')
    t.match(text, new RegExp(`export const \\w+Definition: BackendDefinition<[^>]+> = \\{\\s*type: '${definition.type}'`), `${index} defines type ${definition.type}`)
    t.ok(sourceFiles(join('test', 'backends', definition.type)).some(f => f.endsWith('.test.ts')), `test/backends/${definition.type}/ holds its tests`)
  }
})
