// The Key Vault test server: a test server written to Microsoft's REST description and recorded
// exchanges, not Azure. One HTTPS listener on 127.0.0.1 answers as every vault
// (Host <vault>.vault.azure.net) and as the Entra ID authority (any other Host); a plain-HTTP
// listener answers as App Service's managed identity endpoint.
//
// What a client needs (the same as for the product backend):
// - vault URLs https://<vault>.vault.azure.net:<port>, because the SDK checks that the vault host
//   ends with "." + the challenge's resource host (vault.azure.net); `lookup` resolves them here;
// - a pipeline policy that sets request.agent = new https.Agent({ ca: caPem, lookup }), on the
//   SecretClient and on every credential except ManagedIdentityCredential (which ignores
//   additionalPolicies; its endpoint is plain http, as on App Service);
// - credentials with authorityHost and disableInstanceDiscovery: true (else MSAL asks
//   login.microsoftonline.com to validate the authority).
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { send, type Caller, type LoggedRequest } from './http.js'
import { handleIdentityRequest, handleManagedIdentityRequest, type IdentityApiContext } from './identity-api.js'
import { createPrincipals } from './principals.js'
import { VaultStore, type UpdateSecretInput } from './store.js'
import { createTestPki } from './tls.js'
import { TokenRegistry } from './tokens.js'
import { handleVaultRequest, type VaultApiContext } from './vault-api.js'

export interface KeyVaultTestServerOptions {
  /** Vault names (3-24 letters, digits, hyphens); the first is the default. Default ['nfss-test']. */
  vaults?: string[]
}

export interface SetSecretOptions {
  vault?: string
  tags?: Record<string, string>
  contentType?: string
  enabled?: boolean
  nbf?: number
  exp?: number
  managed?: boolean
}

export interface UpdateSecretPatch extends UpdateSecretInput {
  vault?: string
  /** Default: the latest version. */
  version?: string
}

export interface KeyVaultTestServer {
  port: number
  caPem: string
  /** PEM file of the CA. */
  caFile: string
  tenantId: string
  /** https://<vault>.vault.azure.net:<port> (default: the first vault). */
  vaultUrl: (vault?: string) => string
  /** dns.lookup-compatible (handles options.all): every name resolves to 127.0.0.1. */
  lookup: (hostname: string, options: object, callback: (...args: any[]) => void) => void
  /** https://127.0.0.1:<port>, where the Entra ID endpoints live. */
  authorityHost: string
  /** App Service style: IDENTITY_ENDPOINT (plain http on 127.0.0.1) and IDENTITY_HEADER. */
  managedIdentity: { endpoint: string, header: string, clientId: string }
  principals: {
    clientSecret: { clientId: string, secret: string }
    /** pemFile: cert + key in one PEM, what ClientCertificateCredential takes. */
    certificate: { clientId: string, certPem: string, keyPem: string, pemFile: string }
    /** tokenFile: a federated token (JWT) as AKS writes to AZURE_FEDERATED_TOKEN_FILE. */
    workload: { clientId: string, tokenFile: string }
    /** Authenticates fine, gets 403 (ForbiddenByRbac) from the vault. */
    denied: { clientId: string, secret: string }
  }
  /**
   * A bearer token valid for the vault, minted directly (for tests that bypass identity).
   * Default principal: clientSecret; lifetimeSeconds <= 0 gives an already expired token.
   */
  issueToken: (clientId?: string, options?: { lifetimeSeconds?: number }) => string
  setSecret: (name: string, value: string, options?: SetSecretOptions) => { id: string, version: string }
  updateSecret: (name: string, patch: UpdateSecretPatch) => void
  /** Soft delete (to deleted-secrets), as the API does. */
  deleteSecret: (name: string, vault?: string) => void
  /**
   * Every data-plane and token request: method, path (no query), query, status, principal clientId
   * if any. Status 0: the connection was closed unanswered (a vault this server does not have).
   */
  requests: ReadonlyArray<LoggedRequest>
  resetRequests: () => void
  /** The next `count` vault requests answer 429 with Retry-After: seconds (Key Vault's throttling body). */
  throttle: (count: number, retryAfterSeconds: number) => void
  deny: (clientId: string) => void
  allow: (clientId: string) => void
  close: () => Promise<void>
}

const vaultNamePattern = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/
const vaultHostSuffix = '.vault.azure.net'

function checkVaultName (name: string): string {
  const lower = name.toLowerCase()
  if (!vaultNamePattern.test(lower) || lower.includes('--')) throw new Error(`invalid vault name ${JSON.stringify(name)}`)
  return lower
}

async function listen (server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return (server.address() as AddressInfo).port
}

