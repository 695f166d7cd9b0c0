// How the azure-keyvault backend authenticates: the `credential` config and the @azure/identity
// credential built from it. Default: DefaultAzureCredential (environment, AKS workload identity,
// managed identity, Azure CLI). Tokens are obtained and cached by the credential itself.
import { accessSync, constants } from 'node:fs'
import type { Agent } from 'node:https'
import { resolve } from 'node:path'
import {
  ClientCertificateCredential, ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential,
  WorkloadIdentityCredential, type TokenCredential
} from '@azure/identity'
import { Type, type Static } from '@sinclair/typebox'
import { BackendConfigError } from '../../src/store/errors.js'

const Id = (description: string) => Type.String({ minLength: 1, maxLength: 256, description })

// One object per type. Ajv applies `default` only in plain properties, so what these variants
// default to (from the environment) is applied in buildCredential() and only described here.
const credentialVariants = {
  default: Type.Object({
    type: Type.Literal('default'),
    tenantId: Type.Optional(Id('tenant for the credentials that take one; default AZURE_TENANT_ID')),
    managedIdentityClientId: Type.Optional(Id('client id of a user-assigned managed identity')),
    workloadIdentityClientId: Type.Optional(Id('client id for workload identity; default AZURE_CLIENT_ID'))
  }, { additionalProperties: false }),
  clientSecret: Type.Object({
    type: Type.Literal('clientSecret'),
    tenantId: Id('Entra ID tenant (directory) id'),
    clientId: Id('application (client) id'),
    clientSecret: Type.String({ minLength: 1, description: 'the client secret, usually "${env:AZURE_CLIENT_SECRET}" or "${file:...}"' })
  }, { additionalProperties: false }),
  clientCertificate: Type.Object({
    type: Type.Literal('clientCertificate'),
    tenantId: Id('Entra ID tenant (directory) id'),
    clientId: Id('application (client) id'),
    certificateFile: Type.String({ minLength: 1, description: 'PEM file with the certificate and its private key, relative to the config file' }),
    sendCertificateChain: Type.Optional(Type.Boolean({ description: 'send the x5c chain (subject name / issuer authentication)' }))
  }, { additionalProperties: false }),
  workloadIdentity: Type.Object({
    type: Type.Literal('workloadIdentity'),
    tenantId: Type.Optional(Id('default AZURE_TENANT_ID (set by the AKS webhook)')),
    clientId: Type.Optional(Id('default AZURE_CLIENT_ID (set by the AKS webhook)')),
    tokenFile: Type.Optional(Type.String({ minLength: 1, description: 'federated token file; default AZURE_FEDERATED_TOKEN_FILE (set by the AKS webhook)' }))
  }, { additionalProperties: false }),
  managedIdentity: Type.Object({
    type: Type.Literal('managedIdentity'),
    clientId: Type.Optional(Id('client id of a user-assigned identity; default the system-assigned one'))
  }, { additionalProperties: false })
}

const CredentialUnion = Type.Union(Object.values(credentialVariants))
export type CredentialConfig = Static<typeof CredentialUnion>
export type CredentialType = CredentialConfig['type']

/**
 * `credential` as if/then per type rather than anyOf: a typo gets one precise problem
 * ("credential.clientSecert: unknown key") instead of one per variant. The merged `properties`
 * are there for the config loader, which learns key names (NFSS__ env overrides) from them.
 */
export const credentialOptions = Type.Optional(Type.Unsafe<CredentialConfig>({
  type: 'object',
  description: 'how nf-secret-source authenticates to Entra ID; default type default (DefaultAzureCredential)',
  required: ['type'],
  properties: { ...Object.assign({}, ...Object.values(credentialVariants).map(v => v.properties)), type: { type: 'string', enum: Object.keys(credentialVariants) } },
  allOf: Object.entries(credentialVariants).map(([type, then]) => ({ if: { required: ['type'], properties: { type: { const: type } } }, then }))
}))

export interface CredentialSettings {
  baseDir: string
  authorityHost?: string
  disableInstanceDiscovery: boolean
  /** Trusts caFile and resolves names (tests); undefined: the SDK's default agent (and proxy settings). */
  agent?: Agent
  env: NodeJS.ProcessEnv
}

