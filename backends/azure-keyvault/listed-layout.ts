// A read in the layouts that find their secrets in the vault's listing (names, tags): look the
// layer up in the property index (no store call while it is fresh), skip secrets that are
// disabled, expired or not yet valid, fetch the values that changed, and check each answer again
// (a secret can change between the listing and the GET; what the GET says wins).
import type { Logger } from 'pino'
import type { ReadResult } from '../../src/store/port.js'
import { inactiveReason, type CallBudget } from './client.js'
import { groupsOf, type IndexedSecret, type PropertyIndex } from './property-index.js'
import { entryOf, LayerEntries } from './secret-entries.js'
import type { ValueCache } from './values.js'

export interface ListedLayout {
  name: 'names' | 'tags'
  /** The locator (group key) a secret belongs to, from its name and tags; undefined: no layer's. */
  groupOf: (name: string, tags: Readonly<Record<string, string>>) => string | undefined
  /** The group key a rendered locator is looked up under. */
  groupOfLocator: (locator: string) => string
  /** The ENV key a secret's name gives when no nf-env tag names one. */
  nameKey: (name: string) => string
  /** Tags the layout reads itself (not entry attributes). */
  layoutTags: ReadonlySet<string>
}

export interface ListedDeps {
  layout: ListedLayout
  index: PropertyIndex
  values: ValueCache
  logger: Logger
}

function byName (a: IndexedSecret, b: IndexedSecret): number {
  return a.lower < b.lower ? -1 : a.lower > b.lower ? 1 : 0
}

export async function readListed ({ layout, index, values, logger }: ListedDeps, locator: string, budget: CallBudget): Promise<ReadResult> {
  const listing = await index.current(budget.signal)
  const key = layout.groupOfLocator(locator)
  const group = groupsOf(listing, layout.name, secret => layout.groupOf(secret.name, secret.tags)).get(key)
  if (group === undefined || group.length === 0) return { found: false }
  const now = Date.now()
  const active = group.filter(secret => {
    const why = inactiveReason(secret, now)
    if (why !== undefined) logger.debug({ secret: secret.name, locator, why }, 'key vault secret skipped')
    return why === undefined
  }).sort(byName)
  const fetched = await values.values(active, budget)
  const layer = new LayerEntries()
  active.forEach((secret, i) => {
    const answer = fetched[i]
    if (answer === undefined || answer.kind === 'absent') {
      logger.debug({ secret: secret.name, locator, why: answer?.why ?? 'missing' }, 'key vault secret skipped')
      return
    }
    const why = inactiveReason(answer, Date.now()) ?? (layout.groupOf(answer.name, answer.tags) === key ? undefined : 'no longer in this layer')
    if (why !== undefined) {
      logger.debug({ secret: secret.name, locator, why }, 'key vault secret skipped')
      return
    }
    layer.add(answer.name, entryOf(answer.value, answer.tags, layout.nameKey(answer.name), layout.layoutTags))
  })
  if (layer.entries.length === 0 && layer.invalid.length === 0) return { found: false }
  return { found: true, entries: layer.entries, invalid: layer.invalid }
}
