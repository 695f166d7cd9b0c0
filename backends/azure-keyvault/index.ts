// type: azure-keyvault — Azure Key Vault secrets (docs/backends/azure-keyvault.md): one secret per
// layer whose value is a JSON secret document (layout document). One GET per layer read.
import type { LookupFunction } from 'node:net'
import { Type } from '@sinclair/typebox'
import { DEFAULT_CALL_TIMEOUT_SECONDS } from '../../src/core/limits.js'
import { isStoreError } from '../../src/store/errors.js'
import type { Backend, BackendContext, BackendDefinition, ReadResult } from '../../src/store/port.js'
import { buildAgent, callerOf, createClients, errorFacts, getSecret, keyVaultStoreError, type CallBudget } from './client.js'
import { buildCredential, credentialOptions } from './credential.js'
import { readDocument } from './document-layout.js'
import { compileTemplates, DOCUMENT_DEFAULTS } from './names.js'

const options = Type.Object({
  vaultUrl: Type.String({ pattern: '^https://[^/?#@]+/?$', description: 'the vault\'s URL, https://<name>.vault.azure.net (or a private endpoint\'s URL)' }),
  layout: Type.Union([Type.Literal('document')], {
    default: 'document',
    description: 'document: one secret per layer holding a JSON secret document'
  }),
  credential: credentialOptions,
  authorityHost: Type.Optional(Type.String({ pattern: '^https://', description: 'Entra ID authority, e.g. https://login.microsoftonline.us; default AZURE_AUTHORITY_HOST, else the public cloud' })),
  disableInstanceDiscovery: Type.Boolean({ default: false, description: 'skip Entra ID instance discovery (an authority Microsoft does not know: Azure Stack Hub, tests)' }),
  disableChallengeResourceVerification: Type.Boolean({ default: false, description: 'accept a vault URL whose host is not under the challenge\'s resource (a private endpoint under a custom name)' }),
  caFile: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of an extra CA to trust for the vault and Entra ID (private endpoints behind TLS inspection, tests), relative to the config file' })),
  maxAttempts: Type.Integer({ minimum: 1, maximum: 10, default: 3, description: 'attempts per call, first try included (throttling is retried only while Retry-After fits in the call\'s timeout)' })
})

type KeyVaultOptions = typeof options
type KeyVaultConfig = Parameters<BackendDefinition<KeyVaultOptions>['create']>[0]

/** document layout readiness, when the global template has placeholders: a name nobody uses. */
const PROBE_NAME = 'nf-secret-source-readiness-probe'

/** Test seam, never reachable from config: name resolution for the test server's vault hosts. */
export interface KeyVaultSeam {
  lookup?: LookupFunction
}

export function createKeyVaultBackend (config: KeyVaultConfig, context: BackendContext, seam: KeyVaultSeam = {}): Backend {
  const { logger, baseDir, locate, templates } = context
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

  const deps = { client: clients.reads, logger, onDenied: onDenied('get secret') }
  const read = async (locator: string, budget: CallBudget): Promise<ReadResult> => await readDocument(deps, locator, budget)
  // One GET of the global secret (inside any role assignment scoped to the layout): found,
  // missing or disabled, the credential and the vault both answered.
  const global = templates.find(t => t.layer === 'global')?.text
  const probe = global !== undefined && !global.includes('{') ? global : PROBE_NAME
  const ready = async (signal: AbortSignal): Promise<void> => { await getSecret(clients.reads, probe, budgetOf(signal), onDenied('readiness')) }

  return {
    name: config.name,
    type: 'azure-keyvault',
    locate,
    async read (locator, signal) {
      try {
        signal.throwIfAborted()
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
      agent?.destroy()
    }
  }
}

export const keyVaultDefinition: BackendDefinition<KeyVaultOptions> = {
  type: 'azure-keyvault',
  options,
  locators: {
    defaults: DOCUMENT_DEFAULTS,
    caseInsensitive: true,
    compile: (config, layers) => compileTemplates(config.layout ?? 'document', config.locators, layers)
  },
  create: (config, context) => createKeyVaultBackend(config, context)
}
