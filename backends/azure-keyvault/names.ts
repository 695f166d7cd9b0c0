// Key Vault names: how an id is written into a secret name (the escape form), and the locator
// templates of each layout, checked and parsed once at start-up (docs/backends/azure-keyvault.md).
//
// Key Vault secret names are ^[0-9a-zA-Z-]{1,127}$ and compared ignoring case; ids are
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without "..". The escape keeps "-" free as the template's
// separator and writes only [a-z0-9], so case never matters:
//   a-z and 1-9 stay; "0" -> "00"; "-" -> "01"; "." -> "02"; "_" -> "03"; "X" (upper) -> "0x".
// Every "0" starts a two-character code, so decoding from the left is unambiguous (injective).
// An escape longer than the room its template leaves becomes <escape cut at a code boundary> +
// "09" + 32 hex characters of sha256(id): "09" is no code, so a hashed value never equals an
// unhashed one, and decoding stops there (unescape gives undefined).
import { createHash } from 'node:crypto'
import { isValidId } from '../../src/core/identity.js'
import { parseTemplate, type IdForm, type LayerTemplate } from '../../src/core/locator.js'
import type { KeyProblem } from '../../src/store/port.js'

export type Layout = 'document' | 'names' | 'tags'

/** Key Vault's limit on a secret name. */
export const MAX_NAME_LENGTH = 127
/** A template must leave at least this many characters per placeholder (hashed ids need 34 + a few). */
export const MIN_ROOM = 40
/** names layout: characters kept free after the prefix for the entry's own name. */
export const NAMES_REST_ROOM = 16
/** Marks a hashed value: never a code of the escape. */
const HASH_MARK = '09'
const HASH_HEX = 32

const CODES: Readonly<Record<string, string>> = { 0: '00', '-': '01', '.': '02', _: '03' }
const DECODE: Readonly<Record<string, string>> = { 0: '0', 1: '-', 2: '.', 3: '_' }
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'
const PLACEHOLDER = /\{(projectId|nfObjectId|nfObjectType)\}/g

/** The Key Vault name alphabet, for a template's literal text. */
export const NAME_ALPHABET = /^[0-9a-zA-Z-]+$/

function isLower (c: string): boolean { return c >= 'a' && c <= 'z' }
function isUpper (c: string): boolean { return c >= 'A' && c <= 'Z' }

/** The escape of an id, without regard to length. Ids are validated claims: anything else throws. */
export function escapeId (id: string): string {
  let out = ''
  for (const c of id) {
    if (isLower(c) || (c >= '1' && c <= '9')) out += c
    else if (isUpper(c)) out += `0${c.toLowerCase()}`
    else {
      const code = CODES[c]
      if (code === undefined) throw new Error(`character ${JSON.stringify(c)} cannot be in an id`)
      out += code
    }
  }
  return out
}

/** The escape, or its hashed form when longer than `room`. */
export function escapeForRoom (id: string, room: number): string {
  const escaped = escapeId(id)
  if (escaped.length <= room) return escaped
  const keep = room - HASH_MARK.length - HASH_HEX
  let cut = 0
  while (cut < escaped.length) {
    const step = escaped.charAt(cut) === '0' ? 2 : 1
    if (cut + step > keep) break
    cut += step
  }
  return escaped.slice(0, cut) + HASH_MARK + createHash('sha256').update(id, 'utf8').digest('hex').slice(0, HASH_HEX)
}

/** The id an unhashed escape came from; undefined for a hashed value or anything escape never returns. */
export function unescapeId (value: string): string | undefined {
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i)
    if (c !== '0') {
      if (!isLower(c) && !(c >= '1' && c <= '9')) return undefined
      out += c
      continue
    }
    const next = value.charAt(++i)
    if (isLower(next)) out += next.toUpperCase()
    else {
      const decoded = DECODE[next]
      if (decoded === undefined) return undefined // "09" (hashed), an unknown code, or a lone "0"
      out += decoded
    }
  }
  return out
}

/** True when the value is a hashed escape (the id cannot be read back from it). */
export function isHashed (value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    if (value.charAt(i) !== '0') continue
    if (value.charAt(i + 1) === '9') return true
    i++
  }
  return false
}

/** Ids inside a Key Vault name, with `room` characters for each. */
export function nameForm (room: number): IdForm {
  return {
    name: `key vault name id (${room})`,
    escape: id => escapeForRoom(id, room),
    language: { first: LOWER_ALNUM, middle: LOWER_ALNUM, last: LOWER_ALNUM, minLength: 1, maxLength: room },
    unescape: value => {
      if (value.length > room) return undefined
      const id = unescapeId(value)
      return id !== undefined && isValidId(id) && escapeId(id) === value ? id : undefined
    }
  }
}

/** Longest escape of a valid id (128 characters, each at most two). */
const MAX_ESCAPE = 256

