// type: azure-keyvault — Azure Key Vault secrets (docs/backends/azure-keyvault.md), in one of three
// layouts: document (one secret per layer holding a JSON secret document; the default), names
// (one secret per entry under a name prefix per layer) or tags (one secret per entry, tagged with
// its project and object). names and tags read the vault's listing from a property index kept
// in memory (property-index.ts) and fetch only the values that changed.
import { setMaxListeners } from 'node:events'
import type { LookupFunction } from 'node:net'
import { Type } from '@sinclair/typebox'
import { DEFAULT_CALL_TIMEOUT_SECONDS, MAX_TIMER_SECONDS } from '../../src/core/limits.js'
import { BackendConfigError, isStoreError } from '../../src/store/errors.js'
import type { Backend, BackendContext, BackendDefinition, ReadResult } from '../../src/store/port.js'
import { buildAgent, callerOf, createClients, errorFacts, getSecret, keyVaultStoreError, type CallBudget } from './client.js'
import { buildCredential, credentialOptions } from './credential.js'
import { readDocument } from './document-layout.js'
import { readListed, type ListedLayout } from './listed-layout.js'
import { compileTemplates, DOCUMENT_DEFAULTS, type Layout } from './names.js'
import { NAMES_LAYOUT } from './names-layout.js'
import { PropertyIndex } from './property-index.js'
import { TAGS_LAYOUT } from './tags-layout.js'
import { ValueCache } from './values.js'

const options = Type.Object({
  vaultUrl: Type.String({ pattern: '^https://[^/?#@]+/?$', description: 'the vault\'s URL, https://<name>.vault.azure.net (or a private endpoint\'s URL)' }),
  layout: Type.Union([Type.Literal('document'), Type.Literal('names'), Type.Literal('tags')], {
    default: 'document',
    description: 'document: one secret per layer holding a JSON secret document; names: one secret per entry under a name prefix per layer; tags: one secret per entry, tagged with its project and object'
  }),
  credential: credentialOptions,
  authorityHost: Type.Optional(Type.String({ pattern: '^https://', description: 'Entra ID authority, e.g. https://login.microsoftonline.us; default AZURE_AUTHORITY_HOST, else the public cloud' })),
  disableInstanceDiscovery: Type.Boolean({ default: false, description: 'skip Entra ID instance discovery (an authority Microsoft does not know: Azure Stack Hub, tests)' }),
  disableChallengeResourceVerification: Type.Boolean({ default: false, description: 'accept a vault URL whose host is not under the challenge\'s resource (a private endpoint under a custom name)' }),
  caFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of an extra CA to trust for the vault and Entra ID (private endpoints behind TLS inspection, tests), relative to the config file' })),
  maxAttempts: Type.Integer({ minimum: 1, maximum: 10, default: 3, description: 'attempts per call, first try included (throttling is retried only while Retry-After fits in the call\'s timeout)' }),
  maxConcurrentGets: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'names/tags: secret GETs in flight at once, across all reads' }),
  indexRefreshSeconds: Type.Number({ minimum: 1, maximum: 3600, default: 30, description: 'names/tags: seconds between listings of the vault\'s secret properties' }),
  indexStaleLimitSeconds: Type.Number({ minimum: 2, maximum: MAX_TIMER_SECONDS, default: 300, description: 'names/tags: a listing older than this is not served (reads wait for a new one)' }),
  indexTimeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 60, description: 'names/tags: time one listing of every page may take' }),
  valueCacheMegabytes: Type.Number({ minimum: 1, maximum: 4096, default: 64, description: 'names/tags: memory for secret values kept between index refreshes (LRU)' })
})

type KeyVaultOptions = typeof options
type KeyVaultConfig = Parameters<BackendDefinition<KeyVaultOptions>['create']>[0]

/** Key Vault's largest page of a listing. */
const PAGE_SIZE = 25
/** A secret fetched within this long of its last change is fetched again (changes within one second share `updated`). */
const SETTLE_MS = 5000
/** After a failed listing, reads without a usable one fail at once for this long. */
const LISTING_RETRY_DELAY_MS = 2000
/** document layout readiness, when the global template has placeholders: a name nobody uses. */
const PROBE_NAME = 'nf-secret-source-readiness-probe'

/**
 * Test seam, never reachable from config: name resolution for the test server's vault hosts, and
 * a handle on the property index (to refresh it on demand and count its listings).
 */
export interface KeyVaultSeam {
  lookup?: LookupFunction
  settleMs?: number
  index?: (index: PropertyIndex) => void
}

const LISTED: Record<Exclude<Layout, 'document'>, ListedLayout> = { names: NAMES_LAYOUT, tags: TAGS_LAYOUT }

