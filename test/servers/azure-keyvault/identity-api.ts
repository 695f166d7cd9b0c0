// The Entra ID endpoints MSAL-node (inside @azure/identity) uses for confidential clients when its
// authority is this server and instance discovery is off: the tenant's OpenID configuration, then
// the v2.0 token endpoint (client_credentials with a secret, a certificate-signed assertion or a
// federated token). Also the App Service managed identity endpoint, served on a plain-HTTP
// listener because ManagedIdentityCredential drops the caller's pipeline policies (no custom agent,
// so no custom CA) and real App Service serves it over http on loopback too.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody, send, type Caller } from './http.js'
import { decodeJwt, verifyJwtSignature } from './jwt.js'
import type { Principal, Principals } from './principals.js'
import { vaultResource, vaultScope, type TokenRegistry } from './tokens.js'

/** Entra ID's client-credential tokens live about an hour. */
const tokenLifetimeSeconds = 3599
const jwtBearer = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

export interface IdentityApiContext {
  tenantId: string
  /** https://127.0.0.1:<port> */
  authorityHost: string
  principals: Principals
  tokens: TokenRegistry
  managedIdentity: { header: string, clientId: string }
}

/** An Entra ID error answer; status 401 for invalid_client, 400 otherwise (as Entra ID does). */
class EntraError extends Error {
  constructor (readonly error: string, readonly code: number, description: string) {
    super(`AADSTS${code}: ${description}`)
  }

  get status (): number {
    return this.error === 'invalid_client' ? 401 : 400
  }
}

function entraHeaders (): Record<string, string> {
  return {
    'Cache-Control': 'no-store, no-cache',
    Pragma: 'no-cache',
    Expires: '-1',
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    'X-Content-Type-Options': 'nosniff',
    'x-ms-ests-server': 'nfss-test',
    'x-ms-request-id': randomUUID()
  }
}

function entraErrorBody (ctx: IdentityApiContext, err: EntraError): Record<string, unknown> {
  const traceId = randomUUID()
  const correlationId = randomUUID()
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
  return {
    error: err.error,
    error_description: `${err.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [err.code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${ctx.authorityHost}/error?code=${err.code}`
  }
}

function openIdConfiguration (ctx: IdentityApiContext): Record<string, unknown> {
  const tenantBase = `${ctx.authorityHost}/${ctx.tenantId}`
  return {
    token_endpoint: `${tenantBase}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${tenantBase}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${tenantBase}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${ctx.authorityHost}/oidc/userinfo`,
    authorization_endpoint: `${tenantBase}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${tenantBase}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${tenantBase}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'oid'],
    tenant_region_scope: 'NA',
    cloud_instance_name: 'login.test',
    cloud_graph_host_name: 'graph.login.test',
    msgraph_host: 'graph.login.test'
  }
}

const required = (form: URLSearchParams, name: string): string => {
  const value = form.get(name)
  if (value === null || value === '') {
    throw new EntraError('invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`)
  }
  return value
}

