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
import { isValidId, type Identity } from './identity.js'
import { claimsOf, LAYER_SCOPES, renderParts, type Claim, type IdForm, type IdLanguage, type LayerTemplate } from './locator.js'

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

function fold (unit: string): string {
  const lower = unit.toLowerCase()
  return lower.length === 1 ? lower : unit
}

function foldString (value: string): string {
  let out = ''
  for (let k = 0; k < value.length; k++) out += fold(value.charAt(k))
  return out
}

// ---- character classes ----------------------------------------------------------------------

interface Classes {
  count: number
  of: Map<string, number>
  members: string[][]
}

/** Preferred representatives: lower-case letters, digits, then the rest, upper case last. */
function rank (unit: string): number {
  if (unit >= 'a' && unit <= 'z') return 0
  if (unit >= '0' && unit <= '9') return 1
  if (unit >= 'A' && unit <= 'Z') return 3
  return unit.charCodeAt(0) < 128 ? 2 : 4
}

function buildClasses (literals: ReadonlySet<string>, languages: readonly IdLanguage[]): Classes {
  const units = new Set<string>(literals)
  for (const language of languages) for (const set of [language.first, language.middle, language.last]) for (let k = 0; k < set.length; k++) units.add(set.charAt(k))
  const ordered = [...units].sort((x, y) => rank(x) - rank(y) || x.charCodeAt(0) - y.charCodeAt(0))
  const forbidden = languages.map(language => new Set((language.forbiddenPairs ?? []).filter(pair => pair.length === 2)))
  const bySignature = new Map<string, number>()
  const of = new Map<string, number>()
  const members: string[][] = []
  for (const unit of ordered) {
    let signature = literals.has(unit) ? `L${unit}` : ''
    languages.forEach((language, j) => {
      signature += `|${language.first.includes(unit) ? 1 : 0}${language.middle.includes(unit) ? 1 : 0}${language.last.includes(unit) ? 1 : 0}`
      for (const pair of forbidden[j] ?? []) {
        if (pair.charAt(0) === unit) signature += `>${pair.charAt(1)}`
        if (pair.charAt(1) === unit) signature += `<${pair.charAt(0)}`
      }
    })
    let id = bySignature.get(signature)
    if (id === undefined) {
      id = members.length
      bySignature.set(signature, id)
      members.push([])
    }
    of.set(unit, id)
    members[id]?.push(unit)
  }
  return { count: members.length, of, members }
}

/** One step of a product: run A reads a character of class `a`, run B one of class `b`. */
interface Letter { a: number, b: number, x: string, y: string, differs: boolean }

function buildLetters (classes: Classes, caseInsensitive: boolean): Letter[] {
  const letters: Letter[] = []
  if (!caseInsensitive) {
    classes.members.forEach((units, id) => {
      const x = units[0]
      if (x !== undefined) letters.push({ a: id, b: id, x, y: x, differs: false })
    })
    return letters
  }
  const byFold = new Map<string, string[]>()
  for (const units of classes.members) {
    for (const unit of units) {
      const group = byFold.get(fold(unit))
      if (group === undefined) byFold.set(fold(unit), [unit])
      else group.push(unit)
    }
  }
  const seen = new Set<string>()
  for (const group of byFold.values()) {
    for (const x of group) {
      for (const y of group) {
        const a = classes.of.get(x) ?? 0
        const b = classes.of.get(y) ?? 0
        const key = `${a},${b},${x !== y}`
        if (seen.has(key)) continue
        seen.add(key)
        letters.push({ a, b, x, y, differs: x !== y })
      }
    }
  }
  return letters
}

// ---- one template's automaton ---------------------------------------------------------------

/** A language over classes; a placeholder state keeps the "last-character kind" (lc) only. */
interface Lang {
  min: number
  max: number
  first: Uint8Array
  /** A character of this class may be the last one. */
  last: Uint8Array
  /** ... may be a middle or the last one (pruning). */
  inner: Uint8Array
  lc: Int32Array
  lcMiddle: Uint8Array
  lcLast: Uint8Array
  /** lcForbids[lc * classes + next]: the pair is forbidden. */
  lcForbids: Uint8Array
}

