// The store error kinds every backend throws: a denied call, an unreachable store and a malformed
// document are different outcomes (a missing secret is not an error: ReadResult found: false).
// Free of HTTP: src/errors.ts maps every kind to 503 for callers.

export type StoreErrorKind = 'denied' | 'unavailable' | 'malformed'

/** Stable codes: dashboards, runbooks and the README's Errors table key on them. */
export const STORE_ERROR_CODES: Readonly<Record<StoreErrorKind, string>> = {
  denied: 'NFSS_STORE_DENIED',
  unavailable: 'NFSS_STORE_UNAVAILABLE',
  malformed: 'NFSS_STORE_MALFORMED'
}

const MESSAGES: Readonly<Record<StoreErrorKind, string>> = {
  denied: 'store denied access',
  unavailable: 'store unavailable',
  malformed: 'malformed secret document'
}

/**
 * A failed store read. `message` carries a detail for the server log (path, role, SDK error
 * name: never a secret value); callers only learn the code, the backend and the layer.
 */
export class StoreError extends Error {
  readonly kind: StoreErrorKind
  readonly code: string
  /** Set when the store throttled the call; Retry-After when it said. */
  throttled?: { retryAfterMs?: number }
  /**
   * When trying again may succeed, ms: the store's Retry-After, or when the call budget expects a
   * slot. A hint for the caller's Retry-After; absent when nothing is known.
   */
  retryAfterMs?: number
  /** Set by the resolver: which read failed. */
  backend?: string
  layer?: string
  locator?: string

  constructor (kind: StoreErrorKind, detail: string) {
    super(`${MESSAGES[kind]}: ${detail}`)
    this.name = 'StoreError'
    this.kind = kind
    this.code = STORE_ERROR_CODES[kind]
  }
}

export function storeError (kind: StoreErrorKind, detail: string): StoreError {
  return new StoreError(kind, detail)
}

/**
 * The store answered "too many requests" (429, ThrottlingException): unavailable for this call,
 * and a signal to the backend's call budget to slow down (src/call-budget.ts).
 */
export function throttledError (detail: string, retryAfterMs?: number): StoreError {
  const err = new StoreError('unavailable', detail)
  err.throttled = { ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }
  if (retryAfterMs !== undefined) err.retryAfterMs = retryAfterMs
  return err
}

export function isStoreError (err: unknown): err is StoreError {
  return err instanceof StoreError
}

export function storeErrorKind (err: StoreError): StoreErrorKind {
  return err.kind
}

/**
 * A backend's own config key is unusable (a file it cannot read, keys that must come together):
 * thrown by create(), reported by the loader as NFSS_CONFIG_INVALID with the key's full path.
 */
export class BackendConfigError extends Error {
  readonly key: string
  readonly problem: string

  constructor (key: string, problem: string) {
    super(`${key}: ${problem}`)
    this.name = 'BackendConfigError'
    this.key = key
    this.problem = problem
  }
}