export function createKeyVaultBackend (config: KeyVaultConfig, context: BackendContext, seam: KeyVaultSeam = {}): Backend {
  const { logger, baseDir, locate, templates } = context
  const layout: Layout = config.layout ?? 'document'
  if (config.indexStaleLimitSeconds < config.indexRefreshSeconds) {
    throw new BackendConfigError('indexStaleLimitSeconds', `must be at least indexRefreshSeconds (${config.indexRefreshSeconds})`)
  }
  const vault = new URL(config.vaultUrl)
  const agent = buildAgent(config.caFile, baseDir, seam.lookup)
  const { credential, identity } = buildCredential(config.credential, {
    baseDir,
    ...(config.authorityHost === undefined ? {} : { authorityHost: config.authorityHost }),
    disableInstanceDiscovery: config.disableInstanceDiscovery,
    ...(agent === undefined ? {} : { agent }),
    env: process.env
  })
  const clients = createClients(vault.origin, credential, {
    ...(agent === undefined ? {} : { agent }),
    maxAttempts: config.maxAttempts,
    disableChallengeResourceVerification: config.disableChallengeResourceVerification
  })
  const timeoutMs = (typeof config.timeoutSeconds === 'number' ? config.timeoutSeconds : DEFAULT_CALL_TIMEOUT_SECONDS) * 1000
  const budgetOf = (signal: AbortSignal): CallBudget => ({ signal, deadline: Date.now() + timeoutMs, maxAttempts: config.maxAttempts })

  /** 401/403: a log line naming the vault and who we are (ids only; never a token or the message). */
  const onDenied = (what: string) => (err: unknown): void => {
    const { status, code, inner } = errorFacts(err)
    logger.warn({ vault: vault.host, what, status, code, inner, ...identity, caller: callerOf(err) }, 'key vault denied access')
  }

  let index: PropertyIndex | undefined
  let read: (locator: string, budget: CallBudget) => Promise<ReadResult>
  let ready: (signal: AbortSignal) => Promise<void>
  if (layout === 'document') {
    const deps = { client: clients.reads, logger, onDenied: onDenied('get secret') }
    read = async (locator, budget) => await readDocument(deps, locator, budget)
    // One GET of the global secret (inside any role assignment scoped to the layout): found,
    // missing or disabled, the credential and the vault both answered.
    const global = templates.find(t => t.layer === 'global')?.text
    const probe = global !== undefined && !global.includes('{') ? global : PROBE_NAME
    ready = async signal => { await getSecret(clients.reads, probe, budgetOf(signal), onDenied('readiness')) }
  } else {
    const listed = LISTED[layout]
    const denied = onDenied('list secrets')
    const built = new PropertyIndex({
      what: `vault ${vault.host}`,
      async * list (signal) {
        try {
          yield * clients.listing.listPropertiesOfSecrets({ abortSignal: signal }).byPage({ maxPageSize: PAGE_SIZE })
        } catch (err) {
          const { status } = errorFacts(err)
          if (status === 401 || status === 403) denied(err)
          throw err
        }
      },
      refreshMs: config.indexRefreshSeconds * 1000,
      staleLimitMs: config.indexStaleLimitSeconds * 1000,
      timeoutMs: config.indexTimeoutSeconds * 1000,
      retryDelayMs: LISTING_RETRY_DELAY_MS,
      logger
    })
    index = built
    seam.index?.(built)
    const values = new ValueCache({
      client: clients.reads,
      maxConcurrent: config.maxConcurrentGets,
      settleMs: seam.settleMs ?? SETTLE_MS,
      maxBytes: config.valueCacheMegabytes * 1024 * 1024,
      onDenied: onDenied('get secret')
    })
    const deps = { layout: listed, index: built, values, logger }
    read = async (locator, budget) => await readListed(deps, locator, budget)
    ready = async signal => { await built.current(signal) }
  }

  return {
    name: config.name,
    type: 'azure-keyvault',
    locate,
    async read (locator, signal) {
      try {
        signal.throwIfAborted()
        // Each GET in flight (and each retry's wait) listens on the read's signal.
        setMaxListeners(config.maxConcurrentGets * 4 + 16, signal)
        return await read(locator, budgetOf(signal))
      } catch (err) {
        throw isStoreError(err) ? err : keyVaultStoreError(err, `read ${locator}`)
      }
    },
    async ready (signal) {
      try {
        await ready(signal)
      } catch (err) {
        throw isStoreError(err) ? err : keyVaultStoreError(err, 'readiness')
      }
    },
    async close () {
      index?.close()
      agent?.destroy()
    }
  }
}

export const keyVaultDefinition: BackendDefinition<KeyVaultOptions> = {
  type: 'azure-keyvault',
  options,
  // Key Vault allows 4,000 secret transactions per 10 s per vault (GET and LIST share it): take half.
  budget: { callsPerSecond: 200, burst: 100, concurrency: 16, maxQueue: 2000 },
  locators: {
    defaults: DOCUMENT_DEFAULTS,
    caseInsensitive: true,
    compile: (config, layers) => compileTemplates(config.layout ?? 'document', config.locators, layers)
  },
  create: (config, context) => createKeyVaultBackend(config, context)
}