function buildLang (language: IdLanguage, classes: Classes): Lang {
  const C = classes.count
  const first = new Uint8Array(C)
  const last = new Uint8Array(C)
  const inner = new Uint8Array(C)
  const lc = new Int32Array(C)
  const forbidden = new Set((language.forbiddenPairs ?? []).filter(pair => pair.length === 2))
  const kinds = new Map<string, number>()
  const kindRep: string[] = []
  classes.members.forEach((units, id) => {
    const unit = units[0] ?? ''
    const middle = language.middle.includes(unit)
    first[id] = language.first.includes(unit) ? 1 : 0
    last[id] = language.last.includes(unit) ? 1 : 0
    inner[id] = middle || last[id] === 1 ? 1 : 0
    let signature = `${middle ? 1 : 0}${last[id]}`
    for (const pair of forbidden) if (pair.charAt(0) === unit) signature += pair.charAt(1)
    let kind = kinds.get(signature)
    if (kind === undefined) {
      kind = kindRep.length
      kinds.set(signature, kind)
      kindRep.push(unit)
    }
    lc[id] = kind
  })
  const K = kindRep.length
  const lcMiddle = new Uint8Array(K)
  const lcLast = new Uint8Array(K)
  const lcForbids = new Uint8Array(K * C)
  kindRep.forEach((unit, kind) => {
    lcMiddle[kind] = language.middle.includes(unit) ? 1 : 0
    lcLast[kind] = language.last.includes(unit) ? 1 : 0
    classes.members.forEach((units, id) => { lcForbids[kind * C + id] = forbidden.has(unit + (units[0] ?? '')) ? 1 : 0 })
  })
  return { min: language.minLength, max: language.maxLength, first, last, inner, lc, lcMiddle, lcLast, lcForbids }
}

type APart = { lit: Int32Array } | { lang: Lang }

const START = 0

/**
 * What a state can read, with the classes that lead to the same states grouped (inside a
 * placeholder nearly every class does): class X leads to group groupOf[X] (-1: none), whose
 * states are to[k] for start[g] <= k < start[g + 1], plus the state's base where rel[k] is 1.
 * States that differ only in how far into a placeholder (or literal) they are share one
 * prototype: their moves are the same, shifted. `shape` numbers the groupOf pattern: states
 * of one shape pair with the letters the same way.
 */
interface Proto { groupOf: Int32Array, groups: number, start: Int32Array, to: Int32Array, rel: Uint8Array, shape: number }
interface Moves { proto: Proto, base: number, accepting: boolean }

/**
 * States: START, or (part i, n characters of part i read, lc of the last one) encoded as one
 * number, 1 + (i * (M + 1) + n) * K + lc; next(s) gives what s can read and whether it accepts,
 * memoised (only reachable states are built).
 */
class Automaton {
  readonly size: number
  private readonly M: number
  private readonly K: number
  private readonly C: number
  private readonly memo = new Map<number, Moves>()
  private readonly protos = new Map<string, Proto>()
  /** While building a prototype: per class, its targets as target * 2 + rel. */
  private readonly scratch: number[][]

  constructor (readonly parts: readonly APart[], classes: Classes, private readonly shapes: Map<string, number>) {
    this.C = classes.count
    let M = 1
    let K = 1
    for (const part of parts) {
      if ('lit' in part) M = Math.max(M, part.lit.length)
      else {
        M = Math.max(M, part.lang.max)
        K = Math.max(K, part.lang.lcMiddle.length)
      }
    }
    this.M = M
    this.K = K
    this.size = 1 + parts.length * (M + 1) * K
    this.scratch = Array.from({ length: this.C }, () => [])
  }

  private enc (i: number, n: number, lc: number): number { return 1 + (i * (this.M + 1) + n) * this.K + lc }

  /** The state with its last-character kind dropped: where the run is. */
  site (s: number): number { return s === START ? s : s - ((s - 1) % this.K) }

  /** Part index, characters read in it, lc. */
  decode (s: number): [number, number, number] {
    const r = s - 1
    const lc = r % this.K
    const rest = (r - lc) / this.K
    const n = rest % (this.M + 1)
    return [(rest - n) / (this.M + 1), n, lc]
  }

  private canSkip (from: number): boolean {
    for (let j = from; j < this.parts.length; j++) {
      const part = this.parts[j] as APart
      if ('lit' in part ? part.lit.length > 0 : part.lang.min > 0 || part.lang.min > part.lang.max) return false
    }
    return true
  }

  private move (X: number, to: number, rel: boolean): void {
    this.scratch[X]?.push(to * 2 + (rel ? 1 : 0))
  }

