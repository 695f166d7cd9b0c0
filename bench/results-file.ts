// bench/results.md holds one section per script (bench, soak); each run replaces its own.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../src/package-root.js'

const FILE = join(packageRoot(), 'bench/results.md')

export function writeSection (name: string, markdown: string): void {
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  const block = `${start}\n${markdown.trim()}\n${end}`
  let text = existsSync(FILE) ? readFileSync(FILE, 'utf8') : '# Benchmark results\n'
  const at = text.indexOf(start)
  const until = text.indexOf(end)
  text = at >= 0 && until > at ? text.slice(0, at) + block + text.slice(until + end.length) : `${text.trimEnd()}\n\n${block}\n`
  writeFileSync(FILE, text)
}
