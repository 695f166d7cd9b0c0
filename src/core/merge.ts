// Merges layer reads: later layers (and, within a layer, later backends) win; output order is fixed.
import { entryName, type Entry, type Source } from './entries.js'

export interface LayerRead extends Source {
  entries: Entry[]
}

export interface ResolvedEntry {
  entry: Entry
  source: Source
}

/** `reads` must be least specific first: layer order, then backend order within a layer. */
export function mergeLayers (reads: readonly LayerRead[]): ResolvedEntry[] {
  const env = new Map<string, ResolvedEntry>()
  const files = new Map<string, ResolvedEntry>()
  for (const read of reads) {
    const source: Source = { layer: read.layer, backend: read.backend, locator: read.locator }
    for (const entry of read.entries) {
      (entry.type === 'ENV' ? env : files).set(entryName(entry), { entry, source })
    }
  }
  return [...sortedByName(env), ...sortedByName(files)]
}

// Code-unit order (String comparison), not locale order, so every replica answers identically.
function sortedByName (byName: Map<string, ResolvedEntry>): ResolvedEntry[] {
  return [...byName.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(name => byName.get(name) as ResolvedEntry)
}
