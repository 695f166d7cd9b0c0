// KV engine mapping: where a locator lives in the API (v1 vs v2) and how the answer becomes
// a secret document. A KV secret's data IS the secret document (src/core/document.ts).
import { parseDocument } from '../../src/core/document.js'
import { storeError } from '../../src/store/errors.js'
import type { ReadResult } from '../../src/store/port.js'
import type { VaultAnswer } from './http.js'

export type KvVersion = 1 | 2

/** "team/kv" -> ["team", "kv"]; templates and the mount are checked by relativePathProblem at start-up. */
export function segmentsOf (path: string): string[] {
  return path.split('/')
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
 * Why a 404 is NOT a missing secret, or undefined when it is one. Vault / OpenBao answer a
 * missing secret with `{"errors":[]}` (v1 and v2) and a deleted or destroyed latest v2 version
 * with `data.metadata`; a mount that does not exist (never enabled, disabled, wrong namespace)
 * is a 404 too, with an error ("no handler for route", "namespace not found"): a store error.
 */
export function notFoundProblem (answer: VaultAnswer, version: KvVersion): string | undefined {
  const body: unknown = answer.body
  if (!isMap(body)) return 'a 404 without a Vault answer (a proxy in between?)'
  if (Array.isArray(body.errors) && body.errors.length > 0) return 'the mount or namespace does not exist: never enabled, disabled, or another namespace'
  if (Array.isArray(body.errors)) return undefined
  const data = body.data
  if (version === 2 && isMap(data) && (data.data === null || data.data === undefined) && isMap(data.metadata)) {
    const { destroyed, deletion_time: deleted } = data.metadata
    if (destroyed === true || (typeof deleted === 'string' && deleted !== '')) return undefined
  }
  // e.g. a KV v2 mount read with kvVersion 1: 404 with a warning and no errors.
  return 'a 404 that is not a missing secret (is kvVersion right for this mount?)'
}

/**
 * A 200 (or a missing-secret 404, see notFoundProblem) -> the read result. On v2 a deleted or
 * destroyed latest version (404 or 200 with `data.data: null`) is missing too.
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