  /** The first characters of part `from` (and of the parts after it that may be empty). */
  private enter (from: number): void {
    for (let j = from; j < this.parts.length; j++) {
      const part = this.parts[j] as APart
      if ('lit' in part) {
        const c = part.lit[0]
        if (c === undefined) continue
        this.move(c, this.enc(j, 1, 0), false)
        return
      }
      const L = part.lang
      if (L.min > L.max) return
      if (L.max >= 1) {
        for (let X = 0; X < this.C; X++) if (L.first[X] === 1 && (L.max > 1 || L.last[X] === 1)) this.move(X, this.enc(j, 1, L.lc[X] ?? 0), false)
      }
      if (L.min > 0) return
    }
  }

  next (s: number): Moves {
    const memo = this.memo.get(s)
    if (memo !== undefined) return memo
    let moves: Moves
    if (s === START) moves = { proto: this.proto('start', () => this.enter(0)), base: 0, accepting: this.canSkip(0) }
    else {
      const [i, n, lc] = this.decode(s)
      const part = this.parts[i] as APart
      const base = this.enc(i, n, 0)
      if ('lit' in part) {
        const c = part.lit[n]
        // Inside a literal: the next character, one state on (base + K).
        moves = c !== undefined
          ? { proto: this.proto(`l${c}`, () => this.move(c, this.K, true)), base, accepting: false }
          : { proto: this.proto(`e${i}`, () => this.enter(i + 1)), base, accepting: this.canSkip(i + 1) }
      } else {
        const L = part.lang
        const extend = n < L.max && (n === 1 || L.lcMiddle[lc] === 1)
        const exit = n >= L.min && L.lcLast[lc] === 1
        const lastOne = n + 1 === L.max
        moves = {
          proto: this.proto(`p${i},${lc},${extend ? 1 : 0}${exit ? 1 : 0}${lastOne ? 1 : 0}`, () => {
            if (extend) {
              const allowed = lastOne ? L.last : L.inner
              for (let X = 0; X < this.C; X++) {
                // (i, n + 1, lc of X) is base + K + that lc.
                if (allowed[X] === 1 && L.lcForbids[lc * this.C + X] === 0) this.move(X, this.K + (L.lc[X] ?? 0), true)
              }
            }
            if (exit) this.enter(i + 1)
          }),
          base,
          accepting: exit && this.canSkip(i + 1)
        }
      }
    }
    this.memo.set(s, moves)
    return moves
  }

  /** The prototype of that key, built by `fill` (which calls move) the first time. */
  private proto (key: string, fill: () => void): Proto {
    const known = this.protos.get(key)
    if (known !== undefined) return known
    fill()
    const groupOf = new Int32Array(this.C).fill(-1)
    const byTargets = new Map<string, number>()
    const lists: number[][] = []
    for (let X = 0; X < this.C; X++) {
      const list = this.scratch[X] as number[]
      if (list.length === 0) continue
      const targets = list.join(',')
      let g = byTargets.get(targets)
      if (g === undefined) {
        byTargets.set(targets, g = lists.length)
        lists.push([...list])
      }
      groupOf[X] = g
      list.length = 0
    }
    const start = new Int32Array(lists.length + 1)
    lists.forEach((list, g) => { start[g + 1] = (start[g] ?? 0) + list.length })
    const flat = lists.flat()
    const pattern = groupOf.join(',')
    let shape = this.shapes.get(pattern)
    if (shape === undefined) this.shapes.set(pattern, shape = this.shapes.size)
    const proto: Proto = {
      groupOf,
      groups: lists.length,
      start,
      to: Int32Array.from(flat, v => Math.floor(v / 2)),
      rel: Uint8Array.from(flat, v => v % 2),
      shape
    }
    this.protos.set(key, proto)
    return proto
  }
}

// ---- product search -------------------------------------------------------------------------

/**
 * The distinct (group of A, group of B, differs) a letter leads to from states of these two
 * shapes, as flat triples (gA, gB, letter index); letters with the same triple reach the same
 * product states, so the search follows one of them.
 */
function pairingOf (ma: Proto, mb: Proto, letters: readonly Letter[], pairings: Map<number, Int32Array>): Int32Array {
  const key = ma.shape * 2 ** 26 + mb.shape
  const known = pairings.get(key)
  if (known !== undefined) return known
  const seen = new Set<number>()
  const out: number[] = []
  letters.forEach((letter, l) => {
    const gA = ma.groupOf[letter.a] as number
    const gB = mb.groupOf[letter.b] as number
    if (gA < 0 || gB < 0) return
    const slot = (gA * mb.groups + gB) * 2 + (letter.differs ? 1 : 0)
    if (seen.has(slot)) return
    seen.add(slot)
    out.push(gA, gB, l)
  })
  const pairing = Int32Array.from(out)
  pairings.set(key, pairing)
  return pairing
}

