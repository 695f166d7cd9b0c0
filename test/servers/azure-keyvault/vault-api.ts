// The secrets data plane of one vault (Host <vault>.vault.azure.net), written to Microsoft's REST
// description (rest-api-spec 2025-07-01 secrets.json) and the recorded exchanges. Order of checks:
// throttling, bearer token, api-version, route, name, RBAC, then the operation.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody, send, type Caller } from './http.js'
import { decodeSkipToken, encodeSkipToken } from './paging.js'
import { isValidSecretName, KeyVaultError, type Page, type SetSecretInput, type UpdateSecretInput, type VaultStore } from './store.js'
import { vaultResource, type TokenRegistry } from './tokens.js'

/** The versions the SDKs and recordings use; the newest is what the service suggests instead. */
export const supportedApiVersions = new Set([
  '2016-10-01', '7.0', '7.1', '7.2', '7.3', '7.4', '7.4-preview.1', '7.5', '7.5-preview.1', '7.6', '7.6-preview.2', '2025-07-01'
])
const latestApiVersion = '2025-07-01'
const maxResultsDefault = 25

export interface VaultApiContext {
  tenantId: string
  subscriptionId: string
  tokens: TokenRegistry
  denied: ReadonlySet<string>
  throttle: { remaining: number, retryAfterSeconds: number }
  /** Stable object id per client id, for RBAC messages. */
  objectIdOf: (clientId: string) => string
}

const serviceVersion = '1.9.0.0-nfss-test'

function baseHeaders (req: IncomingMessage): Record<string, string> {
  const clientRequestId = req.headers['x-ms-client-request-id']
  return {
    'Cache-Control': 'no-cache',
    Pragma: 'no-cache',
    Expires: '-1',
    'Strict-Transport-Security': 'max-age=31536000;includeSubDomains',
    'X-Content-Type-Options': 'nosniff',
    ...(typeof clientRequestId === 'string' ? { 'x-ms-client-request-id': clientRequestId } : {}),
    'x-ms-keyvault-network-info': 'conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;',
    'x-ms-keyvault-region': 'nfss-test',
    'x-ms-keyvault-service-version': serviceVersion,
    'x-ms-request-id': randomUUID()
  }
}

function unauthorized (ctx: VaultApiContext, message: string): { status: number, headers: Record<string, string>, error: KeyVaultError } {
  return {
    status: 401,
    headers: { 'WWW-Authenticate': `Bearer authorization="https://login.windows.net/${ctx.tenantId}", resource="${vaultResource}"` },
    error: new KeyVaultError(401, 'Unauthorized', message)
  }
}

// Texts: the missing-token one is recorded; TokenExpired is what real vaults answer (seen in public
// SDK issues); the unknown-token one is the service's answer to a token it cannot parse (unverified).
function authenticate (ctx: VaultApiContext, req: IncomingMessage): string | ReturnType<typeof unauthorized> {
  const header = req.headers.authorization
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null
  if (match?.[1] === undefined) return unauthorized(ctx, 'AKV10000: Request is missing a Bearer or PoP token.')
  const issued = ctx.tokens.find(match[1])
  if (issued === undefined) return unauthorized(ctx, "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'.")
  if (issued.expiresOn <= Math.floor(Date.now() / 1000)) return unauthorized(ctx, "[TokenExpired] Error validating token: 'S2S12086'.")
  return issued.clientId
}

type Operation = (store: VaultStore) => { status: number, body?: unknown }

interface Route {
  /** RBAC data action, named in the 403 message. */
  action: string
  secretName?: string
  run: Operation
}

const badRequest = (message: string): KeyVaultError => new KeyVaultError(400, 'BadParameter', message)

function parseJsonBody (text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw badRequest('The request body is not valid JSON.') // text unverified
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('The request body must be a JSON object.')
  return value as Record<string, unknown>
}

function optionalString (body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw badRequest(`Property ${field} must be a string.`)
  return value
}

function optionalTags (body: Record<string, unknown>): Record<string, string> | undefined {
  const tags = body.tags
  if (tags === undefined || tags === null) return undefined
  if (typeof tags !== 'object' || Array.isArray(tags) || !Object.values(tags).every(v => typeof v === 'string')) {
    throw badRequest('Property tags must be an object of strings.')
  }
  return tags as Record<string, string>
}

function attributesOf (body: Record<string, unknown>): Record<string, unknown> {
  const attributes = body.attributes
  if (attributes === undefined || attributes === null) return {}
  if (typeof attributes !== 'object' || Array.isArray(attributes)) throw badRequest('Property attributes must be an object.')
  const a = attributes as Record<string, unknown>
  if (a.enabled !== undefined && a.enabled !== null && typeof a.enabled !== 'boolean') throw badRequest('Property enabled must be a boolean.')
  for (const field of ['nbf', 'exp']) {
    if (a[field] !== undefined && a[field] !== null && !Number.isInteger(a[field])) throw badRequest(`Property ${field} must be an integer (Unix seconds).`)
  }
  return a
}

