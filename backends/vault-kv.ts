// KV engine mapping: where a locator lives in the API (v1 vs v2) and how the answer becomes
// a secret document. A KV secret's data IS the secret document (src/core/document.ts).
import { parseDocument } from '../src/core/document.js'
import { storeError } from '../src/errors.js'
import type { ReadResult } from './port.js'
import type { VaultAnswer } from './vault-http.js'

export type KvVersion = 1 | 2

/** "team/kv/" -> ["team", "kv"]; a template or mount must not have empty, . or .. segments. */
export function segmentsOf (path: string): string[] {
  return path.split('/')
}

export function pathProblem (path: string): string | undefined {
  if (path.startsWith('/') || path.endsWith('/')) return 'must not start or end with "/"'
  if (path.split('/').some(s => s === '' || s === '.' || s === '..')) return 'must not contain empty, . or .. segments'
  return undefined
}

/**
 * The API path of a secret. v2 puts "data" between the mount and the path as its own segment,
 * so a mount that is itself called "data" or "kvdata" is never confused with it.
 */
export function secretPath (mount: readonly string[], version: KvVersion, locator: string): string[] {
  return version === 2 ? [...mount, 'data', ...segmentsOf(locator)] : [...mount, ...segmentsOf(locator)]
}

function isMap (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * A 200 or 404 answer of a KV read -> the read result. 404 is a missing secret; on v2 a
 * deleted or destroyed latest version answers 404 (or 200) with `data.data: null`: also missing.
 */
export function readResultOf (answer: VaultAnswer, version: KvVersion, where: string): ReadResult {
  if (answer.status === 404) return { found: false }
  const data: unknown = answer.body?.data
  if (!isMap(data)) throw storeError('malformed', `${where}: answer has no data map`)
  let document: unknown = data
  if (version === 2) {
    if (data.data === null || data.data === undefined) return { found: false }
    document = data.data
  }
  const parsed = parseDocument(document)
  if (!parsed.ok) throw storeError('malformed', `${where}: ${parsed.reason}`)
  return { found: true, entries: parsed.entries, invalid: parsed.invalid }
}

/** The mount lookup (sys/internal/ui/mounts/<mount>) agrees with the configured engine. */
export function mountProblem (answer: VaultAnswer, version: KvVersion): string | undefined {
  const data = answer.body?.data
  if (!isMap(data)) return 'the mount lookup has no data'
  if (data.type !== 'kv' && data.type !== 'generic') return `the mount is of type ${String(data.type)}, not kv`
  const options = isMap(data.options) ? data.options : {}
  const actual = String(options.version ?? '1') === '2' ? 2 : 1
  return actual === version ? undefined : `the mount is KV v${actual}, configured kvVersion is ${version}`
}