interface Witness {
  /** What run A read, and the value of each of A's placeholder parts (by part index). */
  textA: string
  valuesA: Map<number, string>
  textB: string
  valuesB: Map<number, string>
}

function valuesOf (auto: Automaton, states: readonly number[], text: string): Map<number, string> {
  const values = new Map<number, string>()
  auto.parts.forEach((part, i) => { if (!('lit' in part)) values.set(i, '') })
  states.forEach((s, k) => {
    const [i] = auto.decode(s)
    const value = values.get(i)
    if (value !== undefined) values.set(i, value + text.charAt(k))
  })
  return values
}

/**
 * Accepting paths of the reachable product, shortest first; 'budget' if it grew too large.
 * With perSite 1 every product state is visited once: the proof, and the first witness. With
 * perSite k, up to k walks reach each pair of sites (part, length) whatever their last
 * characters, so further, differently segmented witnesses come out (the product has no
 * cycles: every step moves both runs forward).
 */
function * witnesses (A: Automaton, B: Automaton, self: boolean, letters: readonly Letter[], pairings: Map<number, Int32Array>, perSite: number, budget: number): Generator<Witness | 'budget'> {
  const SB = B.size
  const seen = new Set<number>([0])
  const visits = new Map<number, number>()
  const children = new Set<number>()
  const na: number[] = [START]
  const nb: number[] = [START]
  const nf: number[] = [0]
  const parent: number[] = [-1]
  const via: number[] = [-1]
  for (let h = 0; h < na.length; h++) {
    const a = na[h] as number
    const b = nb[h] as number
    const f = nf[h] as number
    const ma = A.next(a)
    const mb = B.next(b)
    if ((!self || f === 1) && ma.accepting && mb.accepting) {
      const statesA: number[] = []
      const statesB: number[] = []
      let textA = ''
      let textB = ''
      for (let k = h; parent[k] !== -1; k = parent[k] as number) {
        const letter = letters[via[k] as number] as Letter
        statesA.push(na[k] as number)
        statesB.push(nb[k] as number)
        textA = letter.x + textA
        textB = letter.y + textB
      }
      statesA.reverse()
      statesB.reverse()
      yield { textA, valuesA: valuesOf(A, statesA, textA), textB, valuesB: valuesOf(B, statesB, textB) }
    }
    if (na.length > budget) {
      yield 'budget'
      return
    }
    const pa = ma.proto
    const pb = mb.proto
    if (pa.groups === 0 || pb.groups === 0) continue
    const pairing = pairingOf(pa, pb, letters, pairings)
    children.clear()
    for (let k = 0; k < pairing.length; k += 3) {
      const gA = pairing[k] as number
      const gB = pairing[k + 1] as number
      const l = pairing[k + 2] as number
      const differs = (letters[l] as Letter).differs
      const endA = pa.start[gA + 1] as number
      const endB = pb.start[gB + 1] as number
      for (let ka = pa.start[gA] as number; ka < endA; ka++) {
        const a2 = (pa.to[ka] as number) + (pa.rel[ka] === 1 ? ma.base : 0)
        for (let kb = pb.start[gB] as number; kb < endB; kb++) {
          const b2 = (pb.to[kb] as number) + (pb.rel[kb] === 1 ? mb.base : 0)
          const f2 = self && (f === 1 || a2 !== b2 || differs) ? 1 : 0
          if (perSite === 1) {
            const key = (a2 * SB + b2) * 2 + f2
            if (seen.has(key)) continue
            seen.add(key)
          } else {
            // One child per pair of sites: walks that differ only in a character's kind are
            // the same segmentation, and would crowd out the ones that differ.
            const key = (A.site(a2) * SB + B.site(b2)) * 2 + f2
            if (children.has(key)) continue
            children.add(key)
            const count = visits.get(key) ?? 0
            if (count >= perSite) continue
            visits.set(key, count + 1)
          }
          na.push(a2)
          nb.push(b2)
          nf.push(f2)
          parent.push(h)
          via.push(l)
        }
      }
    }
  }
}

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