async function closeServer (server: Server): Promise<void> {
  await new Promise<void>(resolve => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

export async function startKeyVaultTestServer (options: KeyVaultTestServerOptions = {}): Promise<KeyVaultTestServer> {
  const vaultNames = (options.vaults ?? ['nfss-test']).map(checkVaultName)
  const defaultVault = vaultNames[0]
  if (defaultVault === undefined) throw new Error('at least one vault is needed')
  const dir = await mkdtemp(join(tmpdir(), 'nfss-akv-'))
  const servers: Server[] = []
  try {
    const pki = await createTestPki(dir)
    const principals = await createPrincipals(dir, pki)
    const tenantId = randomUUID()
    const tokens = new TokenRegistry()
    const denied = new Set([principals.denied.clientId])
    const throttleState = { remaining: 0, retryAfterSeconds: 0 }
    const requests: LoggedRequest[] = []
    const stores = new Map<string, VaultStore>()
    const objectIds = new Map<string, string>()

    const https = createHttpsServer({ key: pki.serverKeyPem, cert: pki.serverCertPem })
    const http = createHttpServer()
    servers.push(https, http)
    const port = await listen(https)
    const managedIdentityPort = await listen(http)
    const vaultUrl = (vault = defaultVault): string => `https://${vault.toLowerCase()}${vaultHostSuffix}:${port}`
    for (const vault of vaultNames) stores.set(vault, new VaultStore(vaultUrl(vault)))

    const authorityHost = `https://127.0.0.1:${port}`
    const managedIdentity = {
      endpoint: `http://127.0.0.1:${managedIdentityPort}/msi/token`,
      header: randomBytes(16).toString('hex'),
      clientId: principals.managedIdentityClientId
    }
    const vaultContext: VaultApiContext = {
      tenantId,
      subscriptionId: randomUUID(),
      tokens,
      denied,
      throttle: throttleState,
      objectIdOf: clientId => {
        let oid = objectIds.get(clientId)
        if (oid === undefined) objectIds.set(clientId, oid = randomUUID())
        return oid
      }
    }
    const identityContext: IdentityApiContext = { tenantId, authorityHost, principals, tokens, managedIdentity }

    const vaultOf = (req: IncomingMessage): string | undefined => {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase()
      return host.endsWith(vaultHostSuffix) ? host.slice(0, -vaultHostSuffix.length) : undefined
    }
    /** Logs vault and token exchanges (kind decided up front), turns handler bugs into 500s. */
    const serve = (kindOf: (req: IncomingMessage) => LoggedRequest['kind'] | undefined,
      handler: (req: IncomingMessage, res: ServerResponse, caller: Caller) => Promise<void>) =>
      (req: IncomingMessage, res: ServerResponse): void => {
        const caller: Caller = {}
        const kind = kindOf(req)
        if (kind !== undefined) {
          const url = new URL(req.url ?? '/', 'http://127.0.0.1')
          res.once('close', () => {
            requests.push({
              method: req.method ?? '',
              path: url.pathname,
              query: Object.fromEntries(url.searchParams),
              status: res.writableFinished ? res.statusCode : 0,
              ...(caller.clientId === undefined ? {} : { clientId: caller.clientId }),
              kind
            })
          })
        }
        handler(req, res, caller).catch((err: unknown) => {
          if (res.headersSent) res.destroy()
          else send(res, 500, {}, { error: { code: 'TestServerBug', message: String(err) } })
        })
      }

    https.on('request', serve(
      req => vaultOf(req) !== undefined ? 'vault' : req.method === 'POST' && /\/oauth2\/v2\.0\/token$/.test(req.url?.split('?')[0] ?? '') ? 'token' : undefined,
      async (req, res, caller) => {
        const vault = vaultOf(req)
        if (vault === undefined) {
          await handleIdentityRequest(identityContext, req, res, caller)
          return
        }
        const store = stores.get(vault)
        if (store === undefined) {
          // Real clients never reach a vault that does not exist: its name does not resolve.
          // The nearest thing here is a connection closed without an answer.
          req.socket.destroy()
          return
        }
        await handleVaultRequest(vaultContext, vault, store, req, res, caller)
      }))
    http.on('request', serve(() => 'token', async (req, res, caller) => {
      handleManagedIdentityRequest(identityContext, req, res, caller)
    }))

    const storeOf = (vault = defaultVault): VaultStore => {
      const store = stores.get(vault.toLowerCase())
      if (store === undefined) throw new Error(`the test server has no vault ${vault}`)
      return store
    }

    return {
      port,
      caPem: pki.caPem,
      caFile: pki.caFile,
      tenantId,
      vaultUrl,
      lookup: (_hostname, lookupOptions, callback) => {
        if ((lookupOptions as { all?: boolean }).all === true) callback(null, [{ address: '127.0.0.1', family: 4 }])
        else callback(null, '127.0.0.1', 4)
      },
      authorityHost,
      managedIdentity,
      principals: {
        clientSecret: principals.clientSecret,
        certificate: principals.certificate,
        workload: principals.workload,
        denied: principals.denied
      },
      issueToken: (clientId = principals.clientSecret.clientId, tokenOptions = {}) =>
        tokens.issue(clientId, tokenOptions.lifetimeSeconds ?? 3599).token,
      setSecret: (name, value, { vault, ...input } = {}) => {
        const bundle = storeOf(vault).set(name, { value, ...input })
        const id = String(bundle.id)
        return { id, version: id.slice(id.lastIndexOf('/') + 1) }
      },
      updateSecret: (name, { vault, version, ...patch }) => {
        storeOf(vault).update(name, version ?? '', patch)
      },
      deleteSecret: (name, vault) => {
        storeOf(vault).delete(name)
      },
      requests,
      resetRequests: () => { requests.length = 0 },
      throttle: (count, retryAfterSeconds) => {
        throttleState.remaining = count
        throttleState.retryAfterSeconds = retryAfterSeconds
      },
      deny: clientId => { denied.add(clientId) },
      allow: clientId => { denied.delete(clientId) },
      close: async () => {
        await Promise.all(servers.map(closeServer))
        await rm(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await Promise.all(servers.filter(s => s.listening).map(closeServer))
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}
