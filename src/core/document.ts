// The secret document: one map shared by every store that holds a map.
// Keys are ENV names or absolute file paths; see README "The secret document".
import type { Entry, FileEntry, InvalidEntry, OwnerPolicy, Permissions } from './entries.js'

export type DocumentResult =
  | { ok: true, entries: Entry[], invalid: InvalidEntry[] }
  | { ok: false, reason: string }

const FILE_ATTRIBUTES = new Set(['data', 'encoding', 'mode', 'owner', 'group', 'permissions'])
const OWNER_POLICIES = new Set(['AlwaysSetExplicit', 'KeepOrSetExplicit', 'AlwaysSetInherited', 'KeepOrSetInherited'])

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function scalarText (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  return undefined
}

/** A parsed document (YAML or JSON) -> entries; anything but a map (or nothing) is malformed. */
export function parseDocument (document: unknown): DocumentResult {
  if (document === null || document === undefined) return { ok: true, entries: [], invalid: [] }
  if (!isPlainObject(document)) return { ok: false, reason: `document is ${Array.isArray(document) ? 'a list' : `a ${typeof document}`}, not a map` }
  const entries: Entry[] = []
  const invalid: InvalidEntry[] = []
  for (const [key, value] of Object.entries(document)) {
    const result = key.startsWith('/') ? fileEntry(key, value) : envEntry(key, value)
    if (typeof result === 'string') invalid.push({ key, reason: result })
    else entries.push(result)
  }
  return { ok: true, entries, invalid }
}

function envEntry (key: string, value: unknown): Entry | string {
  const text = scalarText(value)
  return text === undefined ? 'ENV value is not a string, number or boolean' : { type: 'ENV', key, value: text }
}

function fileEntry (path: string, value: unknown): FileEntry | string {
  const text = scalarText(value)
  if (text !== undefined) return { type: 'FILE', path, data: text, encoding: 'utf-8' }
  if (!isPlainObject(value)) return 'FILE value is neither text nor a map with data'
  const unknown = Object.keys(value).filter(k => !FILE_ATTRIBUTES.has(k))
  if (unknown.length > 0) return `unknown file attribute ${unknown.join(', ')}`
  return fileWithAttributes(path, value)
}

export function normaliseEncoding (value: unknown): 'utf-8' | 'base64' | undefined {
  if (value === undefined || value === 'utf-8' || value === 'utf8') return 'utf-8'
  if (value === 'base64') return 'base64'
  return undefined
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

export function isBase64 (data: string): boolean {
  return BASE64.test(data.replace(/\s+/g, ''))
}

function fileWithAttributes (path: string, value: Record<string, unknown>): FileEntry | string {
  const data = scalarText(value.data)
  if (data === undefined) return 'FILE map has no text data'
  const encoding = normaliseEncoding(value.encoding)
  if (encoding === undefined) return 'encoding is neither utf-8 nor base64'
  if (encoding === 'base64' && !isBase64(data)) return 'data is not valid base64'
  const entry: FileEntry = { type: 'FILE', path, data, encoding }
  if (value.mode !== undefined && value.permissions !== undefined) return 'both mode and permissions are set'
  if (value.mode !== undefined) {
    const mode = modeShorthand(value.mode)
    if (mode === undefined) return 'mode is not an octal file mode'
    entry.permissions = { policy: 'AlwaysSet', mode }
  }
  if (value.permissions !== undefined) {
    const permissions = permissionsObject(value.permissions)
    if (permissions === undefined) return 'permissions is not {policy: AlwaysSet|KeepOrSet, mode}'
    entry.permissions = permissions
  }
  for (const field of ['owner', 'group'] as const) {
    if (value[field] === undefined) continue
    const owner = ownerPolicy(value[field])
    if (owner === undefined) return `${field} is not a user/group id, name, "inherit" or a Northflank policy object`
    entry[field] = owner
  }
  return entry
}

/**
 * `mode: 0400` in YAML 1.2 is the decimal number 400, and nobody means decimal 400
 * (= 0620) as a file mode; so a bare number in the shorthand is read as octal digits.
 */
export function modeShorthand (value: unknown): string | undefined {
  const text = typeof value === 'number' && Number.isInteger(value) ? String(value) : value
  if (typeof text !== 'string' || !/^0?[0-7]{3,4}$/.test(text)) return undefined
  return text.padStart(4, '0').slice(-4)
}

function permissionsObject (value: unknown): Permissions | undefined {
  if (!isPlainObject(value)) return undefined
  const { policy, mode } = value
  if (policy !== 'AlwaysSet' && policy !== 'KeepOrSet') return undefined
  // Northflank's mode: an octal string, or a decimal number (0o7777 at most).
  if (typeof mode === 'string' && /^0?[0-7]{3,4}$/.test(mode)) return { policy, mode }
  if (typeof mode === 'number' && Number.isInteger(mode) && mode >= 0 && mode <= 0o7777) return { policy, mode }
  return undefined
}

/** Shorthand owner/group: a uid/gid or name is AlwaysSetExplicit, "inherit" AlwaysSetInherited. */
export function ownerPolicy (value: unknown): OwnerPolicy | undefined {
  if (isPlainObject(value)) {
    const { policy } = value
    if (typeof policy !== 'string' || !OWNER_POLICIES.has(policy)) return undefined
    if (policy === 'AlwaysSetInherited' || policy === 'KeepOrSetInherited') return { policy }
    const explicit = scalarText(value.value)
    if (explicit === undefined || explicit === '') return undefined
    return { policy: policy as 'AlwaysSetExplicit' | 'KeepOrSetExplicit', value: explicit }
  }
  const text = scalarText(value)
  if (text === undefined || text === '') return undefined
  if (text === 'inherit') return { policy: 'AlwaysSetInherited' }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(text)) return undefined
  return { policy: 'AlwaysSetExplicit', value: text }
}

