// The start-up proof that no two identities share a locator, for the templates of one backend.
//
// Why it is sound. Each template, with every placeholder OCCURRENCE an independent variable over
// its form's language, is a regular language R(T) that contains every locator T can render (the
// form's language contains every value its escape returns). So:
//  - across layers: if the product automaton of R(A) and R(B) accepts nothing, no string is a
//    locator of both A and B;
//  - within a layer: two identities differing in a claim T uses give that claim's occurrences
//    different values (escape is injective), so their renderings are two runs of T's automaton
//    that differ somewhere. If the self-product never reaches acceptance with its "the runs
//    were in different states or read different characters" flag set, no two runs reading the
//    same string differ, so no such pair renders the same locator. (Runs that never differ give
//    every occurrence the same value; runs whose states differ segment the string differently,
//    so some occurrence's value differs.)
//  - ignoring case: the product reads two characters per step that are equal after folding
//    (per UTF-16 unit toLowerCase), so it accepts exactly the pairs equal ignoring case; ids that
//    differ only in case are then just another pair of runs that read different characters.
// Acceptance (no problem) therefore holds for every identity. A refusal is reported as
// 'ambiguous'/'overlap' only after the witness is turned into two real identities (unescape,
// isValidId, repeated claims agreeing) and renderParts shows their locators equal; otherwise it
// is 'unproven'. Where every claim occurs at most once per template and every unescape is total
// on its language (PLAIN_ID), every witness is realizable, so the decision is exact both ways;
// with repeated claims or hashed forms a refusal may be conservative ('unproven').
//
// How. Characters are grouped into classes no template can tell apart (same literal character,
// same membership of every first/middle/last set and forbidden pair), so the automata read
// classes, not characters; a placeholder state keeps only what its language needs of the last
// character, and states deeper into the same part share their moves, shifted. Only reachable
// product states are visited, breadth first (shortest witness first), with parent pointers to
// recover the string and both segmentations. If the first witness is not realizable, a second
// search lets up to WALKS_PER_SITE walks through each pair of positions, and tries up to
// MAX_WITNESSES differently segmented witnesses (so "{projectId}{nfObjectId}{projectId}" is
// still shown ambiguous: aa+a+aa = a+aaa+a) before answering 'unproven'.
// Measured (Node 20, a 2-CPU machine running 3x oversubscribed): the default three layers with
// PLAIN_ID (maxLength 128) take 6-7 ms of CPU on the first call in a fresh process (mostly JIT
// warm-up), 2-3 ms after; case-insensitively about 5 ms; six layers about 20 ms first, 3-5 ms
// after; the default layers with maxLength 1024 about 25 ms.
// Files: isolation-classes.ts (the alphabet and the product's letters), isolation-automaton.ts
// (one template's automaton), isolation-search.ts (the product search); this one runs the proof,
// turns witnesses into identities and writes the messages.
import { isValidId, type Identity } from './identity.js'
import { claimsOf, LAYER_SCOPES, renderParts, type Claim, type IdForm, type IdLanguage, type LayerTemplate } from './locator.js'
import { Automaton, buildLang, type APart, type Lang } from './isolation-automaton.js'
import { buildClasses, buildLetters, foldString, type Classes, type Letter } from './isolation-classes.js'
import { witnesses, type Witness } from './isolation-search.js'

export type IsolationProblem =
  | { kind: 'missing-scope', template: LayerTemplate, missing: Claim[] }
  | { kind: 'ambiguous', template: LayerTemplate, a: Identity, b: Identity, locator: string }
  | { kind: 'overlap', templates: [LayerTemplate, LayerTemplate], a: Identity, b: Identity, locator: string }
  | { kind: 'unproven', templates: LayerTemplate[], locator: string, why: string }

export interface IsolationOptions {
  /** The store compares locators ignoring case (Azure Key Vault secret names, for one). */
  caseInsensitive?: boolean
}

/** The id given to claims a template does not use, in every witness. */
const FILLER = 'x'
/** Witnesses tried before a refusal that no pair of real identities confirms becomes 'unproven'. */
const MAX_WITNESSES = 40
/** Product states explored before the proof gives up (refusing: acceptance must be proven). */
const MAX_STATES = 1_000_000
/** Looking for a witness that real identities confirm: walks per (part, length) pair, walks in all. */
const WALKS_PER_SITE = 8
const MAX_WALKS = 20_000

