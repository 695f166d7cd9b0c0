// Checks every entry against Northflank's rules before it is served.
import { ENV_NAME, type Entry, type InvalidEntry } from './entries.js'

/** Why an absolute file path is not served, or undefined when it is fine. */
export function pathProblem (path: string): string | undefined {
  if (!path.startsWith('/')) return 'file path is not absolute'
  if (path.includes('\0')) return 'file path contains NUL'
  if (path === '/') return 'file path names the root directory'
  const segments = path.slice(1).split('/')
  if (segments.some(s => s === '')) return 'file path has an empty segment'
  if (segments.some(s => s === '.' || s === '..')) return 'file path has a . or .. segment'
  return undefined
}

export function entryProblem (entry: Entry): string | undefined {
  if (entry.type === 'ENV') {
    return ENV_NAME.test(entry.key) ? undefined : 'not a valid environment variable name'
  }
  const problem = pathProblem(entry.path)
  if (problem !== undefined) return problem
  if (entry.permissions !== undefined && !validMode(entry.permissions.mode)) return 'file mode is not an octal mode'
  return undefined
}

export function validMode (mode: string | number): boolean {
  if (typeof mode === 'number') return Number.isInteger(mode) && mode >= 0 && mode <= 0o7777
  return /^0?[0-7]{3,4}$/.test(mode)
}

export function partitionValid (entries: Entry[]): { valid: Entry[], invalid: InvalidEntry[] } {
  const valid: Entry[] = []
  const invalid: InvalidEntry[] = []
  for (const entry of entries) {
    const reason = entryProblem(entry)
    if (reason === undefined) valid.push(entry)
    else invalid.push({ key: entry.type === 'ENV' ? entry.key : entry.path, reason })
  }
  return { valid, invalid }
}