function setInput (body: Record<string, unknown>): SetSecretInput {
  const value = body.value
  if (typeof value !== 'string') throw badRequest('Property value is required and must be a string.')
  const attributes = attributesOf(body)
  const input: SetSecretInput = { value }
  const contentType = optionalString(body, 'contentType')
  const tags = optionalTags(body)
  if (contentType !== undefined) input.contentType = contentType
  if (tags !== undefined) input.tags = tags
  if (typeof attributes.enabled === 'boolean') input.enabled = attributes.enabled
  if (typeof attributes.nbf === 'number') input.nbf = attributes.nbf
  if (typeof attributes.exp === 'number') input.exp = attributes.exp
  return input
}

function updateInput (body: Record<string, unknown>): UpdateSecretInput {
  const attributes = attributesOf(body)
  const patch: UpdateSecretInput = {}
  const contentType = optionalString(body, 'contentType')
  const tags = optionalTags(body)
  if (contentType !== undefined) patch.contentType = contentType
  if (tags !== undefined) patch.tags = tags
  if (typeof attributes.enabled === 'boolean') patch.enabled = attributes.enabled
  for (const field of ['nbf', 'exp'] as const) {
    const value = attributes[field]
    if (value === null) patch[field] = null
    else if (typeof value === 'number') patch[field] = value
  }
  return patch
}

function maxResultsOf (query: URLSearchParams): number {
  const raw = query.get('maxresults')
  if (raw === null) return maxResultsDefault
  const n = Number(raw)
  // Range from the spec (1..25); the error text is unverified.
  if (!Number.isInteger(n) || n < 1 || n > 25) throw badRequest(`Invalid maxresults: ${raw}. It must be between 1 and 25.`)
  return n
}

/** A page as the service answers it: nextLink absolute, with api-version, $skiptoken and maxresults. */
function pageBody (page: Page<unknown>, nextLinkBase: string, apiVersion: string, maxResults: number): unknown {
  if (page.nextKey === undefined) return { value: page.items, nextLink: null }
  const skipToken = encodeSkipToken(page.nextKey)
  return { value: page.items, nextLink: `${nextLinkBase}?api-version=${apiVersion}&$skiptoken=${skipToken}&maxresults=${maxResults}` }
}

function startKeyOf (query: URLSearchParams, keyPrefix: string): string | undefined {
  const token = query.get('$skiptoken')
  if (token === null) return undefined
  const key = decodeSkipToken(token)
  if (key === undefined || !key.startsWith(keyPrefix)) throw badRequest('The $skiptoken is not valid.') // text unverified
  return key
}