const CLAIM_NOUN: Record<Claim, string> = { projectId: 'projects', nfObjectId: 'objects', nfObjectType: 'object types' }
const SAMPLE: Record<Claim, [string, string]> = { projectId: ['p1', 'p2'], nfObjectId: ['o1', 'o2'], nfObjectType: ['t1', 't2'] }

// ---- witnesses to identities ----------------------------------------------------------------

type Realized = { ok: true, identity: Identity } | { ok: false, why: string }

function realize (template: LayerTemplate, values: Map<number, string>): Realized {
  const ids: Partial<Record<Claim, string>> = {}
  for (const [i, value] of values) {
    const part = template.parts[i]
    if (part === undefined || typeof part === 'string') continue
    const id = part.form.unescape(value)
    if (id === undefined || !isValidId(id)) return { ok: false, why: `form ${part.form.name} gives no id for ${JSON.stringify(value)}` }
    const before = ids[part.claim]
    if (before !== undefined && before !== id) return { ok: false, why: `{${part.claim}} would have to be both ${before} and ${id}` }
    ids[part.claim] = id
  }
  return { ok: true, identity: { projectId: ids.projectId ?? FILLER, nfObjectId: ids.nfObjectId ?? FILLER, nfObjectType: ids.nfObjectType ?? FILLER } }
}

interface Context {
  classes: Classes
  letters: Letter[]
  automata: Map<LayerTemplate, Automaton>
  pairings: Map<number, Int32Array>
  caseInsensitive: boolean
}

function sameLocator (x: string, y: string, ctx: Context): boolean {
  return ctx.caseInsensitive ? foldString(x) === foldString(y) : x === y
}

/** The problem a witness shows, or why it shows none. */
function verify (A: LayerTemplate, B: LayerTemplate, w: Witness, ctx: Context): IsolationProblem | string {
  const self = A === B
  const ra = realize(A, w.valuesA)
  if (!ra.ok) return ra.why
  const rb = realize(B, w.valuesB)
  if (!rb.ok) return rb.why
  const a = ra.identity
  const b = rb.identity
  const locator = renderParts(A.parts, a)
  const other = renderParts(B.parts, b)
  if (!sameLocator(locator, other, ctx)) return `the identities it gives render ${JSON.stringify(locator)} and ${JSON.stringify(other)}`
  if (self && !claimsOf(A.parts).some(claim => a[claim] !== b[claim])) return 'the identities it gives are the same'
  return self ? { kind: 'ambiguous', template: A, a, b, locator } : { kind: 'overlap', templates: [A, B], a, b, locator }
}

/**
 * Runs the product once over (the proof); if it finds a witness no pair of identities
 * confirms, looks at up to MAX_WITNESSES differently segmented ones before refusing as
 * 'unproven'.
 */
function check (A: LayerTemplate, B: LayerTemplate, ctx: Context): IsolationProblem | undefined {
  const self = A === B
  const autoA = ctx.automata.get(A) as Automaton
  const autoB = ctx.automata.get(B) as Automaton
  const templates = self ? [A] : [A, B]
  const first = witnesses(autoA, autoB, self, ctx.letters, ctx.pairings, 1, MAX_STATES).next()
  if (first.done === true) return undefined
  if (first.value === 'budget') return { kind: 'unproven', templates, locator: '', why: `the proof gave up after ${MAX_STATES} states` }
  const shown = verify(A, B, first.value, ctx)
  if (typeof shown !== 'string') return shown
  const refusal = { kind: 'unproven' as const, templates, locator: first.value.textA, why: shown }
  const tried = new Set<string>()
  for (const w of witnesses(autoA, autoB, self, ctx.letters, ctx.pairings, WALKS_PER_SITE, MAX_WALKS)) {
    if (w === 'budget') break
    const segmentation = JSON.stringify([...w.valuesA, ...w.valuesB])
    if (tried.has(segmentation)) continue
    tried.add(segmentation)
    const problem = verify(A, B, w, ctx)
    if (typeof problem !== 'string') return problem
    if (tried.size >= MAX_WITNESSES) break
  }
  return refusal
}

// ---- the proof ------------------------------------------------------------------------------

