// One listing of a vault's secret properties (names, tags, attributes; never values), kept in
// memory for the names and tags layouts and refreshed in the background. Reads look layers up in
// it, so a read costs no LIST while the index is fresh, whatever the size of the vault.
//  - every indexRefreshSeconds a refresh lists all pages (single-flight: one listing at a time);
//  - the first read (and ready()) waits for the first listing;
//  - a listing older than staleLimitMs is not served: reads wait for a new one, and fail if it
//    fails (the service cache may then serve its stale copy);
//  - after a failed listing, reads that find no usable one fail at once for retryDelayMs instead
//    of each starting another listing of every page.
import type { Logger } from 'pino'
import { isStoreError, storeError, type StoreError } from '../../src/store/errors.js'
import { withTimeout } from '../../src/store/call-deadline.js'
import { keyVaultStoreError } from './client.js'
import type { SecretProperties } from '@azure/keyvault-secrets'

export interface IndexedSecret {
  name: string
  /** Lower-cased name: Key Vault compares names ignoring case. */
  lower: string
  enabled?: boolean
  notBefore?: Date
  expiresOn?: Date
  /** Epoch ms of the latest version's last change (Key Vault keeps whole seconds). */
  updated: number
  tags: Readonly<Record<string, string>>
}

export interface Listing {
  secrets: readonly IndexedSecret[]
  /** Epoch ms when the listing started (what it shows is at least this recent). */
  at: number
  /** Pages fetched, for the log and the measurements. */
  pages: number
  ms: number
  /** Per layout, secrets grouped by the locator they belong to (built once per listing). */
  groups: Map<string, Map<string, IndexedSecret[]>>
}

export interface IndexOptions {
  list: (signal: AbortSignal) => AsyncIterable<SecretProperties[]>
  refreshMs: number
  staleLimitMs: number
  timeoutMs: number
  retryDelayMs: number
  logger: Logger
  what: string
}

export function indexedSecret (p: SecretProperties): IndexedSecret {
  return {
    name: p.name,
    lower: p.name.toLowerCase(),
    ...(p.enabled === undefined ? {} : { enabled: p.enabled }),
    ...(p.notBefore === undefined ? {} : { notBefore: p.notBefore }),
    ...(p.expiresOn === undefined ? {} : { expiresOn: p.expiresOn }),
    updated: p.updatedOn?.getTime() ?? 0,
    tags: { ...(p.tags ?? {}) }
  }
}

/** A store error of its own per read: the resolver labels it with the read's layer and locator. */
function copy (err: StoreError): StoreError {
  return storeError(err.kind, err.message.replace(/^[^:]*: /, ''))
}

export class PropertyIndex {
  private listing: Listing | undefined
  private inflight: { id: number, promise: Promise<Listing> } | undefined
  /** Listings started so far (ids), to tell the ones started before a call from the ones after. */
  private listings = 0
  private failure: { at: number, error: StoreError } | undefined
  private readonly timer: NodeJS.Timeout
  private readonly closed = new AbortController()

  constructor (private readonly options: IndexOptions) {
    this.timer = setInterval(() => { this.join().catch(() => {}) }, options.refreshMs)
    this.timer.unref()
    this.join().catch(() => {})
  }

  /** A listing fresh enough to serve, waiting for one if needed (bounded by `signal`). */
  async current (signal: AbortSignal): Promise<Listing> {
    signal.throwIfAborted()
    const listing = this.listing
    if (listing !== undefined && Date.now() - listing.at <= this.options.staleLimitMs) return listing
    const failure = this.failure
    if (this.inflight === undefined && failure !== undefined && Date.now() - failure.at < this.options.retryDelayMs) throw copy(failure.error)
    const pending = this.join()
    return await new Promise<Listing>((resolve, reject) => {
      const onAbort = (): void => { reject(storeError('unavailable', `${this.options.what}: aborted while waiting for the secret listing`)) }
      signal.addEventListener('abort', onAbort, { once: true })
      pending.then(resolve, (err: unknown) => { reject(isStoreError(err) ? copy(err) : err) }).finally(() => { signal.removeEventListener('abort', onAbort) })
    })
  }

  /** The last successful listing's age in ms, or undefined before the first. */
  age (): number | undefined {
    return this.listing === undefined ? undefined : Date.now() - this.listing.at
  }

  /**
   * A listing that started no earlier than this call (what a caller that just wrote a secret
   * needs): joins the listing under way only if it started since; else waits for it and lists again.
   */
  async refresh (): Promise<Listing> {
    const before = this.listings
    while (this.inflight !== undefined && this.inflight.id <= before) await this.inflight.promise.catch(() => {})
    return await this.join()
  }

  /** The listing under way, or a new one (single-flight). */
  private async join (): Promise<Listing> {
    if (this.inflight !== undefined) return await this.inflight.promise
    const id = ++this.listings
    const promise = this.list(Date.now()).finally(() => { this.inflight = undefined })
    this.inflight = { id, promise }
    return await promise
  }

  private async list (started: number): Promise<Listing> {
    const secrets: IndexedSecret[] = []
    let pages = 0
    try {
      await withTimeout(this.closed.signal, this.options.timeoutMs, async signal => {
        for await (const page of this.options.list(signal)) {
          pages++
          for (const properties of page) secrets.push(indexedSecret(properties))
        }
      })
    } catch (err) {
      const error = isStoreError(err) ? err : keyVaultStoreError(err, `${this.options.what}: list secrets (page ${pages + 1})`)
      if (this.failure === undefined) this.options.logger.warn({ err: { kind: error.kind, message: error.message }, lastListingAgeMs: this.age() }, 'key vault secret listing failed')
      this.failure = { at: Date.now(), error }
      throw error
    }
    const listing: Listing = { secrets, at: started, pages, ms: Date.now() - started, groups: new Map() }
    if (this.failure !== undefined) this.options.logger.info({ secrets: secrets.length, pages }, 'key vault secret listing recovered')
    this.failure = undefined
    this.listing = listing
    this.options.logger.debug({ secrets: secrets.length, pages, ms: listing.ms }, 'key vault secret listing refreshed')
    return listing
  }

  close (): void {
    clearInterval(this.timer)
    this.closed.abort()
  }
}

/** The secrets of one listing grouped by `groupOf` (cached on the listing per layout key). */
export function groupsOf (listing: Listing, key: string, groupOf: (secret: IndexedSecret) => string | undefined): Map<string, IndexedSecret[]> {
  let groups = listing.groups.get(key)
  if (groups !== undefined) return groups
  groups = new Map()
  for (const secret of listing.secrets) {
    const group = groupOf(secret)
    if (group === undefined) continue
    const members = groups.get(group)
    if (members === undefined) groups.set(group, [secret])
    else members.push(secret)
  }
  listing.groups.set(key, groups)
  return groups
}
