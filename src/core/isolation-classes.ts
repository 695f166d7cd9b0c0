// The isolation proof's alphabet (src/core/isolation.ts): characters grouped into classes no
// template can tell apart, and the letters a product of two runs reads (pairs of classes; with
// case folding, pairs equal ignoring case).
import type { IdLanguage } from './locator.js'

function fold (unit: string): string {
  const lower = unit.toLowerCase()
  return lower.length === 1 ? lower : unit
}

export function foldString (value: string): string {
  let out = ''
  for (let k = 0; k < value.length; k++) out += fold(value.charAt(k))
  return out
}

export interface Classes {
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

export function buildClasses (literals: ReadonlySet<string>, languages: readonly IdLanguage[]): Classes {
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
export interface Letter { a: number, b: number, x: string, y: string, differs: boolean }

export function buildLetters (classes: Classes, caseInsensitive: boolean): Letter[] {
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