/** Every way the templates of one backend could give two identities one locator; [] when proven isolated. */
export function proveIsolation (templates: readonly LayerTemplate[], options: IsolationOptions = {}): IsolationProblem[] {
  const problems: IsolationProblem[] = []
  for (const template of templates) {
    if (!Object.hasOwn(LAYER_SCOPES, template.layer)) continue
    const used = claimsOf(template.parts)
    const missing = (LAYER_SCOPES[template.layer] ?? []).filter(claim => !used.includes(claim))
    if (missing.length > 0) problems.push({ kind: 'missing-scope', template, missing })
  }

  const literals = new Set<string>()
  const languages: IdLanguage[] = []
  for (const template of templates) {
    for (const part of template.parts) {
      if (typeof part === 'string') for (let k = 0; k < part.length; k++) literals.add(part.charAt(k))
      else if (!languages.includes(part.form.language)) languages.push(part.form.language)
    }
  }
  const classes = buildClasses(literals, languages)
  const langs = new Map<IdForm['language'], Lang>(languages.map(language => [language, buildLang(language, classes)]))
  const automata = new Map<LayerTemplate, Automaton>()
  const shapes = new Map<string, number>()
  for (const template of templates) {
    const parts = template.parts.map((part): APart => typeof part === 'string'
      ? { lit: Int32Array.from({ length: part.length }, (_, k) => classes.of.get(part.charAt(k)) ?? 0) }
      : { lang: langs.get(part.form.language) as Lang })
    automata.set(template, new Automaton(parts, classes, shapes))
  }
  const ctx: Context = { classes, letters: buildLetters(classes, options.caseInsensitive === true), automata, pairings: new Map(), caseInsensitive: options.caseInsensitive === true }

  for (const template of templates) {
    if (!template.parts.some(part => typeof part !== 'string')) continue
    const problem = check(template, template, ctx)
    if (problem !== undefined) problems.push(problem)
  }
  for (let i = 0; i < templates.length; i++) {
    for (let j = i + 1; j < templates.length; j++) {
      const problem = check(templates[i] as LayerTemplate, templates[j] as LayerTemplate, ctx)
      if (problem !== undefined) problems.push(problem)
    }
  }
  return problems
}

// ---- messages -------------------------------------------------------------------------------

function where (template: LayerTemplate): string {
  const paths = template.paths.length > 0 ? template.paths.join(' + ') : `layer ${template.layer}`
  return `${paths} (${JSON.stringify(template.text)})`
}

function who (identity: Identity): string {
  return `{projectId: ${identity.projectId}, nfObjectId: ${identity.nfObjectId}, nfObjectType: ${identity.nfObjectType}}`
}

/** `"x"`, or `"X" and "x", equal ignoring case` when the second rendering differs. */
function rendered (locator: string, other: string): string {
  return locator === other ? JSON.stringify(locator) : `${JSON.stringify(locator)} and ${JSON.stringify(other)} (equal ignoring case)`
}

/** One line: the template(s) with their config paths, and the concrete identities; nothing but ids and templates. */
export function formatIsolationProblem (problem: IsolationProblem): string {
  switch (problem.kind) {
    case 'missing-scope': {
      const { template, missing } = problem
      const claim = missing[0] as Claim
      const scope = LAYER_SCOPES[template.layer] ?? []
      const [one, two] = SAMPLE[claim]
      const base: Identity = { projectId: FILLER, nfObjectId: FILLER, nfObjectType: FILLER }
      const example = renderParts(template.parts, { ...base, [claim]: one })
      return `${where(template)} lacks ${missing.map(c => `{${c}}`).join(', ')}: layer ${template.layer} varies by ${scope.map(c => `{${c}}`).join(', ')}, ` +
        `so ${CLAIM_NOUN[claim]} ${one} and ${two} would share ${JSON.stringify(example)}`
    }
    case 'ambiguous': {
      const { template, a, b, locator } = problem
      return `${where(template)} renders ${rendered(locator, renderParts(template.parts, b))} for two identities: layer ${template.layer} for ${who(a)} and for ${who(b)}`
    }
    case 'overlap': {
      const [A, B] = problem.templates
      return `${where(A)} and ${where(B)} can both render ${rendered(problem.locator, renderParts(B.parts, problem.b))}: ` +
        `layer ${A.layer} for ${who(problem.a)}, layer ${B.layer} for ${who(problem.b)}`
    }
    case 'unproven': {
      const names = problem.templates.map(where).join(' and ')
      const found = problem.locator === '' ? '' : ` may render ${JSON.stringify(problem.locator)} for two identities, but`
      return `${names} could not be proven to keep identities apart:${found} ${problem.why}`
    }
  }
}
