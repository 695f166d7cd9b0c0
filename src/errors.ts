// The one error catalog. Codes are stable: dashboards and runbooks key on them.
// Store errors carry a detail for the server log (path, role, SDK error name: never a
// secret value); callers only learn the code, the backend and the layer.
import createError, { type FastifyErrorConstructor } from '@fastify/error'

/** The caller's token is missing or refused; why is logged, not sent. */
export const Unauthorized = createError('NFSS_UNAUTHORIZED', 'missing or invalid bearer token', 401)

/** The store refused the credentials nf-secret-source uses (403, AccessDenied). */
export const StoreDenied = createError('NFSS_STORE_DENIED', 'store denied access: %s', 503)
/** The store could not be reached or answered with a server error or timed out. */
export const StoreUnavailable = createError('NFSS_STORE_UNAVAILABLE', 'store unavailable: %s', 503)
/** The store answered, but what it holds is not a secret document. */
export const StoreMalformed = createError('NFSS_STORE_MALFORMED', 'malformed secret document: %s', 503)

/** strict: true, and a store holds an entry that cannot be served. */
export const InvalidEntries = createError('NFSS_INVALID_ENTRIES', 'stores hold %s entries that cannot be served (strict mode)', 502)
/** The whole request took longer than server.requestTimeoutSeconds. */
export const DeadlineExceeded = createError('NFSS_DEADLINE_EXCEEDED', 'request deadline of %s ms exceeded', 503)

export const ConfigInvalid = createError('NFSS_CONFIG_INVALID', 'invalid configuration:\n%s')
export const UnknownBackendType = createError('NFSS_UNKNOWN_BACKEND_TYPE', 'backends[%s]: unknown type "%s" (known: %s)')
export const DuplicateBackend = createError('NFSS_DUPLICATE_BACKEND', 'backends[%s]: %s "%s" is used twice')

export const STORE_ERROR_CODES = new Set(['NFSS_STORE_DENIED', 'NFSS_STORE_UNAVAILABLE', 'NFSS_STORE_MALFORMED'])

export type StoreErrorKind = 'denied' | 'unavailable' | 'malformed'

const STORE_ERRORS: Record<StoreErrorKind, FastifyErrorConstructor> = {
  denied: StoreDenied,
  unavailable: StoreUnavailable,
  malformed: StoreMalformed
}

export interface StoreError extends Error {
  code: string
  statusCode: number
  /** Set by the resolver: which read failed. */
  backend?: string
  layer?: string
  locator?: string
}

export function storeError (kind: StoreErrorKind, detail: string): StoreError {
  return new STORE_ERRORS[kind](detail) as StoreError
}

export function isStoreError (err: unknown): err is StoreError {
  return err instanceof Error && STORE_ERROR_CODES.has((err as { code?: string }).code ?? '')
}

export function storeErrorKind (err: StoreError): StoreErrorKind {
  return err.code === 'NFSS_STORE_DENIED' ? 'denied' : err.code === 'NFSS_STORE_MALFORMED' ? 'malformed' : 'unavailable'
}
