// One secret per entry (names and tags layouts): the secret's value is the ENV value or the file's
// data, and its tags say which (docs/backends/azure-keyvault.md, "Tags of an entry"). File
// attributes are handed to the secret document's own parser (src/core/document.ts), so a tag
// means exactly what the same attribute means in a document.
import { metadataAttributes, parseDocument } from '../../src/core/document.js'
import { entryName, type Entry, type InvalidEntry } from '../../src/core/entries.js'

export const ENTRY_TAGS = {
  env: 'nf-env',
  file: 'nf-file',
  encoding: 'nf-encoding',
  mode: 'nf-mode',
  modePolicy: 'nf-mode-policy',
  owner: 'nf-owner',
  ownerPolicy: 'nf-owner-policy',
  group: 'nf-group',
  groupPolicy: 'nf-group-policy'
} as const

/** Tags only a FILE entry may carry. */
const FILE_ATTRIBUTE_TAGS: readonly string[] = [ENTRY_TAGS.encoding, ENTRY_TAGS.mode, ENTRY_TAGS.modePolicy, ENTRY_TAGS.owner, ENTRY_TAGS.ownerPolicy, ENTRY_TAGS.group, ENTRY_TAGS.groupPolicy]
const KNOWN_ENTRY_TAGS = new Set<string>(Object.values(ENTRY_TAGS))

type Tags = Readonly<Record<string, string>>


/** The document attributes a file secret's tags stand for, or why they cannot be used. */
function fileAttributes (data: string, tags: Tags): Record<string, unknown> | string {
  const attributes = metadataAttributes(name => tags[name], ENTRY_TAGS, 'tag')
  if (typeof attributes === 'string') return attributes
  const encoding = tags[ENTRY_TAGS.encoding]
  return { data, ...(encoding === undefined ? {} : { encoding }), ...attributes }
}

/**
 * The entry one secret stands for. `nameKey` is the ENV key the secret's name gives (the layout's
 * rule) when no nf-env tag names one; `layoutTags` are the tags the layout itself reads.
 */
export function entryOf (value: string, tags: Tags, nameKey: string, layoutTags: ReadonlySet<string>): Entry | string {
  const unknown = Object.keys(tags).filter(k => k.startsWith('nf-') && !KNOWN_ENTRY_TAGS.has(k) && !layoutTags.has(k))
  if (unknown.length > 0) return `unknown tag ${unknown.join(', ')}`
  const path = tags[ENTRY_TAGS.file]
  if (path === undefined) {
    const misplaced = FILE_ATTRIBUTE_TAGS.filter(t => tags[t] !== undefined)
    if (misplaced.length > 0) return `file attribute tag ${misplaced.join(', ')} without ${ENTRY_TAGS.file}`
    return { type: 'ENV', key: tags[ENTRY_TAGS.env] ?? nameKey, value }
  }
  if (tags[ENTRY_TAGS.env] !== undefined) return `both ${ENTRY_TAGS.env} and ${ENTRY_TAGS.file} are set`
  if (!path.startsWith('/')) return `tag ${ENTRY_TAGS.file} is not an absolute path`
  const attributes = fileAttributes(value, tags)
  if (typeof attributes === 'string') return attributes
  const parsed = parseDocument({ [path]: attributes })
  if (!parsed.ok) return parsed.reason
  const [entry] = parsed.entries
  if (entry !== undefined) return entry
  return parsed.invalid[0]?.reason ?? 'not a file entry'
}

/** A layer's entries in secret-name order; an ENV key or path set by two secrets is served from the first only. */
export class LayerEntries {
  readonly entries: Entry[] = []
  readonly invalid: InvalidEntry[] = []
  private readonly owners = new Map<string, string>()

  add (secretName: string, result: Entry | string): void {
    if (typeof result === 'string') {
      this.invalid.push({ key: secretName, reason: `secret ${secretName}: ${result}` })
      return
    }
    const name = `${result.type}:${entryName(result)}`
    const owner = this.owners.get(name)
    if (owner !== undefined) {
      this.invalid.push({ key: entryName(result), reason: `secret ${secretName}: ${result.type === 'ENV' ? 'ENV key' : 'file path'} already set by secret ${owner}` })
      return
    }
    this.owners.set(name, secretName)
    this.entries.push(result)
  }
}