/** A malformed escape stays as sent, so that name validation refuses it. */
function decodeSegment (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

function route (method: string, segments: string[], query: URLSearchParams, body: string, vaultUrl: string, apiVersion: string): Route | undefined {
  const secretsAction = (verb: string): string => `Microsoft.KeyVault/vaults/secrets/${verb}`
  const [collection, rawName, rawVersion, ...rest] = segments
  if (rest.length > 0) return undefined
  const name = rawName === undefined ? undefined : decodeSegment(rawName)
  const version = rawVersion === undefined ? undefined : decodeSegment(rawVersion)

  if (collection === 'secrets' && name === undefined && method === 'GET') {
    return {
      action: secretsAction('readMetadata/action'),
      run: store => {
        const max = maxResultsOf(query)
        return { status: 200, body: pageBody(store.listSecrets(startKeyOf(query, 'secret/'), max), `${vaultUrl}/secrets`, apiVersion, max) }
      }
    }
  }
  if (collection === 'secrets' && name !== undefined) {
    if (version === 'versions' && method === 'GET') {
      return {
        action: secretsAction('readMetadata/action'),
        secretName: name,
        run: store => {
          const max = maxResultsOf(query)
          const page = store.listVersions(name, startKeyOf(query, `secret/${name.toUpperCase()}/`), max)
          return { status: 200, body: pageBody(page, `${vaultUrl}/secrets/${name}/versions`, apiVersion, max) }
        }
      }
    }
    // /secrets/{name} and /secrets/{name}/ both address the latest version.
    if (method === 'GET') return { action: secretsAction('getSecret/action'), secretName: name, run: store => ({ status: 200, body: store.get(name, version ?? '') }) }
    if (method === 'PATCH') {
      return { action: secretsAction('update/action'), secretName: name, run: store => ({ status: 200, body: store.update(name, version ?? '', updateInput(parseJsonBody(body))) }) }
    }
    if (version === undefined && method === 'PUT') {
      return { action: secretsAction('setSecret/action'), secretName: name, run: store => ({ status: 200, body: store.set(name, setInput(parseJsonBody(body))) }) }
    }
    if (version === undefined && method === 'DELETE') {
      return { action: secretsAction('delete'), secretName: name, run: store => ({ status: 200, body: store.delete(name) }) }
    }
  }
  if (collection === 'deletedsecrets' && name === undefined && method === 'GET') {
    return {
      action: secretsAction('readMetadata/action'),
      run: store => {
        const max = maxResultsOf(query)
        return { status: 200, body: pageBody(store.listDeleted(startKeyOf(query, 'deletedsecret/'), max), `${vaultUrl}/deletedsecrets`, apiVersion, max) }
      }
    }
  }
  if (collection === 'deletedsecrets' && name !== undefined && version === undefined) {
    if (method === 'GET') return { action: secretsAction('readMetadata/action'), secretName: name, run: store => ({ status: 200, body: store.getDeleted(name) }) }
    if (method === 'DELETE') return { action: secretsAction('purge/action'), secretName: name, run: store => { store.purge(name); return { status: 204 } } }
  }
  return undefined
}

/** Shape per Microsoft's RBAC docs and public reports (no recording has a 403 by RBAC). */
function forbiddenByRbac (ctx: VaultApiContext, vault: string, clientId: string, action: string, secretName?: string): KeyVaultError {
  const resource = `/subscriptions/${ctx.subscriptionId}/resourcegroups/nfss-test/providers/microsoft.keyvault/vaults/${vault}` +
    (secretName === undefined ? '' : `/secrets/${secretName}`)
  const message = [
    'Caller is not authorized to perform action on resource.',
    'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
    `Caller: appid=${clientId};oid=${ctx.objectIdOf(clientId)};iss=https://sts.windows.net/${ctx.tenantId}/`,
    `Action: '${action}'`,
    `Resource: '${resource}'`,
    'Assignment: (not found)',
    'DenyAssignmentId: null',
    "DecisionReason: 'DeniedWithNoValidRBAC' ",
    `Vault: ${vault};location=nfss-test`,
    ''
  ].join('\r\n')
  return new KeyVaultError(403, 'Forbidden', message, 'ForbiddenByRbac')
}

export async function handleVaultRequest (ctx: VaultApiContext, vault: string, store: VaultStore,
  req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
  const headers = baseHeaders(req)
  const fail = (error: KeyVaultError, extraHeaders: Record<string, string> = {}): void => {
    send(res, error.status, { ...headers, ...extraHeaders }, error.body())
  }
  const body = await readBody(req)

  if (ctx.throttle.remaining > 0) {
    ctx.throttle.remaining--
    // Body as real vaults answer (public reports); Retry-After in seconds per the throttling docs.
    fail(new KeyVaultError(429, 'Throttled', 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached'),
      { 'Retry-After': String(ctx.throttle.retryAfterSeconds) })
    return
  }

  const authenticated = authenticate(ctx, req)
  if (typeof authenticated !== 'string') {
    fail(authenticated.error, authenticated.headers)
    return
  }
  caller.clientId = authenticated

  const url = new URL(req.url ?? '/', 'https://vault.invalid')
  const apiVersion = url.searchParams.get('api-version')
  if (apiVersion === null || apiVersion === '') {
    fail(badRequest('The api-version query parameter is missing.')) // text unverified; the spec makes it required
    return
  }
  if (!supportedApiVersions.has(apiVersion)) {
    // Text as real vaults answer an unknown version (public reports).
    fail(badRequest(`The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (${latestApiVersion}).`))
    return
  }

  const segments = url.pathname.split('/').slice(1)
  const matched = route(req.method ?? 'GET', segments, url.searchParams, body, store.vaultUrl, apiVersion)
  if (matched === undefined) {
    fail(new KeyVaultError(501, 'NotImplemented', `The Key Vault test server does not implement ${req.method ?? ''} ${url.pathname}.`))
    return
  }
  try {
    if (matched.secretName !== undefined && !isValidSecretName(matched.secretName)) {
      throw badRequest(`The request URI contains an invalid name: ${matched.secretName}`)
    }
    if (ctx.denied.has(authenticated)) throw forbiddenByRbac(ctx, vault, authenticated, matched.action, matched.secretName)
    const answer = matched.run(store)
    send(res, answer.status, headers, answer.body)
  } catch (err) {
    if (!(err instanceof KeyVaultError)) throw err
    fail(err)
  }
}
