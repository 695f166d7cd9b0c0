// Secret values for the names and tags layouts: fetched only for the secrets a read needs, a few
// at a time across all reads, and kept in memory by name until the index shows a change.
//
// The listing has no version ids, only `updated` (whole seconds), so a value is reused while
// the listing's `updated` is not newer than the one it was fetched with, and only once it is
// settled: fetched at least settleMs after that `updated` (a second write within the same second
// would not change `updated`; settleMs also covers a few seconds of clock skew). An unsettled
// value is fetched again by the next read that needs it.
import { LRUCache } from 'lru-cache'
import type { SecretClient } from '@azure/keyvault-secrets'
import { getSecret, type CallBudget } from './client.js'
import type { IndexedSecret } from './property-index.js'

export interface FetchedValue {
  kind: 'value'
  name: string
  value: string
  tags: Readonly<Record<string, string>>
  enabled?: boolean
  notBefore?: Date
  expiresOn?: Date
  /** Epoch ms, from the GET answer. */
  updated: number
  version?: string
}

export type Fetched = FetchedValue | { kind: 'absent', why: 'missing' | 'disabled' }

interface Cached {
  fetched: Fetched
  /** The listing's `updated` this answer is good for. */
  updated: number
  fetchedAt: number
}

/**
 * A counting semaphore: at most `limit` GETs in flight for the whole backend. A waiting task
 * holds no abort listener (a layer of many secrets would pile them on one signal): it checks its
 * signal when its turn comes, and passes the turn on if it was aborted meanwhile.
 */
class Limiter {
  private active = 0
  private readonly waiting: Array<() => void> = []
  constructor (private readonly limit: number) {}

  async run<T> (task: () => Promise<T>, signal: AbortSignal): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>(resolve => { this.waiting.push(resolve) })
    else this.active++
    try {
      signal.throwIfAborted()
      return await task()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next() // the slot passes on
      else this.active--
    }
  }
}

export interface ValueCacheOptions {
  client: SecretClient
  maxConcurrent: number
  settleMs: number
  /** Bytes of values kept (LRU). */
  maxBytes: number
  onDenied: (err: unknown) => void
}

export class ValueCache {
  private readonly cache: LRUCache<string, Cached>
  private readonly inflight = new Map<string, Promise<Cached>>()
  private readonly limiter: Limiter

  constructor (private readonly options: ValueCacheOptions) {
    this.limiter = new Limiter(options.maxConcurrent)
    this.cache = new LRUCache<string, Cached>({
      maxSize: options.maxBytes,
      sizeCalculation: c => Math.max(1, (c.fetched.kind === 'value' ? c.fetched.value.length * 2 : 0) + 256)
    })
  }

  /** The values of `secrets` (same order): from memory when unchanged and settled, else one GET each. */
  async values (secrets: readonly IndexedSecret[], budget: CallBudget): Promise<Fetched[]> {
    return await Promise.all(secrets.map(async secret => (await this.valueOf(secret, budget)).fetched))
  }

  private usable (cached: Cached | undefined, secret: IndexedSecret): cached is Cached {
    return cached !== undefined && cached.updated >= secret.updated && cached.fetchedAt >= cached.updated + this.options.settleMs
  }

  private async valueOf (secret: IndexedSecret, budget: CallBudget): Promise<Cached> {
    const cached = this.cache.get(secret.lower)
    if (this.usable(cached, secret)) return cached
    const key = `${secret.lower}\n${secret.updated}`
    const running = this.inflight.get(key)
    if (running !== undefined) return await running
    const fetch = this.fetch(secret, budget).finally(() => { this.inflight.delete(key) })
    this.inflight.set(key, fetch)
    return await fetch
  }

  private async fetch (secret: IndexedSecret, budget: CallBudget): Promise<Cached> {
    const result = await this.limiter.run(async () => await getSecret(this.options.client, secret.name, budget, this.options.onDenied), budget.signal)
    const fetchedAt = Date.now()
    let entry: Cached
    if (result.kind === 'absent') {
      entry = { fetched: result, updated: secret.updated, fetchedAt }
    } else {
      const { properties, value } = result.secret
      const updated = properties.updatedOn?.getTime() ?? secret.updated
      entry = {
        fetched: {
          kind: 'value',
          name: properties.name,
          value: value ?? '',
          tags: { ...(properties.tags ?? {}) },
          ...(properties.enabled === undefined ? {} : { enabled: properties.enabled }),
          ...(properties.notBefore === undefined ? {} : { notBefore: properties.notBefore }),
          ...(properties.expiresOn === undefined ? {} : { expiresOn: properties.expiresOn }),
          updated,
          ...(properties.version === undefined ? {} : { version: properties.version })
        },
        // Good for any listing that shows this change or an older one.
        updated: Math.max(updated, secret.updated),
        fetchedAt
      }
    }
    this.cache.set(secret.lower, entry)
    return entry
  }

  /** Values in memory (for tests and the log). */
  get size (): number {
    return this.cache.size
  }
}