/** Who we authenticate as, for logs (ids only, never a secret or a token). */
export interface CredentialIdentity {
  credential: CredentialType
  tenantId?: string
  clientId?: string
}

export interface BuiltCredential {
  credential: TokenCredential
  identity: CredentialIdentity
}

function fromEnv (value: string | undefined, env: NodeJS.ProcessEnv, name: string, key: string): string {
  const found = value ?? env[name]
  if (found === undefined || found === '') throw new BackendConfigError(key, `is not set and ${name} is empty`)
  return found
}

function readableFile (file: string, baseDir: string, key: string): string {
  const path = resolve(baseDir, file)
  try {
    accessSync(path, constants.R_OK)
  } catch (err) {
    throw new BackendConfigError(key, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  return path
}

/** The credential of `config` (undefined: DefaultAzureCredential). Config problems are BackendConfigError. */
export function buildCredential (config: CredentialConfig | undefined, settings: CredentialSettings): BuiltCredential {
  const { baseDir, env } = settings
  const common = {
    ...(settings.authorityHost === undefined ? {} : { authorityHost: settings.authorityHost }),
    ...(settings.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
    ...(settings.agent === undefined ? {} : { agent: settings.agent })
  }
  const chosen = config ?? { type: 'default' as const }
  switch (chosen.type) {
    case 'default': {
      const credential = new DefaultAzureCredential({
        ...common,
        ...(chosen.tenantId === undefined ? {} : { tenantId: chosen.tenantId }),
        ...(chosen.managedIdentityClientId === undefined ? {} : { managedIdentityClientId: chosen.managedIdentityClientId }),
        ...(chosen.workloadIdentityClientId === undefined ? {} : { workloadIdentityClientId: chosen.workloadIdentityClientId })
      })
      const clientId = chosen.workloadIdentityClientId ?? chosen.managedIdentityClientId ?? env.AZURE_CLIENT_ID
      const tenantId = chosen.tenantId ?? env.AZURE_TENANT_ID
      return { credential, identity: { credential: 'default', ...(tenantId === undefined ? {} : { tenantId }), ...(clientId === undefined ? {} : { clientId }) } }
    }
    case 'clientSecret':
      return {
        credential: new ClientSecretCredential(chosen.tenantId, chosen.clientId, chosen.clientSecret, common),
        identity: { credential: 'clientSecret', tenantId: chosen.tenantId, clientId: chosen.clientId }
      }
    case 'clientCertificate': {
      const certificatePath = readableFile(chosen.certificateFile, baseDir, 'credential.certificateFile')
      return {
        credential: new ClientCertificateCredential(chosen.tenantId, chosen.clientId, { certificatePath }, {
          ...common,
          ...(chosen.sendCertificateChain === undefined ? {} : { sendCertificateChain: chosen.sendCertificateChain })
        }),
        identity: { credential: 'clientCertificate', tenantId: chosen.tenantId, clientId: chosen.clientId }
      }
    }
    case 'workloadIdentity': {
      const tenantId = fromEnv(chosen.tenantId, env, 'AZURE_TENANT_ID', 'credential.tenantId')
      const clientId = fromEnv(chosen.clientId, env, 'AZURE_CLIENT_ID', 'credential.clientId')
      const tokenFile = fromEnv(chosen.tokenFile, env, 'AZURE_FEDERATED_TOKEN_FILE', 'credential.tokenFile')
      // The projected token is re-read by the credential whenever it needs a new access token.
      const tokenFilePath = readableFile(tokenFile, baseDir, 'credential.tokenFile')
      return {
        credential: new WorkloadIdentityCredential({ ...common, tenantId, clientId, tokenFilePath }),
        identity: { credential: 'workloadIdentity', tenantId, clientId }
      }
    }
    case 'managedIdentity':
      // Managed identity endpoints (IMDS, App Service, Arc) are local: no authority, no custom agent.
      return {
        credential: chosen.clientId === undefined ? new ManagedIdentityCredential() : new ManagedIdentityCredential({ clientId: chosen.clientId }),
        identity: { credential: 'managedIdentity', ...(chosen.clientId === undefined ? {} : { clientId: chosen.clientId }) }
      }
  }
}