/** Only the vault's /.default scope is known here; OIDC scopes MSAL may add are ignored. */
function checkScope (ctx: IdentityApiContext, scope: string): void {
  const scopes = scope.split(' ').filter(s => s !== '' && !['openid', 'profile', 'offline_access'].includes(s))
  const [only] = scopes
  if (scopes.length !== 1 || only === undefined || !only.endsWith('/.default')) {
    throw new EntraError('invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`)
  }
  const resource = only.slice(0, -'/.default'.length)
  if (resource !== vaultResource && resource !== `${vaultResource}/`) {
    throw new EntraError('invalid_resource', 500011, `The resource principal named ${resource} was not found in the tenant named ${ctx.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`)
  }
}

function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

function checkAssertionTimes (payload: Record<string, unknown>): void {
  const now = nowSeconds()
  const exp = payload.exp
  const nbf = payload.nbf
  // Entra ID allows a few minutes of clock skew.
  if (typeof exp !== 'number' || exp + 300 < now || (typeof nbf === 'number' && nbf - 300 > now)) {
    throw new EntraError('invalid_client', 700024, 'Client assertion is not within its valid time range.')
  }
}

const audiences = (aud: unknown): string[] => Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : typeof aud === 'string' ? [aud] : []

/** Proves the caller is `principal`, or throws the error Entra ID would answer. */
function authenticateClient (ctx: IdentityApiContext, principal: Principal, form: URLSearchParams): void {
  const secret = form.get('client_secret')
  const assertion = form.get('client_assertion')
  if (secret === null && assertion === null) {
    throw new EntraError('invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
  }
  if (principal.kind === 'secret' || secret !== null) {
    if (principal.kind !== 'secret' || secret !== principal.secret) {
      throw new EntraError('invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${principal.clientId}'.`)
    }
    return
  }
  if (form.get('client_assertion_type') !== jwtBearer) {
    throw new EntraError('invalid_request', 50027, 'JWT token is invalid or malformed. The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.')
  }
  const jwt = decodeJwt(assertion ?? '')
  if (jwt === undefined) throw new EntraError('invalid_request', 50027, 'JWT token is invalid or malformed.')

  if (principal.kind === 'certificate') {
    // MSAL sends x5t#S256 with PS256 when it knows the SHA-256 thumbprint, else x5t with RS256.
    const x5tS256 = jwt.header['x5t#S256']
    const x5t = jwt.header.x5t
    const matches = typeof x5tS256 === 'string'
      ? Buffer.from(x5tS256, 'base64url').equals(principal.sha256)
      : typeof x5t === 'string' && Buffer.from(x5t, 'base64url').equals(principal.sha1)
    if (!matches) {
      throw new EntraError('invalid_client', 700027, `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${String(x5tS256 ?? x5t)}']`)
    }
    if (!verifyJwtSignature(jwt, principal.publicKey)) throw new EntraError('invalid_client', 700027, 'Client assertion failed signature validation.')
    if (jwt.payload.iss !== principal.clientId || jwt.payload.sub !== principal.clientId) {
      throw new EntraError('invalid_client', 700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
    }
    const tokenEndpoint = `${ctx.authorityHost}/${ctx.tenantId}/oauth2/v2.0/token`
    if (!audiences(jwt.payload.aud).includes(tokenEndpoint)) {
      throw new EntraError('invalid_client', 700023, `Client assertion audience claim does not match Realm issuer. Review the documentation at https://aka.ms/certCreds. Expected: ${tokenEndpoint}.`)
    }
    checkAssertionTimes(jwt.payload)
    return
  }

  // A federated credential: issuer, subject and audience must match the registration exactly.
  if (jwt.payload.iss !== principal.issuer) {
    throw new EntraError('invalid_request', 700211, `No matching federated identity record found for presented assertion issuer '${String(jwt.payload.iss)}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`)
  }
  if (!verifyJwtSignature(jwt, principal.issuerKey)) throw new EntraError('invalid_client', 700027, 'Client assertion failed signature validation.')
  if (jwt.payload.sub !== principal.subject) {
    throw new EntraError('invalid_request', 700213, `No matching federated identity record found for presented assertion subject '${String(jwt.payload.sub)}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`)
  }
  if (!audiences(jwt.payload.aud).includes(principal.audience)) {
    throw new EntraError('invalid_request', 700212, `No matching federated identity record found for presented assertion audience '${String(jwt.payload.aud)}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`)
  }
  checkAssertionTimes(jwt.payload)
}

function tokenRequest (ctx: IdentityApiContext, form: URLSearchParams, caller: Caller): Record<string, unknown> {
  const grantType = required(form, 'grant_type')
  if (grantType !== 'client_credentials') {
    throw new EntraError('unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`)
  }
  const clientId = required(form, 'client_id')
  caller.clientId = clientId
  checkScope(ctx, required(form, 'scope'))
  const principal = ctx.principals.registrations.get(clientId)
  if (principal === undefined) {
    throw new EntraError('unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${ctx.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`)
  }
  authenticateClient(ctx, principal, form)
  const issued = ctx.tokens.issue(clientId, tokenLifetimeSeconds)
  return { token_type: 'Bearer', expires_in: tokenLifetimeSeconds, ext_expires_in: tokenLifetimeSeconds, access_token: issued.token }
}

/** Anything on the HTTPS listener that is not a vault host. */
export async function handleIdentityRequest (ctx: IdentityApiContext, req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.authorityHost)
  const body = await readBody(req)
  const [tenant, ...rest] = url.pathname.split('/').slice(1)
  const path = rest.join('/')
  const unknownTenant = (): void => {
    const err = new EntraError('invalid_tenant', 90002, `Tenant '${tenant ?? ''}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`)
    send(res, 400, entraHeaders(), entraErrorBody(ctx, err))
  }

  if (req.method === 'GET' && (path === 'v2.0/.well-known/openid-configuration' || path === '.well-known/openid-configuration')) {
    if (tenant !== ctx.tenantId) unknownTenant()
    else send(res, 200, entraHeaders(), openIdConfiguration(ctx))
    return
  }
  if (req.method === 'GET' && path === 'discovery/v2.0/keys') {
    // Access tokens here are opaque, so there are no signing keys to publish.
    send(res, 200, entraHeaders(), { keys: [] })
    return
  }
  if (req.method === 'POST' && path === 'oauth2/v2.0/token') {
    if (tenant !== ctx.tenantId) {
      unknownTenant()
      return
    }
    try {
      send(res, 200, entraHeaders(), tokenRequest(ctx, new URLSearchParams(body), caller))
    } catch (err) {
      if (!(err instanceof EntraError)) throw err
      send(res, err.status, entraHeaders(), entraErrorBody(ctx, err))
    }
    return
  }
  send(res, 404, entraHeaders(), { error: 'not_found', error_description: `The test server has no identity endpoint ${req.method ?? ''} ${url.pathname}.` })
}

/**
 * App Service managed identity (api-version 2019-08-01): GET <IDENTITY_ENDPOINT>?resource=...
 * with header X-IDENTITY-HEADER. Error texts here are unverified (App Service documents only the
 * success shape); they use the {statusCode, message, correlationId} form MSAL reads `message` from.
 */
export function handleManagedIdentityRequest (ctx: IdentityApiContext, req: IncomingMessage, res: ServerResponse, caller: Caller): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1')
  const fail = (status: number, message: string): void => {
    send(res, status, {}, { statusCode: status, message, correlationId: randomUUID() })
  }
  if (req.method !== 'GET' || url.pathname !== '/msi/token') {
    fail(404, `The test server has no managed identity endpoint ${req.method ?? ''} ${url.pathname}.`)
    return
  }
  if (req.headers['x-identity-header'] !== ctx.managedIdentity.header) {
    fail(401, 'The X-IDENTITY-HEADER header is missing or does not match.')
    return
  }
  if (url.searchParams.get('api-version') !== '2019-08-01') {
    fail(400, `Unsupported api-version ${url.searchParams.get('api-version') ?? '(none)'}; this endpoint implements 2019-08-01.`)
    return
  }
  const clientId = url.searchParams.get('client_id') ?? ctx.managedIdentity.clientId
  caller.clientId = clientId
  // The one identity of this "App Service" answers both as system-assigned (no id) and by its client id.
  if (clientId !== ctx.managedIdentity.clientId || url.searchParams.has('mi_res_id') || url.searchParams.has('object_id')) {
    fail(400, 'Unable to load the proper Managed Identity.')
    return
  }
  const resource = url.searchParams.get('resource')
  if (resource !== vaultResource && resource !== `${vaultResource}/`) {
    fail(400, `AADSTS500011: The resource principal named ${resource ?? '(none)'} was not found in the tenant named ${ctx.tenantId}.`)
    return
  }
  const issued = ctx.tokens.issue(clientId, 86400)
  send(res, 200, {}, {
    access_token: issued.token,
    expires_on: String(issued.expiresOn),
    resource,
    token_type: 'Bearer',
    client_id: clientId
  })
}
