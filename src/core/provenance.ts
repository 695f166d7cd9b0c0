// Where each entry of an answer came from, for `resolve`: the winner of every ENV key and FILE path
// with every entry it overrode, FILE attributes, the entries skipped; and the comparison of two
// identities' answers. Pure: the same rule as mergeLayers (later reads win), no store, no clock.
import { createHmac } from 'node:crypto'
import { entryName, type Entry, type InvalidEntry, type OwnerPolicy, type Permissions, type Source } from './entries.js'

/** One planned read and what it returned (ReadResult's shape), in plan order: least specific first. */
export interface TracedRead extends Source {
  result: { found: true, entries: readonly Entry[], invalid: readonly InvalidEntry[] } | { found: false }
}

/** A FILE's attributes as Northflank gets them; null where the document sets none. */
export interface FileAttributes {
  encoding: 'utf-8' | 'base64'
  permissions: Permissions | null
  owner: OwnerPolicy | null
  group: OwnerPolicy | null
}

/** What can differ between two entries of one name. */
export type Aspect = 'value' | 'encoding' | 'permissions' | 'owner' | 'group'

export interface Contribution {
  source: Source
  entry: Entry
  /** fingerprint(entry): equal for equal values (FILE: equal bytes), see fingerprinter(). */
  fingerprint: string
  /** FILE only. */
  attributes?: FileAttributes
}

export interface Overridden extends Contribution {
  /** What the winner changed compared with this entry; empty: the override changed nothing. */
  changed: Aspect[]
}

export interface TracedEntry extends Contribution {
  type: Entry['type']
  name: string
  /** Every entry of this name the winner beat, least specific first. */
  overrides: Overridden[]
}

export interface Trace {
  /** The answer's entries in answer order (ENV by key, then FILE by path). */
  entries: TracedEntry[]
  invalid: Array<InvalidEntry & { source: Source }>
}

export type Fingerprint = (entry: Entry) => string

/**
 * HMAC-SHA256 of the value (FILE: of the bytes the file will hold, base64 decoded), keyed, cut to
 * 48 bits. With a key made at random for one run and never printed, equal fingerprints show equal
 * values within that run, and a short or guessable value cannot be found by hashing guesses.
 */
export function fingerprinter (key: Uint8Array): Fingerprint {
  return entry => {
    const bytes = entry.type === 'ENV' ? Buffer.from(entry.value, 'utf8') : Buffer.from(entry.data, entry.encoding === 'base64' ? 'base64' : 'utf8')
    return `hmac:${createHmac('sha256', key).update(bytes).digest('hex').slice(0, 12)}`
  }
}

export function fileAttributes (entry: Entry): FileAttributes | undefined {
  if (entry.type !== 'FILE') return undefined
  return { encoding: entry.encoding, permissions: entry.permissions ?? null, owner: entry.owner ?? null, group: entry.group ?? null }
}

/** A mode as four octal digits: "400", "0400" and 256 are all "0400". */
export function octalMode (mode: string | number): string {
  return (typeof mode === 'number' ? mode.toString(8) : mode).padStart(4, '0')
}

function sameOwner (a: OwnerPolicy | null, b: OwnerPolicy | null): boolean {
  if (a === null || b === null) return a === b
  return a.policy === b.policy && ('value' in a ? a.value : undefined) === ('value' in b ? b.value : undefined)
}

function samePermissions (a: Permissions | null, b: Permissions | null): boolean {
  if (a === null || b === null) return a === b
  return a.policy === b.policy && octalMode(a.mode) === octalMode(b.mode)
}

/** What differs between two contributions of one name, in a fixed order. */
export function changes (a: Contribution, b: Contribution): Aspect[] {
  const changed: Aspect[] = []
  if (a.fingerprint !== b.fingerprint) changed.push('value')
  const x = a.attributes
  const y = b.attributes
  if (x === undefined || y === undefined) return changed
  if (x.encoding !== y.encoding) changed.push('encoding')
  if (!samePermissions(x.permissions, y.permissions)) changed.push('permissions')
  if (!sameOwner(x.owner, y.owner)) changed.push('owner')
  if (!sameOwner(x.group, y.group)) changed.push('group')
  return changed
}

