// Locator templates: a layer becomes a store location through {projectId}, {nfObjectId}, {nfObjectType}.
// A template is parsed once at start-up into literal text and placeholders, each placeholder with
// the store's escape (an IdForm); the isolation proof (isolation.ts) reads the same parts that
// render the locator, so what is proven is what is served.
import { isValidId, type Identity } from './identity.js'

export const CLAIMS = ['projectId', 'nfObjectId', 'nfObjectType'] as const
export type Claim = typeof CLAIMS[number]
/** Kept for callers that only need the names. */
export const PLACEHOLDERS = CLAIMS
const PLACEHOLDER = /\{([^{}]*)\}/g

export const DEFAULT_LAYERS = ['global', 'project', 'object'] as const

/** The PRODUCT.md defaults, before a store writes them in its own syntax. */
export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = {
  global: 'northflank/_global',
  project: 'northflank/{projectId}/_shared',
  object: 'northflank/{projectId}/{nfObjectId}'
}

/** The claims a built-in layer varies by; a template of that layer must use each of them. */
export const LAYER_SCOPES: Readonly<Record<string, readonly Claim[]>> = {
  global: [],
  project: ['projectId'],
  object: ['projectId', 'nfObjectId']
}

/**
 * A regular language of strings, written the way store naming rules are: the characters allowed
 * first, in the middle and last, a length range, and two-character sequences that never occur.
 * Every string of it has length in [minLength, maxLength]; a one-character string must be in
 * both `first` and `last`.
 */
export interface IdLanguage {
  first: string
  middle: string
  last: string
  minLength: number
  maxLength: number
  /** Two-character substrings no member contains (ids never hold ".."). */
  forbiddenPairs?: readonly string[]
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-'
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Exactly the ids a token may carry: ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ without "..". */
export const ID_LANGUAGE: IdLanguage = { first: ALNUM, middle: ID_CHARS, last: ID_CHARS, minLength: 1, maxLength: 128, forbiddenPairs: ['..'] }

/**
 * How a store writes one id: `escape` must be injective; `language` contains every value
 * `escape` can return (it may contain more: the proof is then conservative); `unescape` gives
 * the id an escaped value came from, or undefined when it cannot tell (a hashed value), so a
 * collision found on escaped values can be turned into two real identities.
 */
export interface IdForm {
  name: string
  escape: (id: string) => string
  language: IdLanguage
  unescape: (value: string) => string | undefined
}

/** Ids as they are: the form of every store whose alphabet holds the id alphabet. */
export const PLAIN_ID: IdForm = {
  name: 'id',
  escape: id => id,
  language: ID_LANGUAGE,
  unescape: value => isValidId(value) ? value : undefined
}

export type TemplatePart = string | { claim: Claim, form: IdForm }

/** One layer's template of one backend, parsed, with where it came from for error messages. */
export interface LayerTemplate {
  layer: string
  /** The template as configured (or the default), for messages. */
  text: string
  /** Config paths the template is made of, e.g. ["backends[0].locators.project"] or "(default)". */
  paths: readonly string[]
  parts: readonly TemplatePart[]
}

/** Names of placeholders in a template that are not identity claims. */
export function unknownPlaceholders (template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)]
    .map(m => m[1] ?? '')
    .filter(name => !(CLAIMS as readonly string[]).includes(name))
}

/** The claims a template uses, in order of first use. */
export function claimsOf (parts: readonly TemplatePart[]): Claim[] {
  return [...new Set(parts.flatMap(p => typeof p === 'string' ? [] : [p.claim]))]
}

/** Splits a template into literal text and placeholders; unknown placeholders are the caller's to refuse first. */
export function parseTemplate (template: string, form: IdForm = PLAIN_ID): TemplatePart[] {
  const parts: TemplatePart[] = []
  let at = 0
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (match.index > at) parts.push(template.slice(at, match.index))
    parts.push({ claim: match[1] as Claim, form })
    at = match.index + match[0].length
  }
  if (at < template.length) parts.push(template.slice(at))
  return parts
}

/** The literal text of a template with every placeholder replaced by `fill`: for syntax checks. */
export function literalText (parts: readonly TemplatePart[], fill: (part: { claim: Claim, form: IdForm }) => string): string {
  return parts.map(p => typeof p === 'string' ? p : fill(p)).join('')
}

export function renderParts (parts: readonly TemplatePart[], identity: Identity): string {
  let out = ''
  for (const part of parts) out += typeof part === 'string' ? part : part.form.escape(identity[part.claim])
  return out
}

/** Fills a template string with plain ids (tests, docs). */
export function renderTemplate (template: string, identity: Identity, escape: (id: string) => string = id => id): string {
  return template.replace(PLACEHOLDER, (_, name: string) => escape(identity[name as Claim]))
}

export type Locate = (layer: string, identity: Identity) => string | undefined

/** A backend's locate(): the layer's parsed template filled for the identity, or undefined without one. */
export function locatorOf (templates: readonly LayerTemplate[]): Locate {
  const byLayer = new Map(templates.map(t => [t.layer, t.parts]))
  return (layer, identity) => {
    const parts = byLayer.get(layer)
    return parts === undefined ? undefined : renderParts(parts, identity)
  }
}