/** Ids in tags-layout locators: the escape without hashing (the locator is no Key Vault name). */
export const TAG_LOCATOR_FORM: IdForm = {
  name: 'key vault tag id',
  escape: escapeId,
  language: { first: LOWER_ALNUM, middle: LOWER_ALNUM, last: LOWER_ALNUM, minLength: 1, maxLength: MAX_ESCAPE },
  unescape: value => {
    const id = unescapeId(value)
    return id !== undefined && isValidId(id) && escapeId(id) === value ? id : undefined
  }
}

// ---- templates per layout -------------------------------------------------------------------

/** PRODUCT.md's layout in Key Vault syntax: one secret per layer holding a secret document. */
export const DOCUMENT_DEFAULTS: Readonly<Record<string, string>> = {
  global: 'northflank--global',
  project: 'northflank-{projectId}',
  object: 'northflank-{projectId}-{nfObjectId}'
}

/** names layout: the same names as prefixes; every secret directly under a prefix is one entry. */
export const NAMES_DEFAULTS: Readonly<Record<string, string>> = {
  global: 'northflank--global-',
  project: 'northflank-{projectId}-',
  object: 'northflank-{projectId}-{nfObjectId}-'
}

/** tags layout: which tags select a layer's secrets (see tagGroupOf in tags-layout.ts). */
export const TAGS_DEFAULTS: Readonly<Record<string, string>> = {
  global: 'global',
  project: 'project/{projectId}',
  object: 'object/{projectId}/{nfObjectId}'
}

export const LAYOUT_DEFAULTS: Readonly<Record<Layout, Readonly<Record<string, string>>>> = {
  document: DOCUMENT_DEFAULTS,
  names: NAMES_DEFAULTS,
  tags: TAGS_DEFAULTS
}

const TAG_SHAPE = /^(global|project\/\{[A-Za-z]+\}|object\/\{[A-Za-z]+\}\/\{[A-Za-z]+\})$/

function placeholders (template: string): number {
  return [...template.matchAll(PLACEHOLDER)].length
}

function literalLength (template: string): number {
  return template.replace(PLACEHOLDER, '').length
}

/** Characters each placeholder of a name template may take, after the literal text (and the entry name in names layout). */
export function roomOf (template: string, layout: Layout): number {
  const count = placeholders(template)
  const budget = MAX_NAME_LENGTH - literalLength(template) - (layout === 'names' ? NAMES_REST_ROOM : 0)
  return count === 0 ? budget : Math.floor(budget / count)
}

/** Why a template is no locator of this layout, or undefined. */
export function templateProblem (template: string, layout: Layout): string | undefined {
  if (layout === 'tags') {
    return TAG_SHAPE.test(template) ? undefined : 'must be "global", "project/{claim}" or "object/{claim}/{claim}" in the tags layout'
  }
  const literal = template.replace(PLACEHOLDER, 'x')
  if (!NAME_ALPHABET.test(literal)) return `"${template}" has characters outside ${NAME_ALPHABET.source} (Key Vault names)`
  if (layout === 'names' && !template.endsWith('-')) return 'must end with "-" in the names layout (it is the prefix of the layer\'s secret names)'
  const room = roomOf(template, layout)
  const reserve = layout === 'names' ? ` and ${NAMES_REST_ROOM} for the entry name` : ''
  if (placeholders(template) === 0) {
    return room < 0 ? `is longer than ${MAX_NAME_LENGTH} characters${reserve}` : undefined
  }
  if (room < MIN_ROOM) return `leaves ${room} characters per placeholder (at least ${MIN_ROOM} needed: ${MAX_NAME_LENGTH} in a Key Vault name${reserve})`
  return undefined
}

/** The layer templates of a layout, parsed with the form each template's room allows, or the problems by key. */
export function compileTemplates (layout: Layout, locators: Readonly<Record<string, string>> | undefined, layers: readonly string[]): { templates: LayerTemplate[] } | { problems: KeyProblem[] } {
  const defaults = LAYOUT_DEFAULTS[layout]
  const templates: LayerTemplate[] = []
  const problems: KeyProblem[] = []
  for (const layer of layers) {
    const configured = locators?.[layer]
    const text = configured ?? defaults[layer]
    if (text === undefined) continue
    const key = `locators.${layer}`
    const problem = templateProblem(text, layout)
    if (problem !== undefined) {
      problems.push({ key, problem: configured === undefined ? `the default "${text}" ${problem}` : problem })
      continue
    }
    const form = layout === 'tags' ? TAG_LOCATOR_FORM : nameForm(roomOf(text, layout))
    templates.push({ layer, text, paths: [configured === undefined ? `${key} (default)` : key], parts: parseTemplate(text, form) })
  }
  return problems.length > 0 ? { problems } : { templates }
}
