// The product search of the isolation proof (src/core/isolation.ts): accepting paths of the
// product of two templates' automata, shortest first, as witnesses.
import { START, type Automaton, type Proto } from './isolation-automaton.js'
import type { Letter } from './isolation-classes.js'

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

export interface Witness {
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
export function * witnesses (A: Automaton, B: Automaton, self: boolean, letters: readonly Letter[], pairings: Map<number, Int32Array>, perSite: number, budget: number): Generator<Witness | 'budget'> {
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
