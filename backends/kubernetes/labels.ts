// Kubernetes naming rules for the kubernetes backend: ids escaped into label values and namespace
// names (injectively: two identities never share a locator), label selectors parsed and matched
// in memory (the informer filters its cache with the same selector the list strategy sends), and
// the locator string "<namespace>/<selector>".
import { createHash } from 'node:crypto'

/** Label values: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends (or empty). */
export const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/
/** Namespace names are DNS-1123 labels: lower case, digits and "-", alphanumeric at both ends. */
export const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const LABEL_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/

/** Hex digits of sha256 kept in an escaped id: 128 bits, so a collision is not a practical concern. */
const HASH_CHARS = 32

function idHash (id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, HASH_CHARS)
}

/**
 * An id as a label value. Ids (^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, never "..") that are valid label
 * values pass unchanged. The others (longer than 63, or ending in ".", "_" or "-") become
 * "<first 29 characters>..<hash>": the ".." marks an escaped value, and no id contains "..", so an
 * escaped value never equals an unchanged one; two escaped values differ in their hash.
 */
export function escapeLabelValue (id: string): string {
  if (id.length <= 63 && LABEL_VALUE.test(id)) return id
  return `${id.slice(0, 63 - 2 - HASH_CHARS)}..${idHash(id)}`
}

/** Shortest room a namespace template must leave for its id: "x--" plus the hash. */
export const NAMESPACE_ID_MIN_ROOM = 3 + HASH_CHARS

/**
 * An id inside a namespace name, with `room` characters left by the template's fixed text. Ids that
 * are already lower-case DNS text without "--" (and fit) pass unchanged; every other id becomes
 * "<readable part>--<hash>". Unchanged ids never contain "--" and escaped ones always do, so the
 * mapping is injective; the readable part only helps operators recognise the namespace.
 */
export function escapeNamespaceId (id: string, room = 63): string {
  if (id.length <= room && /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(id)) return id
  const readable = id.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, room - 2 - HASH_CHARS).replace(/^-+|-+$/g, '')
  return `${readable === '' ? 'x' : readable}--${idHash(id)}`
}

export type Requirement =
  | { key: string, op: 'exists' | 'absent' }
  | { key: string, op: 'in' | 'notin', values: string[] }

/** Why a label key is invalid ("prefix/name", prefix a DNS subdomain), or undefined. */
function labelKeyProblem (key: string): string | undefined {
  const slash = key.indexOf('/')
  const prefix = slash < 0 ? undefined : key.slice(0, slash)
  const name = slash < 0 ? key : key.slice(slash + 1)
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return `label key prefix "${prefix}" is not a DNS subdomain`
  if (!LABEL_NAME.test(name)) return `label key "${key}" is not a valid label name`
  return undefined
}

/** Splits on commas outside parentheses ("a in (x,y),b" -> ["a in (x,y)", "b"]). */
function splitRequirements (text: string): string[] {
  const parts: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++
    else if (text[i] === ')') depth--
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  parts.push(text.slice(start))
  return parts.map(p => p.trim())
}

function parseRequirement (text: string): Requirement | string {
  let match: RegExpMatchArray | null
  const checked = (requirement: Requirement): Requirement | string => {
    const problem = labelKeyProblem(requirement.key)
    if (problem !== undefined) return problem
    const bad = 'values' in requirement ? requirement.values.find(v => !LABEL_VALUE.test(v)) : undefined
    return bad === undefined ? requirement : `"${bad}" is not a valid label value`
  }
  if ((match = /^!\s*([^\s=!(),]+)$/.exec(text)) !== null) return checked({ key: match[1] as string, op: 'absent' })
  if ((match = /^([^\s=!(),]+)$/.exec(text)) !== null) return checked({ key: match[1] as string, op: 'exists' })
  if ((match = /^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(text)) !== null) {
    return checked({ key: match[1] as string, op: match[2] === '!=' ? 'notin' : 'in', values: [match[3] as string] })
  }
  if ((match = /^([^\s=!(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(text)) !== null) {
    const values = (match[3] as string).split(',').map(v => v.trim())
    return checked({ key: match[1] as string, op: match[2] as 'in' | 'notin', values })
  }
  return `"${text}" is not a label selector requirement (key, !key, key=value, key!=value, key in (...), key notin (...))`
}

/** A label selector as Kubernetes writes it; a string says why it is not one. */
export function parseSelector (text: string): Requirement[] | string {
  if (text.trim() === '') return 'the label selector is empty'
  const requirements: Requirement[] = []
  for (const part of splitRequirements(text)) {
    const requirement = parseRequirement(part)
    if (typeof requirement === 'string') return requirement
    requirements.push(requirement)
  }
  return requirements
}

/** The apiserver's semantics: "!=" and "notin" also match Secrets without the label. */
export function matchesSelector (requirements: readonly Requirement[], labels: Readonly<Record<string, string>>): boolean {
  return requirements.every(r => {
    const value = Object.hasOwn(labels, r.key) ? labels[r.key] : undefined
    switch (r.op) {
      case 'exists': return value !== undefined
      case 'absent': return value === undefined
      case 'in': return value !== undefined && r.values.includes(value)
      case 'notin': return value === undefined || !r.values.includes(value)
    }
  })
}

export interface ParsedLocator {
  namespace: string
  selector: string
}

/** "<namespace>/<selector>": a namespace never holds "/", a selector's label keys may. */
export function formatLocator (namespace: string, selector: string): string {
  return `${namespace}/${selector}`
}

export function parseLocator (locator: string): ParsedLocator | undefined {
  const slash = locator.indexOf('/')
  if (slash <= 0) return undefined
  const namespace = locator.slice(0, slash)
  return DNS_LABEL.test(namespace) ? { namespace, selector: locator.slice(slash + 1) } : undefined
}
