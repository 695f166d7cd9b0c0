// How current the informer's in-memory state is KNOWN to be. Only the apiserver's word proves it:
// a successful LIST (current as of the moment it was sent) and each event or bookmark that a live
// watch delivers. A watch that merely opens (HTTP 200) proves nothing: it may die before sending
// anything. Reads fail once the last proof is older than the limit, whether or not a failure has
// been noticed. A silently dead connection may go unnoticed for minutes.
// A quiet but healthy watch proves itself only through bookmarks, which a real apiserver sends about
// once a minute (measured on v1.37: every ~60 s, none before a short watch ends). Some apiservers
// send them rarely or never, for example when the watch cache is off. So when no proof arrives for
// half the limit, `onIdle` asks the watcher for a fresh LIST. On a healthy cluster that LIST
// re-confirms the state well before the limit. On a dead connection it fails and the outage shows.
// A wait longer than setTimeout's limit (MAX_TIMER_MS) is re-armed when it ends.
import { MAX_TIMER_MS } from '../../src/core/limits.js'

/** A quiet cluster is re-listed at most this often, however small the limit. */
export const MIN_REFRESH_MS = 1000

export class Freshness {
  #provenAt: number | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false
  /** How long without proof before `onIdle`; Infinity (no limit) never asks. */
  readonly refreshMs: number

  constructor (readonly limitMs: number, private readonly onIdle: (idleMs: number) => void) {
    this.refreshMs = Math.max(MIN_REFRESH_MS, limitMs / 2)
  }

  /** The state was current at `at`. The first proof starts the idle timer. */
  proven (at = Date.now()): void {
    if (this.#provenAt === undefined || at > this.#provenAt) this.#provenAt = at
    if (this.#timer === undefined) this.#arm(this.#provenAt)
  }

  /** Milliseconds since the state was last proven current; undefined before the first proof. */
  ageMs (now = Date.now()): number | undefined {
    return this.#provenAt === undefined ? undefined : now - this.#provenAt
  }

  /** Older than the limit: the state must no longer be served. */
  expired (now = Date.now()): boolean {
    const age = this.ageMs(now)
    return age !== undefined && age > this.limitMs
  }

  close (): void {
    this.#closed = true
    clearTimeout(this.#timer)
  }

  /** Checks again `refreshMs` after `from`. One timer per watcher: proofs only move #provenAt. */
  #arm (from: number): void {
    if (this.#closed || !Number.isFinite(this.refreshMs)) return
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, from + this.refreshMs - Date.now()))
    this.#timer = setTimeout(() => {
      if (this.#closed) return
      const idle = Date.now() - (this.#provenAt ?? 0)
      if (idle < this.refreshMs) { this.#arm(this.#provenAt ?? Date.now()); return }
      this.onIdle(idle)
      this.#arm(Date.now()) // the LIST asked for gets refreshMs before it is asked for again
    }, delay)
    this.#timer.unref()
  }
}