/** Names of the metadata (SSM tags, Kubernetes annotations) that carry a file's attributes. */
export interface AttributeNames {
  mode: string
  modePolicy: string
  owner: string
  ownerPolicy: string
  group: string
  groupPolicy: string
}

export type FileAttributes = Pick<FileEntry, 'permissions' | 'owner' | 'group'>

/** AlwaysSet (absent or "AlwaysSet") or KeepOrSet; undefined for anything else. */
export function attributePolicy (value: string | undefined): 'AlwaysSet' | 'KeepOrSet' | undefined {
  const text = value?.trim()
  if (text === undefined || text === 'AlwaysSet') return 'AlwaysSet'
  return text === 'KeepOrSet' ? 'KeepOrSet' : undefined
}

/** An owner/group policy turned into its KeepOrSet variant. */
export function keepOrSetOwner (owner: OwnerPolicy): OwnerPolicy {
  if (owner.policy === 'AlwaysSetExplicit') return { policy: 'KeepOrSetExplicit', value: owner.value }
  if (owner.policy === 'AlwaysSetInherited') return { policy: 'KeepOrSetInherited' }
  return owner
}

/**
 * A file's mode, owner and group from one-value metadata, each with an optional *-policy entry
 * (AlwaysSet, the default, or KeepOrSet), so every Northflank policy can be expressed where a
 * store cannot hold a document: `nf-mode: "0400"` + `nf-mode-policy: KeepOrSet` is
 * {policy: KeepOrSet, mode: "0400"}; `nf-owner: inherit` + `nf-owner-policy: KeepOrSet` is
 * {policy: KeepOrSetInherited}. A string says what is wrong (`kind` names the metadata: tag, annotation).
 */
export function metadataAttributes (get: (name: string) => string | undefined, names: AttributeNames, kind: string): FileAttributes | string {
  const attributes: FileAttributes = {}
  const modePolicy = attributePolicy(get(names.modePolicy))
  if (modePolicy === undefined) return `${kind} ${names.modePolicy} is neither AlwaysSet nor KeepOrSet`
  const mode = get(names.mode)
  if (mode === undefined) {
    if (get(names.modePolicy) !== undefined) return `${kind} ${names.modePolicy} without ${names.mode}`
  } else {
    const octal = modeShorthand(mode.trim())
    if (octal === undefined) return `${kind} ${names.mode} is not an octal file mode`
    attributes.permissions = { policy: modePolicy, mode: octal }
  }
  for (const [field, name, policyName] of [['owner', names.owner, names.ownerPolicy], ['group', names.group, names.groupPolicy]] as const) {
    const policy = attributePolicy(get(policyName))
    if (policy === undefined) return `${kind} ${policyName} is neither AlwaysSet nor KeepOrSet`
    const value = get(name)
    if (value === undefined) {
      if (get(policyName) !== undefined) return `${kind} ${policyName} without ${name}`
      continue
    }
    const owner = ownerPolicy(value.trim())
    if (owner === undefined) return `${kind} ${name} is not a user/group id, name or "inherit"`
    attributes[field] = policy === 'KeepOrSet' ? keepOrSetOwner(owner) : owner
  }
  return attributes
}
