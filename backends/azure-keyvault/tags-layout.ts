// tags layout: a layer's secrets are the ones tagged for it, whatever their names:
//   nf-scope=global (and no nf-project / nf-object)      -> locator "global"
//   nf-project=P (and no nf-object)                        -> locator "project/<P>"
//   nf-project=P and nf-object=O                           -> locator "object/<P>/<O>"
// Each secret belongs to at most one locator, computed from its tags alone, so layers and
// identities never share a secret; tag values are compared exactly (ids are case-sensitive).
// In locators the ids are written with the Key Vault escape (names.ts, unhashed), which keeps
// them lower-case so the case-insensitive isolation proof applies to this layout too.
import { isValidId } from '../../src/core/identity.js'
import type { ListedLayout } from './listed-layout.js'
import { escapeId } from './names.js'

export const LAYER_TAGS = { scope: 'nf-scope', project: 'nf-project', object: 'nf-object' } as const

/** The locator a secret's tags put it in, or undefined (not for any layer, or contradictory tags). */
export function tagGroupOf (tags: Readonly<Record<string, string>>): string | undefined {
  const scope = tags[LAYER_TAGS.scope]
  const project = tags[LAYER_TAGS.project]
  const object = tags[LAYER_TAGS.object]
  if (scope !== undefined) return scope === 'global' && project === undefined && object === undefined ? 'global' : undefined
  if (project === undefined || !isValidId(project)) return undefined
  if (object === undefined) return `project/${escapeId(project)}`
  return isValidId(object) ? `object/${escapeId(project)}/${escapeId(object)}` : undefined
}

export const TAGS_LAYOUT: ListedLayout = {
  name: 'tags',
  groupOf: (_name, tags) => tagGroupOf(tags),
  groupOfLocator: locator => locator,
  // The name upper-cased, "-" as "_": db-url -> DB_URL.
  nameKey: name => name.toUpperCase().replace(/-/g, '_'),
  layoutTags: new Set(Object.values(LAYER_TAGS))
}