// Code-unit order, as the answer (src/core/merge.ts).
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** `reads` in plan order: layer order, then backend order within a layer. Later reads win. */
export function traceAnswer (reads: readonly TracedRead[], fingerprint: Fingerprint): Trace {
  const env = new Map<string, Contribution[]>()
  const files = new Map<string, Contribution[]>()
  const invalid: Trace['invalid'] = []
  for (const read of reads) {
    if (!read.result.found) continue
    const source: Source = { layer: read.layer, backend: read.backend, locator: read.locator }
    for (const bad of read.result.invalid) invalid.push({ ...bad, source })
    for (const entry of read.result.entries) {
      const byType = entry.type === 'ENV' ? env : files
      const name = entryName(entry)
      const contribution: Contribution = { source, entry, fingerprint: fingerprint(entry) }
      const attributes = fileAttributes(entry)
      if (attributes !== undefined) contribution.attributes = attributes
      const list = byType.get(name)
      if (list === undefined) byType.set(name, [contribution])
      else list.push(contribution)
    }
  }
  const traced = (byType: Map<string, Contribution[]>): TracedEntry[] => [...byType.keys()].sort(byName).map(name => {
    const list = byType.get(name) as Contribution[]
    const winner = list[list.length - 1] as Contribution
    return {
      type: winner.entry.type,
      name,
      ...winner,
      overrides: list.slice(0, -1).map(loser => ({ ...loser, changed: changes(loser, winner) }))
    }
  })
  return { entries: [...traced(env), ...traced(files)], invalid }
}

export interface Compared {
  type: Entry['type']
  name: string
  a: TracedEntry
  b: TracedEntry
  /** What B's entry has different from A's; empty: both workloads get the same thing. */
  changed: Aspect[]
  /** The winners come from a different layer or backend (locators differ with the identity anyway). */
  sourceDiffers: boolean
}

export interface TraceDiff {
  onlyInA: TracedEntry[]
  onlyInB: TracedEntry[]
  /** Same name, different value or attributes. */
  different: Compared[]
  /** Same value and attributes, from a different layer or backend. */
  sameValueDifferentSource: Compared[]
  /** Same value and attributes from the same layer and backend. */
  same: Compared[]
}

/** Compares two traces made with the same fingerprint function (one run), in answer order. */
export function diffTraces (a: Trace, b: Trace): TraceDiff {
  const key = (e: TracedEntry): string => `${e.type}\0${e.name}`
  const inB = new Map(b.entries.map(e => [key(e), e]))
  const inA = new Map(a.entries.map(e => [key(e), e]))
  const diff: TraceDiff = { onlyInA: [], onlyInB: b.entries.filter(e => !inA.has(key(e))), different: [], sameValueDifferentSource: [], same: [] }
  for (const ea of a.entries) {
    const eb = inB.get(key(ea))
    if (eb === undefined) {
      diff.onlyInA.push(ea)
      continue
    }
    const compared: Compared = {
      type: ea.type,
      name: ea.name,
      a: ea,
      b: eb,
      changed: changes(ea, eb),
      sourceDiffers: ea.source.layer !== eb.source.layer || ea.source.backend !== eb.source.backend
    }
    if (compared.changed.length > 0) diff.different.push(compared)
    else if (compared.sourceDiffers) diff.sameValueDifferentSource.push(compared)
    else diff.same.push(compared)
  }
  return diff
}

/** True when both identities get exactly the same secrets (sources aside). */
export function sameAnswer (diff: TraceDiff): boolean {
  return diff.onlyInA.length === 0 && diff.onlyInB.length === 0 && diff.different.length === 0
}
