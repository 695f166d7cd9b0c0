// One template's automaton over character classes, for the isolation proof (src/core/isolation.ts).
import type { IdLanguage } from './locator.js'
import type { Classes } from './isolation-classes.js'

/** A language over classes; a placeholder state keeps the "last-character kind" (lc) only. */
export interface Lang {
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

export function buildLang (language: IdLanguage, classes: Classes): Lang {
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

export type APart = { lit: Int32Array } | { lang: Lang }

export const START = 0

/**
 * What a state can read, with the classes that lead to the same states grouped (inside a
 * placeholder nearly every class does): class X leads to group groupOf[X] (-1: none), whose
 * states are to[k] for start[g] <= k < start[g + 1], plus the state's base where rel[k] is 1.
 * States that differ only in how far into a placeholder (or literal) they are share one
 * prototype: their moves are the same, shifted. `shape` numbers the groupOf pattern: states
 * of one shape pair with the letters the same way.
 */
export interface Proto { groupOf: Int32Array, groups: number, start: Int32Array, to: Int32Array, rel: Uint8Array, shape: number }
interface Moves { proto: Proto, base: number, accepting: boolean }

/**
 * States: START, or (part i, n characters of part i read, lc of the last one) encoded as one
 * number, 1 + (i * (M + 1) + n) * K + lc; next(s) gives what s can read and whether it accepts,
 * memoised (only reachable states are built).
 */
export class Automaton {
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
