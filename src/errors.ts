// The one error catalog. Codes are stable: dashboards and runbooks key on them (README, Errors).
// The store error kinds (NFSS_STORE_*) live with the store port in src/store/errors.ts, free of
// HTTP; every one of them answers 503 (STORE_ERROR_STATUS), mapped by the error handler.
import createError from '@fastify/error'

/** The caller's token is missing or refused; why is logged, not sent. */
export const Unauthorized = createError('NFSS_UNAUTHORIZED', 'missing or invalid bearer token', 401)

/** A request announced a body (Content-Length > 0 or Transfer-Encoding): no route takes one; the connection is closed. */
export const BodyNotAllowed = createError('NFSS_BODY_NOT_ALLOWED', 'requests to this service carry no body', 400)
/** server.rateLimit: this client address sent too many refused tokens; a valid token is never limited. */
export const RateLimited = createError('NFSS_RATE_LIMITED', 'too many refused tokens from this address, retry in %s s', 429)

/** A store could not serve a layer (denied, unavailable, malformed): never an empty or partial answer. */
export const STORE_ERROR_STATUS = 503

/** strict: true, and a store holds an entry that cannot be served. */
export const InvalidEntries = createError('NFSS_INVALID_ENTRIES', 'stores hold %s entries that cannot be served (strict mode)', 502)
/** The whole request took longer than server.requestTimeoutSeconds. */
export const DeadlineExceeded = createError('NFSS_DEADLINE_EXCEEDED', 'request deadline of %s ms exceeded', 503)

export const ConfigInvalid = createError('NFSS_CONFIG_INVALID', 'invalid configuration:\n%s')
export const UnknownBackendType = createError('NFSS_UNKNOWN_BACKEND_TYPE', 'backends[%s]: unknown type "%s" (known: %s)')
export const DuplicateBackend = createError('NFSS_DUPLICATE_BACKEND', 'backends[%s]: %s "%s" is used twice')
