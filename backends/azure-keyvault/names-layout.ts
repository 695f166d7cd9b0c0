// names layout: a layer's locator is a name prefix ending in "-" (northflank-{projectId}-); every
// secret whose name is that prefix plus a rest without "-" is one entry of the layer. A rest with
// a "-" belongs to a longer prefix, i.e. to another layer or identity, and is never served here;
// so the layer a secret belongs to is its name up to its last "-", and distinct prefixes (what
// the isolation proof shows) never share a secret.
import type { ListedLayout } from './listed-layout.js'

/** The prefix a secret name belongs to: the name up to and including its last "-" (lower-cased). */
export function prefixOf (name: string): string | undefined {
  const cut = name.lastIndexOf('-')
  if (cut < 0 || cut === name.length - 1) return undefined
  return name.slice(0, cut + 1).toLowerCase()
}

export const NAMES_LAYOUT: ListedLayout = {
  name: 'names',
  groupOf: (name) => prefixOf(name),
  groupOfLocator: locator => locator.toLowerCase(),
  // The rest after the prefix, upper-cased: instance-abc-dburi -> DBURI.
  nameKey: name => name.slice(name.lastIndexOf('-') + 1).toUpperCase(),
  layoutTags: new Set()
}
