// Secret -> entries. A Secret without annotations is an envFrom: one ENV entry per data key.
// A Secret annotated nf-secret-source/mount-path is a volume: one FILE per key at <mount-path>/<key>.
// Several Secrets in one layer apply by priority annotation, then name (later wins).
import type { V1Secret } from '@kubernetes/client-node'
import { metadataAttributes, type FileAttributes } from '../../src/core/document.js'
import { ENV_NAME, entryName, type Entry, type InvalidEntry } from '../../src/core/entries.js'
import { storeError } from '../../src/store/errors.js'
import type { ReadResult } from '../../src/store/port.js'
import type { Requirement } from './labels.js'
import { LABEL_PREFIX } from './layout.js'

export const ANNOTATIONS = {
  mountPath: `${LABEL_PREFIX}mount-path`,
  fileMode: `${LABEL_PREFIX}file-mode`,
  fileModePolicy: `${LABEL_PREFIX}file-mode-policy`,
  fileOwner: `${LABEL_PREFIX}file-owner`,
  fileOwnerPolicy: `${LABEL_PREFIX}file-owner-policy`,
  fileGroup: `${LABEL_PREFIX}file-group`,
  fileGroupPolicy: `${LABEL_PREFIX}file-group-policy`,
  priority: `${LABEL_PREFIX}priority`
} as const
/** `nf-secret-source/file-mode.<key>`: the mode of one key's file, over the Secret's file-mode. */
export const KEY_MODE_PREFIX = `${ANNOTATIONS.fileMode}.`
const KNOWN_ANNOTATIONS = new Set<string>(Object.values(ANNOTATIONS))
const FILE_ANNOTATIONS = [ANNOTATIONS.fileMode, ANNOTATIONS.fileModePolicy, ANNOTATIONS.fileOwner, ANNOTATIONS.fileOwnerPolicy, ANNOTATIONS.fileGroup, ANNOTATIONS.fileGroupPolicy]
const ATTRIBUTE_ANNOTATIONS = {
  mode: ANNOTATIONS.fileMode, modePolicy: ANNOTATIONS.fileModePolicy,
  owner: ANNOTATIONS.fileOwner, ownerPolicy: ANNOTATIONS.fileOwnerPolicy,
  group: ANNOTATIONS.fileGroup, groupPolicy: ANNOTATIONS.fileGroupPolicy
}

/** A Secret as the backend keeps it: already decoded and mapped, so a read only filters and merges. */
export interface MappedSecret {
  namespace: string
  name: string
  labels: Readonly<Record<string, string>>
  /** The priority annotation, 0 without it; a string says why it is not an integer. */
  priority: number | string
  entries: Entry[]
  invalid: InvalidEntry[]
}

