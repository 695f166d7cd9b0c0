// The one config schema; the Config type derives from it. Key names of PRODUCT.md are fixed.
import { Type, type Static } from '@sinclair/typebox'
import { DEFAULT_CALL_TIMEOUT_SECONDS, MAX_TIMER_SECONDS } from '../core/limits.js'

const Seconds = (def: number, description: string) => Type.Number({ minimum: 0, maximum: MAX_TIMER_SECONDS, default: def, description })
const Timeout = (def: number, description: string) => Type.Number({ exclusiveMinimum: 0, maximum: MAX_TIMER_SECONDS, default: def, description })

export const CacheSchema = Type.Object({
  ttl: Seconds(30, 'seconds a read is served from memory; 0 disables the cache'),
  staleIfError: Seconds(600, 'seconds a cached read may still be served when the store fails'),
  maxEntries: Type.Integer({ minimum: 1, default: 10_000, description: 'bound on cached locators (LRU)' }),
  errorTtl: Seconds(5, 'seconds a denied or malformed read is remembered and answered without a store call; 0 turns it off'),
  refreshAheadSeconds: Seconds(5, 'a read in the last this-many seconds of ttl (at most a fifth of it) refreshes the entry in the background; 0 turns it off')
}, { additionalProperties: false, default: {} })

const IPV4 = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}'
/** An address or CIDR (IPv6 loosely: proxy-addr checks it at start-up), or a proxy-addr range name. */
const ProxyAddress = Type.String({ pattern: `^(loopback|linklocal|uniquelocal|${IPV4}(/(3[0-2]|[12]?[0-9]))?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$` })
// false, a hop count, or the proxies' addresses. Never true: that trusts any X-Forwarded-For, so
// every client could pick its own address (the `not` refuses it before coercion turns it into 1).
const TrustProxy = Type.Union([Type.Literal(false), Type.Integer({ minimum: 0, maximum: 16 }), Type.Array(ProxyAddress, { minItems: 1 })], {
  default: false,
  not: { enum: [true, 'true'] },
  description: 'false: the client is the TCP peer; N: trust N proxy hops of X-Forwarded-For; [addresses/CIDRs]: trust those proxies'
})

/** Each key defaults to the store type's own default (its published quota with headroom): see the README. */
export const BudgetSchema = Type.Object({
  enabled: Type.Boolean({ default: true, description: 'false: no call budget (calls go to the store as they come)' }),
  callsPerSecond: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100_000, description: 'steady store calls per second across all identities' })),
  burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'calls that may start at once after a quiet period' })),
  concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'store calls in flight at most' })),
  maxQueue: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'calls that may wait for the budget; more are refused at once (unavailable)' }))
}, { additionalProperties: false, default: {} })

export const BackendBaseSchema = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'unique; used in logs, metrics and resolve output' }),
  type: Type.String({ minLength: 1 }),
  locators: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }), { description: 'locator template per layer' })),
  timeoutSeconds: Timeout(DEFAULT_CALL_TIMEOUT_SECONDS, 'per store call; must be below server.requestTimeoutSeconds'),
  cache: CacheSchema,
  budget: BudgetSchema
}, { additionalProperties: true })

export const ConfigSchema = Type.Object({
  server: Type.Object({
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    path: Type.String({ pattern: '^/', default: '/' }),
    requestTimeoutSeconds: Timeout(10, 'deadline for one request'),
    shutdownDelaySeconds: Seconds(0, 'on SIGTERM, seconds /readyz fails before the listener closes'),
    maxHeaderBytes: Type.Integer({ minimum: 1024, maximum: 65536, default: 16384, description: 'larger request headers are refused with 431' }),
    tls: Type.Optional(Type.Object({
      cert: Type.String({ minLength: 1, description: 'PEM certificate (chain) file, relative to the config file' }),
      key: Type.String({ minLength: 1, description: 'PEM private key file' }),
      clientCa: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA file: when set, clients must present a certificate it signed (mTLS)' }))
    }, { additionalProperties: false })),
    rateLimit: Type.Object({
      max: Type.Integer({ minimum: 0, default: 0, description: 'refused tokens per client address per window, then 429; a valid token is never limited; 0 turns the limit off' }),
      windowSeconds: Timeout(60, 'rate limit window')
    }, { additionalProperties: false, default: {} }),
    // Slow clients: how long a connection may take to say what it wants, and how many may be open.
    headersTimeoutSeconds: Timeout(10, 'the TLS handshake, request line and headers must arrive within this, else 408 and close (both listeners)'),
    keepAliveTimeoutSeconds: Timeout(5, 'an idle keep-alive connection is closed after this (both listeners)'),
    maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1024, description: 'open connections per listener; more are closed at once' }),
    trustProxy: TrustProxy
  }, { additionalProperties: false, default: {} }),
  ops: Type.Object({
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9090 }),
    readyTimeoutSeconds: Timeout(5, 'deadline for one store check'),
    storeCheckIntervalSeconds: Timeout(10, 'seconds between background store checks (readiness and nf_secret_source_store_up); a probe never calls a store')
  }, { additionalProperties: false, default: {} }),
  auth: Type.Object({
    // RFC 7518 3.2: an HMAC key at least as long as the hash (32 bytes for HS256).
    secrets: Type.Array(Type.String({ minLength: 32 }), { minItems: 1, description: 'any of them verifies (rotation)' }),
    algorithms: Type.Array(Type.Union([Type.Literal('HS256'), Type.Literal('HS384'), Type.Literal('HS512')]), { minItems: 1, uniqueItems: true, default: ['HS256'] }),
    // More than minutes of tolerance would quietly switch off exp: refuse it.
    clockToleranceSeconds: Type.Number({ minimum: 0, maximum: 300, default: 30, description: 'allowed clock skew for exp and iat' }),
    maxTokenAgeSeconds: Seconds(0, '0: only exp limits the token'),
    reloadIntervalSeconds: Timeout(2, 'entries written as ${file:PATH} are re-read this often: a changed file applies without a restart'),
    // A token must end: Northflank's live 24 h; exp 1e400 (Infinity) or 1e15 is refused.
    maxTokenLifetimeSeconds: Timeout(90_000, 'exp at most this far after iat (after now without iat)')
  }, { additionalProperties: false }),
  layers: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' }), { minItems: 1, uniqueItems: true, default: ['global', 'project', 'object'] }),
  strict: Type.Boolean({ default: false }),
  log: Type.Object({
    level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(l => Type.Literal(l)), { default: 'info' }),
    audit: Type.Object({
      destination: Type.String({ minLength: 1, default: 'log', description: 'log (the service log, at any level but silent), stdout, stderr or a file path (appended)' })
    }, { additionalProperties: false, default: {} })
  }, { additionalProperties: false, default: {} }),
  backends: Type.Array(BackendBaseSchema, { minItems: 1 })
}, { additionalProperties: false })

export type Config = Static<typeof ConfigSchema>
export type BackendConfig = Static<typeof BackendBaseSchema>