// fatal: invalid UTF-8 is detected, not replaced; ignoreBOM: a leading BOM is kept, so the
// text re-encodes to exactly the stored bytes.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The bytes as text when they are UTF-8 without NUL (text a file or variable can hold as is). */
function asText (bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

function parsePriority (value: string | undefined): number | string {
  if (value === undefined) return 0
  return /^[+-]?\d{1,15}$/.test(value.trim()) ? Number(value.trim()) : `annotation ${ANNOTATIONS.priority} is not an integer`
}

/**
 * File attributes of one key's file: the Secret's annotations (mode, owner, group, each with an
 * optional -policy annotation), and a file-mode.<key> annotation over the mode for that key alone.
 */
function fileAttributes (annotations: Record<string, string>, key: string): FileAttributes | string {
  const keyMode = annotations[`${KEY_MODE_PREFIX}${key}`]
  return metadataAttributes(name => name === ANNOTATIONS.fileMode && keyMode !== undefined ? keyMode : annotations[name], ATTRIBUTE_ANNOTATIONS, 'annotation')
}

export function mapSecret (secret: V1Secret): MappedSecret {
  const namespace = secret.metadata?.namespace ?? ''
  const name = secret.metadata?.name ?? ''
  const annotations = secret.metadata?.annotations ?? {}
  const data = secret.data ?? {}
  const mapped: MappedSecret = {
    namespace, name, labels: secret.metadata?.labels ?? {}, priority: parsePriority(annotations[ANNOTATIONS.priority]), entries: [], invalid: []
  }
  const skipAll = (reason: string): MappedSecret => {
    mapped.invalid = Object.keys(data).map(key => ({ key: `${name}/${key}`, reason: `Secret ${name}: ${reason}`, kind: 'value' as const }))
    return mapped
  }
  // A typo in an annotation name must not silently change how a Secret is served.
  const perKey = (a: string): boolean => a.startsWith(KEY_MODE_PREFIX) && Object.hasOwn(data, a.slice(KEY_MODE_PREFIX.length))
  const unknown = Object.keys(annotations).filter(a => a.startsWith(LABEL_PREFIX) && !KNOWN_ANNOTATIONS.has(a) && !perKey(a))
  if (unknown.length > 0) return skipAll(`unknown annotation ${unknown.join(', ')}`)
  const mountPath = annotations[ANNOTATIONS.mountPath]

  if (mountPath === undefined) {
    const strayFileAnnotation = FILE_ANNOTATIONS.find(a => annotations[a] !== undefined) ?? Object.keys(annotations).find(perKey)
    if (strayFileAnnotation !== undefined) return skipAll(`annotation ${strayFileAnnotation} needs ${ANNOTATIONS.mountPath}`)
    for (const [key, base64] of Object.entries(data)) {
      const value = asText(Buffer.from(base64, 'base64'))
      if (!ENV_NAME.test(key)) mapped.invalid.push({ key: `${name}/${key}`, reason: `Secret ${name}: key is not an environment variable name (annotate ${ANNOTATIONS.mountPath} to serve keys as files)`, kind: 'name' })
      else if (value === undefined) mapped.invalid.push({ key: `${name}/${key}`, reason: `Secret ${name}: value is not UTF-8 text without NUL, which a variable cannot hold`, kind: 'value' })
      else mapped.entries.push({ type: 'ENV', key, value })
    }
    return mapped
  }

  const attributesOf = Object.fromEntries(Object.keys(data).map(key => [key, fileAttributes(annotations, key)]))
  const problem = Object.values(attributesOf).find((a): a is string => typeof a === 'string')
  if (problem !== undefined) return skipAll(problem)
  // "/etc/app/" and "/etc/app" mount the same folder; anything else unnormalised is caught when
  // the entries are validated (the path then names the problem).
  const folder = mountPath.trim().replace(/\/+$/, '')
  for (const [key, base64] of Object.entries(data)) {
    const bytes = Buffer.from(base64, 'base64')
    const text = asText(bytes)
    const attributes = attributesOf[key] as FileAttributes
    // Text travels as utf-8 (readable in resolve output); anything else as the exact bytes in base64.
    mapped.entries.push(text === undefined
      ? { type: 'FILE', path: `${folder}/${key}`, data: bytes.toString('base64'), encoding: 'base64', ...attributes }
      : { type: 'FILE', path: `${folder}/${key}`, data: text, encoding: 'utf-8', ...attributes })
  }
  return mapped
}

/** Applies a layer's Secrets in order: priority (higher wins), then name (later wins). */
export function mergeSecrets (secrets: readonly MappedSecret[]): ReadResult {
  if (secrets.length === 0) return { found: false }
  for (const secret of secrets) {
    // Without a usable priority the order, and so the answer, is unknown: fail rather than guess.
    if (typeof secret.priority === 'string') throw storeError('malformed', `Secret ${secret.namespace}/${secret.name}: ${secret.priority}`)
  }
  const ordered = [...secrets].sort((a, b) => ((a.priority as number) - (b.priority as number)) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const byName = new Map<string, Entry>()
  const invalid: InvalidEntry[] = []
  for (const secret of ordered) {
    for (const entry of secret.entries) {
      const key = `${entry.type}:${entryName(entry)}`
      byName.set(key, entry)
    }
    invalid.push(...secret.invalid)
  }
  return { found: true, entries: [...byName.values()], invalid }
}

/** A layer's label selector, as sent to the apiserver and as matched in memory. */
export interface SelectorQuery {
  text: string
  requirements: Requirement[]
}

/** A read strategy (list or informer): the mapped Secrets of one namespace that a selector picks. */
export interface SecretSource {
  select: (namespace: string, selector: SelectorQuery, signal: AbortSignal) => Promise<MappedSecret[]>
  ready: (signal: AbortSignal) => Promise<void>
  close: () => Promise<void>
}
