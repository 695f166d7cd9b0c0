// The Key Vault test server (a test server written to Microsoft's REST description and recorded
// exchanges, not Azure) held to real Key Vault answers: every exchange the Azure SDK's tests
// recorded against the real service is replayed against it, then @azure/keyvault-secrets and
// each @azure/identity credential path are run against it.
//
// Client options this needs (the product backend needs the same):
// - SecretClient(server.vaultUrl(), credential, { additionalPolicies: [agentPolicy] }) where the
//   policy sets request.agent = new https.Agent({ ca: server.caPem, lookup: server.lookup }).
//   Vault URLs must be https://<vault>.vault.azure.net:<port>: the SDK refuses a challenge whose
//   resource host (vault.azure.net) does not end the vault host.
// - ClientSecret/ClientCertificate/WorkloadIdentity credentials: { authorityHost:
//   server.authorityHost, disableInstanceDiscovery: true, additionalPolicies: [agentPolicy] }.
//   Without disableInstanceDiscovery MSAL asks login.microsoftonline.com about the authority.
// - ManagedIdentityCredential: env IDENTITY_ENDPOINT + IDENTITY_HEADER (App Service), nothing
//   else; it replaces additionalPolicies with its own retry policy, so its endpoint is plain http.
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import https from 'node:https'
import { join, relative } from 'node:path'
import t, { type Test } from 'tap'
import {
  ClientCertificateCredential, ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential,
  WorkloadIdentityCredential, type TokenCredential
} from '@azure/identity'
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets'
import { repoRoot, suiteCanRun } from './common.js'
import { recoverableDays, startKeyVaultTestServer, type KeyVaultTestServer } from './azure-keyvault/index.js'

const recordingsDir = join(repoRoot, '..', 'shared', 'reference', 'azure-keyvault', 'recordings')
const recordedHost = 'keyvault_name.vault.azure.net'
const recordedTenants = ['12345678-1234-1234-1234-123456789012', 'azure_tenant_id']
const vaultScope = 'https://vault.azure.net/.default'

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }
type AdditionalPolicy = NonNullable<SecretClientOptions['additionalPolicies']>[number]

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

// ---------------------------------------------------------------------------------------------
// HTTP without the SDK (to see statuses, headers and bodies exactly)

interface RawResponse { status: number, headers: Record<string, string>, text: string, json: unknown }

function testServerAgent (server: KeyVaultTestServer, keepAlive = false): https.Agent {
  return new https.Agent({ ca: server.caPem, lookup: server.lookup, keepAlive })
}

async function rawRequest (agent: https.Agent, method: string, url: string, headers: Record<string, string> = {}, body = ''): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const req = https.request(url, { method, agent, headers: { ...headers, 'Content-Length': Buffer.byteLength(body).toString() } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const flat: Record<string, string> = {}
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v
        let json: unknown
        try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, headers: flat, text, json })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The pipeline policy every client of the test server needs: trust its CA, resolve its names. */
function agentPolicy (agent: https.Agent): AdditionalPolicy {
  return {
    position: 'perCall',
    policy: {
      name: 'keyVaultTestServerAgent',
      sendRequest: async (request, next) => {
        request.agent = agent
        return await next(request)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Recordings, in one shape for both formats

interface Recorded {
  method: string
  url: URL
  /** Recorded with Authorization (node format) or, in the browser format that records no request headers, not answered 401. */
  authorized: boolean
  requestHeaders: Record<string, string>
  requestBody: string
  status: number
  responseHeaders: Record<string, string>
  responseBody: Json | undefined
}

const lowerKeys = (o: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), String(v)]))

function loadRecording (file: string): Recorded[] {
  const data = JSON.parse(readFileSync(file, 'utf8')) as JsonObject
  if (Array.isArray(data.Entries)) {
    // test-proxy format: bodies stored parsed (the recordings' compact JSON is what the SDK sends).
    return (data.Entries as JsonObject[]).map(e => {
      const requestHeaders = lowerKeys(e.RequestHeaders as JsonObject)
      return {
        method: String(e.RequestMethod),
        url: new URL(String(e.RequestUri)),
        authorized: 'authorization' in requestHeaders,
        requestHeaders,
        requestBody: e.RequestBody === null || e.RequestBody === undefined ? '' : typeof e.RequestBody === 'string' ? e.RequestBody : JSON.stringify(e.RequestBody),
        status: Number(e.StatusCode),
        responseHeaders: lowerKeys(e.ResponseHeaders as JsonObject),
        responseBody: e.ResponseBody === null || e.ResponseBody === '' ? undefined : e.ResponseBody
      }
    })
  }
  // recorder-v1 format: response bodies are JSON strings, request headers are not recorded.
  return (data.recordings as JsonObject[]).map(e => {
    const url = new URL(String(e.url))
    for (const [k, v] of Object.entries(e.query as JsonObject)) url.searchParams.set(k, String(v))
    const response = String(e.response ?? '')
    const status = Number(e.status)
    return {
      method: String(e.method),
      url,
      authorized: url.hostname === recordedHost && status !== 401,
      requestHeaders: {},
      requestBody: typeof e.requestBody === 'string' ? e.requestBody : '',
      status,
      responseHeaders: lowerKeys(e.responseHeaders as JsonObject),
      responseBody: response === '' ? undefined : JSON.parse(response) as Json
    }
  })
}

function recordingFiles (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? recordingFiles(path) : name.endsWith('.json') ? [path] : []
  }).sort()
}

/** The storage key in a $skiptoken (read independently of the server's own encoder). */
function skipTokenKey (token: string): { key: string, marker: JsonObject } {
  const marker = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as JsonObject
  const [version, length, continuation] = String(marker.NextMarker).split('!')
  if (version !== '2' || continuation === undefined || Number(length) !== continuation.length) throw new Error(`unexpected NextMarker ${String(marker.NextMarker)}`)
  const [, key] = Buffer.from(continuation.replace(/-/g, '='), 'base64').toString('utf8').split('!')
  return { key: key ?? '', marker }
}

const skipTokenOf = (url: string): string | undefined => new URL(url.replace(/:443\//, '/')).searchParams.get('$skiptoken') ?? undefined
const secretNameOf = (id: string): string => id.split('/secrets/')[1]?.split('/')[0] ?? ''
const isVaultList = (r: Recorded): boolean => r.method === 'GET' && r.url.hostname === recordedHost && r.url.pathname === '/secrets'

/**
 * A run of identical requests answered 404 and then 200 polls for something the real service does
 * eventually (a soft delete showing up under /deletedsecrets). The test server finishes such work
 * at once, so only the final request of the run is replayed in place; the first 404 is kept as a
 * probe, replayed after the recording, when again no deleted secret has that name (it was purged).
 */
function collapsePolls (exchanges: Recorded[]): { kept: Recorded[], collapsed: string[], probes: Recorded[] } {
  const kept: Recorded[] = []
  const collapsed: string[] = []
  const probes: Recorded[] = []
  for (let i = 0; i < exchanges.length;) {
    const first = exchanges[i] as Recorded
    let j = i
    while (j + 1 < exchanges.length && exchanges[j + 1]?.method === first.method && exchanges[j + 1]?.url.href === first.url.href) j++
    const run = exchanges.slice(i, j + 1)
    const last = run[run.length - 1] as Recorded
    if (run.length > 1 && last.status === 200 && run.slice(0, -1).every(r => r.status === 404)) {
      collapsed.push(`${run.length - 1} x ${first.method} ${first.url.pathname} (404 until the service finished, then 200)`)
      kept.push(last)
      probes.push(first)
    } else {
      kept.push(...run)
    }
    i = j + 1
  }
  return { kept, collapsed, probes }
}

/**
 * The vault as it was when the recording began: secrets other tests had left (listed but not
 * created by the recording), and soft-deleted ones. A page that came back empty although its
 * $skiptoken named a key shows a soft-deleted secret at that key; an empty first page shows one
 * before the key its nextLink names. A marker followed by a different item was purged meanwhile.
 */
function seedWorld (server: KeyVaultTestServer, vault: string, exchanges: Recorded[]): { live: number, deleted: number } {
  const created = new Set(exchanges.filter(r => r.method === 'PUT').map(r => decodeURIComponent(r.url.pathname.split('/')[2] ?? '').toUpperCase()))
  const live = new Map<string, JsonObject>()
  const deleted = new Set<string>()
  for (const r of exchanges.filter(isVaultList)) {
    const body = r.responseBody
    if (!isObject(body) || !Array.isArray(body.value)) continue
    for (const item of body.value) {
      if (!isObject(item)) continue
      const name = secretNameOf(String(item.id))
      if (!created.has(name.toUpperCase())) live.set(name.toUpperCase(), { ...item, name })
    }
    if (body.value.length > 0) continue
    const token = r.url.searchParams.get('$skiptoken')
    if (token !== null) {
      deleted.add(skipTokenKey(token).key.replace(/^secret\//, ''))
    } else if (typeof body.nextLink === 'string') {
      const next = skipTokenKey(skipTokenOf(body.nextLink) ?? '').key.replace(/^secret\//, '')
      deleted.add(next.slice(0, -1)) // any key just before the next one
    }
  }
  for (const item of live.values()) {
    const a = isObject(item.attributes) ? item.attributes : {}
    server.setSecret(String(item.name), 'seeded by the replay', {
      vault,
      ...(typeof item.contentType === 'string' ? { contentType: item.contentType } : {}),
      ...(item.managed === true ? { managed: true } : {}),
      ...(isObject(item.tags) ? { tags: item.tags as Record<string, string> } : {}),
      ...(typeof a.enabled === 'boolean' ? { enabled: a.enabled } : {}),
      ...(typeof a.nbf === 'number' ? { nbf: a.nbf } : {}),
      ...(typeof a.exp === 'number' ? { exp: a.exp } : {})
    })
  }
  for (const name of deleted) {
    if (live.has(name) || created.has(name)) continue
    server.setSecret(name, 'seeded by the replay', { vault })
    server.deleteSecret(name, vault)
  }
  return { live: live.size, deleted: deleted.size }
}

// ---------------------------------------------------------------------------------------------
// Comparison of a recorded answer with ours

/** Recorded texts our (current) answers legitimately differ from, with why. */
const knownMessageDifferences = [{
  recorded: 'Request is missing a Bearer or PoP token.',
  ours: 'AKV10000: Request is missing a Bearer or PoP token.',
  why: 'recorded in 2021-01 (service 1.2.99.0), before the AKV10000 prefix; 2022 recordings have it'
}]
/** Leaves compared by value (after mapping host, tenant and versions); the rest by JSON type. */
const exactKeys = new Set(['id', 'recoveryId', 'value', 'contentType', 'managed', 'enabled', 'nbf', 'exp', 'code', 'token_type'])
const timestampKeys = new Set(['created', 'updated', 'deletedDate', 'scheduledPurgeDate'])
/** Headers compared by value when recorded; presence only for the others listed. */
const exactHeaders = ['content-type', 'cache-control', 'pragma', 'expires', 'x-content-type-options', 'strict-transport-security']
const presentHeaders = ['x-ms-request-id', 'x-ms-keyvault-service-version', 'x-ms-keyvault-region', 'x-ms-keyvault-network-info', 'x-ms-client-request-id', 'www-authenticate', 'x-ms-ests-server']

const typeOf = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v

class Replay {
  readonly base: string
  /** Recorded version id -> ours. */
  readonly versions = new Map<string, string>()
  /** Recorded nextLink (without its :443) -> ours. */
  readonly nextLinks = new Map<string, string>()
  /** Version ids we answered for PUTs, by upper-cased secret name. */
  private readonly ourVersions = new Map<string, Set<string>>()
  private versionListing = { ours: new Set<string>(), recorded: new Set<string>() }
  readonly notes = new Set<string>()

  constructor (readonly server: KeyVaultTestServer, readonly vault: string) {
    this.base = server.vaultUrl(vault)
  }

  mapString (s: string): string {
    let mapped = s.replaceAll(`https://${recordedHost}:443`, this.base).replaceAll(`https://${recordedHost}`, this.base)
    for (const tenant of recordedTenants) mapped = mapped.replaceAll(tenant, this.server.tenantId)
    for (const [recorded, ours] of this.versions) mapped = mapped.replaceAll(recorded, ours)
    return mapped
  }

  mapUrl (url: URL): string {
    if (url.hostname === recordedHost) {
      const ours = this.nextLinks.get(url.href)
      if (ours !== undefined) return ours
      if (url.searchParams.has('$skiptoken')) throw new Error(`replay: ${url.href} follows no nextLink the replay has seen`)
      return this.mapString(url.href)
    }
    if (url.hostname === 'login.microsoftonline.com') {
      return `${this.server.authorityHost}/${this.server.tenantId}/oauth2/v2.0/token${url.search}`
    }
    throw new Error(`replay: no mapping for host ${url.hostname}`)
  }

  /** Token requests: our principal instead of the sanitised one, and the real scope where it was sanitised. */
  mapTokenForm (body: string): string {
    const form = new URLSearchParams(body)
    form.set('client_id', this.server.principals.clientSecret.clientId)
    form.set('client_secret', this.server.principals.clientSecret.secret)
    if (form.get('scope') !== vaultScope) {
      this.notes.add(`token request scope ${JSON.stringify(form.get('scope'))} was sanitised in the recording; sent ${vaultScope}`)
      form.set('scope', vaultScope)
    }
    return form.toString()
  }

  /** Learns version and nextLink correspondences from a recorded answer and ours. */
  learn (recorded: Json | undefined, ours: unknown): void {
    if (!isObject(recorded) || !isObject(ours)) return
    const recordedId = recorded.id
    const ourId = ours.id
    if (typeof recordedId === 'string' && typeof ourId === 'string' && 'value' in recorded && typeof recorded.value === 'string') {
      const recordedVersion = recordedId.split('/')[5]
      const ourVersion = ourId.split('/')[5]
      if (recordedVersion !== undefined && ourVersion !== undefined && !this.versions.has(recordedVersion)) {
        this.versions.set(recordedVersion, ourVersion)
        const name = secretNameOf(ourId).toUpperCase()
        this.ourVersions.set(name, (this.ourVersions.get(name) ?? new Set()).add(ourId))
      }
    }
    if (typeof recorded.nextLink === 'string' && typeof ours.nextLink === 'string') {
      this.nextLinks.set(new URL(recorded.nextLink).href, ours.nextLink)
    }
  }

  /** Differences between a recorded body and ours, as "path: what" lines. */
  compareBody (recorded: Json | undefined, ours: unknown, request: { path: string, apiVersion: string | null, firstPage: boolean }): string[] {
    const diffs: string[] = []
    const isVersionListing = request.path.endsWith('/versions')
    if (isVersionListing && request.firstPage) this.versionListing = { ours: new Set(), recorded: new Set() }
    const walk = (r: unknown, o: unknown, path: string, key: string): void => {
      if (typeOf(r) !== typeOf(o)) {
        diffs.push(`${path}: recorded ${typeOf(r)} ${JSON.stringify(r)?.slice(0, 80)}, ours ${typeOf(o)} ${JSON.stringify(o)?.slice(0, 80)}`)
        return
      }
      if (Array.isArray(r) && Array.isArray(o)) {
        if (r.length !== o.length) diffs.push(`${path}: recorded ${r.length} items, ours ${o.length}`)
        r.slice(0, o.length).forEach((item, i) => walk(item, o[i], `${path}[${i}]`, key))
        return
      }
      if (isObject(r) && isObject(o)) {
        const keys = new Set([...Object.keys(r), ...Object.keys(o)])
        for (const k of keys) {
          if (!(k in r)) diffs.push(`${path}.${k}: not recorded, ours ${JSON.stringify(o[k])?.slice(0, 80)}`)
          else if (!(k in o)) diffs.push(`${path}.${k}: recorded ${JSON.stringify(r[k])?.slice(0, 80)}, missing in ours`)
          else walk(r[k], o[k], `${path}.${k}`, k)
        }
        return
      }
      this.compareLeaf(r, o, path, key, isVersionListing, request, diffs)
    }
    walk(recorded, ours, '$', '')
    // As recorded (7 and 90 days): a soft-deleted secret is purged recoverableDays after deletion.
    if (isObject(ours) && typeof ours.deletedDate === 'number' && isObject(ours.attributes) &&
      ours.scheduledPurgeDate !== ours.deletedDate + Number(ours.attributes.recoverableDays) * 86400) {
      diffs.push(`$.scheduledPurgeDate: ${String(ours.scheduledPurgeDate)} is not deletedDate + recoverableDays`)
    }
    if (isVersionListing && isObject(ours) && ours.nextLink === null) {
      const sort = (s: Set<string>): string[] => [...s].sort()
      if (JSON.stringify(sort(this.versionListing.ours)) !== JSON.stringify(sort(this.versionListing.recorded))) {
        diffs.push(`versions listing: ours listed ${sort(this.versionListing.ours).join(', ')}; recorded ${sort(this.versionListing.recorded).join(', ')}`)
      }
    }
    return diffs
  }

  private compareLeaf (r: unknown, o: unknown, path: string, key: string, isVersionListing: boolean,
    request: { apiVersion: string | null }, diffs: string[]): void {
    const inTags = /\.tags\./.test(path)
    if (isVersionListing && key === 'id' && /^\$\.value\[\d+\]\.id$/.test(path)) {
      // Versions are random, and listed in storage (version-id) order: compare as sets per listing.
      const ourId = String(o)
      if (!(this.ourVersions.get(secretNameOf(ourId).toUpperCase())?.has(ourId) ?? false)) diffs.push(`${path}: ${ourId} is no version we created`)
      if (this.versionListing.ours.has(ourId)) diffs.push(`${path}: ${ourId} listed twice`)
      this.versionListing.ours.add(ourId)
      this.versionListing.recorded.add(this.mapString(String(r)))
      return
    }
    if (key === 'message' && typeof r === 'string') {
      const expected = this.mapString(r)
      const known = knownMessageDifferences.find(d => d.recorded === r && d.ours === o)
      if (known !== undefined) this.notes.add(`message "${r}" answered as "${String(o)}": ${known.why}`)
      else if (expected !== o) diffs.push(`${path}: recorded ${JSON.stringify(expected)}, ours ${JSON.stringify(o)}`)
      return
    }
    if (exactKeys.has(key) || inTags) {
      const expected = typeof r === 'string' ? this.mapString(r) : r
      if (expected !== o) diffs.push(`${path}: recorded ${JSON.stringify(expected)}, ours ${JSON.stringify(o)}`)
      return
    }
    if (typeof r === 'number' && Number.isInteger(r) && !Number.isInteger(o)) diffs.push(`${path}: recorded an integer, ours ${String(o)}`)
    if (timestampKeys.has(key) && (!Number.isInteger(o) || Math.abs(Number(o) - nowSeconds()) > (recoverableDays + 1) * 86400)) {
      diffs.push(`${path}: ${String(o)} is not a current Unix time in seconds`)
    }
    if (key === 'nextLink' && typeof o === 'string') {
      const next = new URL(o)
      if (!o.startsWith(`${this.base}/`)) diffs.push(`${path}: ${o} is not an absolute URL of this vault`)
      if (next.searchParams.get('api-version') !== request.apiVersion) diffs.push(`${path}: api-version not carried over`)
      const recordedUrl = new URL(String(r))
      if (next.searchParams.get('maxresults') !== recordedUrl.searchParams.get('maxresults')) diffs.push(`${path}: maxresults not carried over like the recording's`)
      const ourToken = skipTokenKey(next.searchParams.get('$skiptoken') ?? '')
      const recordedToken = skipTokenKey(recordedUrl.searchParams.get('$skiptoken') ?? '')
      if (JSON.stringify(Object.keys(ourToken.marker)) !== JSON.stringify(Object.keys(recordedToken.marker)) || ourToken.marker.TargetLocation !== recordedToken.marker.TargetLocation) {
        diffs.push(`${path}: $skiptoken ${JSON.stringify(ourToken.marker)} is not shaped like the recorded ${JSON.stringify(recordedToken.marker)}`)
      }
      if (ourToken.key.split('/')[0] !== recordedToken.key.split('/')[0]) diffs.push(`${path}: $skiptoken key ${ourToken.key} unlike recorded ${recordedToken.key}`)
    }
  }

  compareHeaders (recorded: Recorded, ours: RawResponse, sentClientRequestId: string | undefined): string[] {
    const diffs: string[] = []
    for (const name of exactHeaders) {
      const expected = recorded.responseHeaders[name]
      if (expected === undefined) {
        if (name === 'content-type' && ours.headers[name] !== undefined) diffs.push(`header ${name}: not recorded (no body), ours ${ours.headers[name]}`)
      } else if (ours.headers[name] !== expected) {
        diffs.push(`header ${name}: recorded ${expected}, ours ${ours.headers[name] ?? '(none)'}`)
      }
    }
    for (const name of presentHeaders) {
      if (recorded.responseHeaders[name] === undefined) continue
      if (name === 'x-ms-client-request-id') {
        if (ours.headers[name] !== sentClientRequestId) diffs.push(`header ${name}: sent ${String(sentClientRequestId)}, echoed ${ours.headers[name] ?? '(none)'}`)
      } else if (name === 'www-authenticate') {
        const expected = this.mapString(recorded.responseHeaders[name] ?? '')
        if (ours.headers[name] !== expected) diffs.push(`header ${name}: recorded ${expected}, ours ${ours.headers[name] ?? '(none)'}`)
      } else if (ours.headers[name] === undefined) {
        diffs.push(`header ${name}: recorded, missing in ours`)
      }
    }
    return diffs
  }
}

async function replayRecording (t: Test, server: KeyVaultTestServer, agent: https.Agent, vault: string, file: string): Promise<void> {
  const { kept, collapsed, probes } = collapsePolls(loadRecording(file))
  const seeded = seedWorld(server, vault, kept)
  if (seeded.live + seeded.deleted > 0) {
    t.comment(`seeded the vault as the recording found it: ${seeded.live} live secrets of other tests, ${seeded.deleted} soft-deleted`)
  }
  for (const c of collapsed) t.comment(`collapsed ${c}`)
  const replay = new Replay(server, vault)
  if (probes.length > 0) t.comment(`then ${probes.length} of the collapsed 404s again after the purges, for their answer`)
  for (const [i, recorded] of [...kept, ...probes].entries()) {
    const url = replay.mapUrl(recorded.url)
    const isToken = recorded.url.hostname === 'login.microsoftonline.com'
    const headers: Record<string, string> = {}
    const clientRequestId = recorded.requestHeaders['x-ms-client-request-id'] ?? (recorded.responseHeaders['x-ms-client-request-id'] === undefined ? undefined : randomUUID())
    if (clientRequestId !== undefined) headers['x-ms-client-request-id'] = clientRequestId
    if (recorded.authorized) headers.Authorization = `Bearer ${server.issueToken()}`
    let body = recorded.requestBody
    if (isToken) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded'
      body = replay.mapTokenForm(body)
    } else if (body !== '' || recorded.requestHeaders['content-type'] !== undefined) {
      headers['Content-Type'] = 'application/json'
      body = replay.mapString(body)
    }
    const ours = await rawRequest(agent, recorded.method, url, headers, body)
    replay.learn(recorded.responseBody, ours.json)
    const what = `#${i} ${recorded.method} ${recorded.url.pathname}${recorded.authorized ? '' : ' (no token)'} -> ${recorded.status}`
    const diffs = [
      ...(ours.status === recorded.status ? [] : [`status: recorded ${recorded.status}, ours ${ours.status}: ${ours.text.slice(0, 300)}`]),
      ...replay.compareHeaders(recorded, ours, clientRequestId),
      ...(recorded.responseBody === undefined && ours.text !== '' ? [`body: none recorded, ours ${ours.text.slice(0, 120)}`] : []),
      ...(recorded.responseBody === undefined
        ? []
        : replay.compareBody(recorded.responseBody, ours.json, {
          path: recorded.url.pathname,
          apiVersion: recorded.url.searchParams.get('api-version'),
          firstPage: !recorded.url.searchParams.has('$skiptoken')
        }))
    ]
    t.same(diffs, [], what)
  }
  for (const note of replay.notes) t.comment(note)
}

// ---------------------------------------------------------------------------------------------

const opensslMissing = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
  ? undefined
  : 'the openssl CLI (which makes the per-run CA) is not on PATH'
if (suiteCanRun(t, 'Key Vault test server', opensslMissing)) {
  const files = existsSync(recordingsDir) ? recordingFiles(recordingsDir) : []
  const replayVaults = files.map((_, i) => `replay-${i}`)

  t.test('Key Vault test server', async t => {
    const server = await startKeyVaultTestServer({ vaults: ['nfss-test', 'nfss-paging', 'nfss-smoke', ...replayVaults] })
    const rawAgent = testServerAgent(server)
    const sdkAgent = testServerAgent(server, true)
    const policy = agentPolicy(sdkAgent)
    const credentialOptions = { authorityHost: server.authorityHost, disableInstanceDiscovery: true, additionalPolicies: [policy] }
    const clientFor = (credential: TokenCredential, vault?: string): SecretClient =>
      new SecretClient(server.vaultUrl(vault), credential, { additionalPolicies: [policy] })
    const secretCredential = new ClientSecretCredential(server.tenantId, server.principals.clientSecret.clientId, server.principals.clientSecret.secret, credentialOptions)
    t.teardown(async () => {
      rawAgent.destroy()
      sdkAgent.destroy()
      await server.close()
    })

    const noRecordings = files.length > 0 ? undefined : `no recordings at ${recordingsDir} (../shared next to the repository)`
    if (suiteCanRun(t, 'Key Vault conformance replay', noRecordings)) {
      t.test('conformance: every recorded exchange replayed', async t => {
        for (const [i, file] of files.entries()) {
          await t.test(relative(recordingsDir, file), async t => { await replayRecording(t, server, rawAgent, replayVaults[i] ?? '', file) })
        }
      })
    }

    t.test('SDK: ClientSecretCredential (challenge, token, cached token)', async t => {
      server.resetRequests()
      const client = clientFor(secretCredential)
      const set = await client.setSecret('smoke-secret', 's3cret', { tags: { team: 'a' }, contentType: 'text/plain' })
      t.equal(set.value, 's3cret')
      t.equal(set.properties.vaultUrl, server.vaultUrl())
      const got = await client.getSecret('smoke-secret')
      t.equal(got.value, 's3cret')
      t.same(got.properties.tags, { team: 'a' })
      t.equal(got.properties.contentType, 'text/plain')
      t.same(server.requests.map(r => [r.kind, r.method, r.status]), [
        ['vault', 'PUT', 401], ['token', 'POST', 200], ['vault', 'PUT', 200], ['vault', 'GET', 200]
      ], 'one challenge, one token, then the token is reused')
      t.equal(server.requests[3]?.clientId, server.principals.clientSecret.clientId)
    })

    t.test('SDK: ClientCertificateCredential (PS256 assertion, x5t#S256)', async t => {
      server.setSecret('cert-read', 'by-certificate')
      const credential = new ClientCertificateCredential(server.tenantId, server.principals.certificate.clientId,
        { certificatePath: server.principals.certificate.pemFile }, credentialOptions)
      t.equal((await clientFor(credential).getSecret('cert-read')).value, 'by-certificate')
      const fromPem = new ClientCertificateCredential(server.tenantId, server.principals.certificate.clientId,
        { certificate: server.principals.certificate.certPem + server.principals.certificate.keyPem }, credentialOptions)
      t.ok((await fromPem.getToken(vaultScope)).token, 'certificate given as PEM text works too')
    })

    t.test('SDK: WorkloadIdentityCredential and DefaultAzureCredential from AKS env', async t => {
      server.setSecret('workload-read', 'by-federation')
      server.resetRequests()
      const credential = new WorkloadIdentityCredential({
        tenantId: server.tenantId,
        clientId: server.principals.workload.clientId,
        tokenFilePath: server.principals.workload.tokenFile,
        ...credentialOptions
      })
      t.equal((await clientFor(credential).getSecret('workload-read')).value, 'by-federation')
      t.equal(server.requests.find(r => r.kind === 'token')?.clientId, server.principals.workload.clientId)

      const env = {
        AZURE_TENANT_ID: server.tenantId,
        AZURE_CLIENT_ID: server.principals.workload.clientId,
        AZURE_FEDERATED_TOKEN_FILE: server.principals.workload.tokenFile,
        AZURE_AUTHORITY_HOST: server.authorityHost
      }
      const saved = Object.fromEntries(Object.keys(env).map(k => [k, process.env[k]]))
      Object.assign(process.env, env)
      t.teardown(() => {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) Reflect.deleteProperty(process.env, k)
          else process.env[k] = v
        }
      })
      // authorityHost comes from AZURE_AUTHORITY_HOST; disableInstanceDiscovery and the agent policy cannot come from env.
      const fromEnv = new DefaultAzureCredential({ disableInstanceDiscovery: true, additionalPolicies: [policy] })
      t.equal((await clientFor(fromEnv).getSecret('workload-read')).value, 'by-federation', 'DefaultAzureCredential picks the workload identity')
    })

    t.test('SDK: ManagedIdentityCredential (App Service env)', async t => {
      server.setSecret('mi-read', 'by-managed-identity')
      const saved = { IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: process.env.IDENTITY_HEADER }
      process.env.IDENTITY_ENDPOINT = server.managedIdentity.endpoint
      process.env.IDENTITY_HEADER = server.managedIdentity.header
      t.teardown(() => {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) Reflect.deleteProperty(process.env, k)
          else process.env[k] = v
        }
      })
      server.resetRequests()
      const userAssigned = new ManagedIdentityCredential({ clientId: server.managedIdentity.clientId })
      t.equal((await clientFor(userAssigned).getSecret('mi-read')).value, 'by-managed-identity')
      t.match(server.requests.find(r => r.kind === 'token'), {
        method: 'GET',
        path: '/msi/token',
        status: 200,
        clientId: server.managedIdentity.clientId,
        query: { 'api-version': '2019-08-01', resource: 'https://vault.azure.net', client_id: server.managedIdentity.clientId }
      })
      const systemAssigned = new ManagedIdentityCredential()
      t.equal((await clientFor(systemAssigned).getSecret('mi-read')).value, 'by-managed-identity', 'without a client id too')

      const wrongHeader = await new Promise<number>((resolve, reject) => {
        import('node:http').then(http => http.get(`${server.managedIdentity.endpoint}?api-version=2019-08-01&resource=https://vault.azure.net`,
          { headers: { 'X-IDENTITY-HEADER': 'wrong' } }, res => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', reject), reject)
      })
      t.equal(wrongHeader, 401, 'the identity header is checked')
    })

    t.test('paging: maxresults=1, an empty page that still has a nextLink', async t => {
      const vault = 'nfss-paging'
      for (const name of ['page-a', 'page-b', 'page-c']) server.setSecret(name, name, { vault })
      server.deleteSecret('page-b', vault) // soft-deleted: still in the keyspace the pages walk
      const client = clientFor(secretCredential, vault)
      const pages: string[][] = []
      for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 })) pages.push(page.map(p => p.name))
      t.same(pages, [['page-a'], [], ['page-c']], 'the SDK pages on past an empty page')

      const token = server.issueToken()
      const raw: Array<{ items: number, nextLink: string | null }> = []
      let url: string | null = `${server.vaultUrl(vault)}/secrets?api-version=7.5&maxresults=1`
      while (url !== null) {
        const page = (await rawRequest(rawAgent, 'GET', url, { Authorization: `Bearer ${token}` })).json as { value: unknown[], nextLink: string | null }
        raw.push({ items: page.value.length, nextLink: page.nextLink })
        url = page.nextLink
      }
      t.same(raw.map(p => [p.items, p.nextLink !== null]), [[1, true], [0, true], [1, false]], 'the empty page carries a nextLink')
      t.match(raw[0]?.nextLink, new RegExp(`^${server.vaultUrl(vault).replace(/[.]/g, '\\.')}/secrets\\?api-version=7\\.5&\\$skiptoken=[A-Za-z0-9_-]+&maxresults=1$`),
        'nextLink absolute, with port, api-version, $skiptoken, maxresults')

      for (let i = 0; i < 3; i++) server.setSecret('versioned', `v${i}`, { vault })
      const versions: string[] = []
      for await (const page of client.listPropertiesOfSecretVersions('versioned').byPage({ maxPageSize: 1 })) {
        t.equal(page.length, 1, 'one version per page')
        versions.push(...page.map(p => String(p.version)))
      }
      t.equal(new Set(versions).size, 3, 'all three versions listed')
      t.ok(versions.every(v => /^[0-9a-f]{32}$/.test(v)), 'versions are 32 hex characters')
      const none = await rawRequest(rawAgent, 'GET', `${server.vaultUrl(vault)}/secrets/never-set/versions?api-version=7.5`, { Authorization: `Bearer ${token}` })
      t.same([none.status, none.json], [200, { value: [], nextLink: null }], 'versions of a missing secret: 200, empty')
      const tooMany = await rawRequest(rawAgent, 'GET', `${server.vaultUrl(vault)}/secrets?api-version=7.5&maxresults=26`, { Authorization: `Bearer ${token}` })
      t.equal(tooMany.status, 400, 'maxresults above 25 is refused')
    })

    t.test('names: case-insensitive, first case kept, validated', async t => {
      const client = clientFor(secretCredential, 'nfss-smoke')
      const first = await client.setSecret('MixedCase-Name', 'one')
      t.equal((await client.getSecret('mixedcase-name')).value, 'one')
      const second = await client.setSecret('MIXEDCASE-NAME', 'two')
      t.equal(second.name, 'MixedCase-Name', 'the id keeps the case of the first set')
      t.not(second.properties.version, first.properties.version, 'a new version')
      t.equal((await client.getSecret('mixedCASE-name')).value, 'two')

      server.setSecret('cert-backed', 'MIIK...', { vault: 'nfss-smoke', managed: true })
      const managed = await client.getSecret('cert-backed')
      t.match(managed.properties, { managed: true, contentType: 'application/x-pkcs12', certificateKeyId: /\/keys\/cert-backed\/[0-9a-f]{32}$/ }, 'a certificate-backed secret')
      const plain = await client.getSecret('MixedCase-Name')
      t.equal(plain.properties.certificateKeyId, undefined, 'kid only for certificate-backed secrets')

      const token = server.issueToken()
      const malformed = await rawRequest(rawAgent, 'GET', `${server.vaultUrl('nfss-smoke')}/secrets/bad%zz/?api-version=7.6`, { Authorization: `Bearer ${token}` })
      t.match([malformed.status, malformed.json], [400, { error: { code: 'BadParameter' } }], 'a malformed escape is an invalid name')
      for (const bad of ['bad_name', 'dot.name', 'x'.repeat(128)]) {
        await t.rejects(client.setSecret(bad, 'v'), { statusCode: 400, code: 'BadParameter', message: `The request URI contains an invalid name: ${bad}` }, `invalid name ${bad.slice(0, 20)}`)
      }
      t.equal((await client.setSecret('y'.repeat(127), 'ok')).value, 'ok', '127 characters are fine')
    })

    t.test('disabled, expired and missing secrets', async t => {
      const vault = 'nfss-smoke'
      const client = clientFor(secretCredential, vault)
      server.setSecret('switched-off', 'hidden', { vault, enabled: false })
      await t.rejects(client.getSecret('switched-off'), { statusCode: 403, code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.' })
      const token = server.issueToken()
      const raw = await rawRequest(rawAgent, 'GET', `${server.vaultUrl(vault)}/secrets/switched-off/?api-version=7.6`, { Authorization: `Bearer ${token}` })
      t.same(raw.json, { error: { code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innererror: { code: 'SecretDisabled' } } })
      server.updateSecret('switched-off', { vault, enabled: true })
      t.equal((await client.getSecret('switched-off')).value, 'hidden', 're-enabled')

      // Real Key Vault still answers expired and not-yet-valid secrets; skipping them is the client's job.
      server.setSecret('expired', 'stale', { vault, exp: nowSeconds() - 3600 })
      server.setSecret('future', 'early', { vault, nbf: nowSeconds() + 3600 })
      const expired = await client.getSecret('expired')
      t.equal(expired.value, 'stale')
      t.ok((expired.properties.expiresOn?.getTime() ?? Infinity) < Date.now(), 'answered with its exp in the past')
      t.equal((await client.getSecret('future')).value, 'early')

      await t.rejects(client.getSecret('does-not-exist'), { statusCode: 404, code: 'SecretNotFound' })
    })

    t.test('soft delete, deleted-secrets, purge', async t => {
      const vault = 'nfss-smoke'
      const client = clientFor(secretCredential, vault)
      await client.setSecret('to-delete', 'bye')
      const poller = await client.beginDeleteSecret('to-delete', { intervalInMs: 10 })
      const deleted = await poller.pollUntilDone()
      t.equal(deleted.name, 'to-delete')
      t.ok(deleted.recoveryId?.endsWith('/deletedsecrets/to-delete'))
      t.equal(((deleted.properties.scheduledPurgeDate?.getTime() ?? 0) - (deleted.properties.deletedOn?.getTime() ?? 0)) / 86400000, recoverableDays)
      await t.rejects(client.getSecret('to-delete'), { statusCode: 404, code: 'SecretNotFound' })
      await t.rejects(client.setSecret('to-delete', 'again'), { statusCode: 409, code: 'Conflict' }, 'the name is taken until purged')
      t.equal((await client.getDeletedSecret('to-delete')).name, 'to-delete')
      await client.purgeDeletedSecret('to-delete')
      const token = server.issueToken()
      const gone = await rawRequest(rawAgent, 'GET', `${server.vaultUrl(vault)}/deletedsecrets/to-delete?api-version=7.6`, { Authorization: `Bearer ${token}` })
      t.same([gone.status, gone.json], [404, { error: { code: 'SecretNotFound', message: 'Deleted Secret not found: to-delete' } }])
      t.equal((await client.setSecret('to-delete', 'again')).value, 'again', 'reusable after purge')
    })

    t.test('throttling: 429 with Retry-After, which the SDK honours', async t => {
      const vault = 'nfss-smoke'
      server.setSecret('busy', 'eventually', { vault })
      const token = server.issueToken()
      server.throttle(1, 7)
      const raw = await rawRequest(rawAgent, 'GET', `${server.vaultUrl(vault)}/secrets/busy/?api-version=7.6`, { Authorization: `Bearer ${token}` })
      t.equal(raw.status, 429)
      t.equal(raw.headers['retry-after'], '7')
      t.match(raw.json, { error: { code: 'Throttled', message: /too many requests/ } })

      const client = clientFor(secretCredential, vault)
      await client.getSecret('busy') // token cached before throttling
      server.resetRequests()
      server.throttle(1, 1)
      const started = Date.now()
      t.equal((await client.getSecret('busy')).value, 'eventually')
      t.ok(Date.now() - started >= 900, 'waited for Retry-After')
      t.same(server.requests.map(r => r.status), [429, 200])
    })

    t.test('RBAC: a denied principal gets 403 ForbiddenByRbac', async t => {
      const vault = 'nfss-smoke'
      server.setSecret('guarded', 'treasure', { vault })
      const denied = new ClientSecretCredential(server.tenantId, server.principals.denied.clientId, server.principals.denied.secret, credentialOptions)
      const client = clientFor(denied, vault)
      const err: unknown = await client.getSecret('guarded').then(() => undefined, (e: unknown) => e)
      t.match(err, { statusCode: 403, code: 'Forbidden', message: /Caller is not authorized to perform action on resource[\s\S]*Action: 'Microsoft\.KeyVault\/vaults\/secrets\/getSecret\/action'/ })
      t.match((err as { details?: unknown }).details, { error: { innerError: { code: 'ForbiddenByRbac' } } })
      server.allow(server.principals.denied.clientId)
      t.equal((await client.getSecret('guarded')).value, 'treasure', 'allowed')
      server.deny(server.principals.denied.clientId)
      await t.rejects(client.getSecret('guarded'), { statusCode: 403, code: 'Forbidden' }, 'denied again')
    })

    t.test('tokens, api-versions and unknown vaults on the wire', async t => {
      const url = `${server.vaultUrl('nfss-smoke')}/secrets/guarded/?api-version=7.6`
      const challenge = `Bearer authorization="https://login.windows.net/${server.tenantId}", resource="https://vault.azure.net"`
      const expired = await rawRequest(rawAgent, 'GET', url, { Authorization: `Bearer ${server.issueToken(undefined, { lifetimeSeconds: 0 })}` })
      t.same([expired.status, expired.headers['www-authenticate'], expired.json],
        [401, challenge, { error: { code: 'Unauthorized', message: "[TokenExpired] Error validating token: 'S2S12086'." } }], 'expired token')
      const unknown = await rawRequest(rawAgent, 'GET', url, { Authorization: 'Bearer not-issued-here' })
      t.same([unknown.status, unknown.headers['www-authenticate']], [401, challenge], 'token not issued here')

      const token = server.issueToken()
      const badVersion = await rawRequest(rawAgent, 'GET', url.replace('7.6', '1.0'), { Authorization: `Bearer ${token}` })
      t.same([badVersion.status, badVersion.json], [400, {
        error: { code: 'BadParameter', message: 'The specified version (1.0) is not recognized. Consider using the latest supported version (2025-07-01).' }
      }], 'unknown api-version')
      const noVersion = await rawRequest(rawAgent, 'GET', url.replace('?api-version=7.6', ''), { Authorization: `Bearer ${token}` })
      t.match([noVersion.status, noVersion.json], [400, { error: { code: 'BadParameter' } }], 'missing api-version')

      server.resetRequests()
      await t.rejects(rawRequest(rawAgent, 'GET', `${server.vaultUrl('no-such-vault')}/secrets?api-version=7.6`, { Authorization: `Bearer ${token}` }),
        'a vault the server does not have: the connection is closed unanswered (real: its name does not resolve)')
      t.match(server.requests, [{ kind: 'vault', status: 0 }])
    })

    t.test('Entra ID errors', async t => {
      const tokenUrl = `${server.authorityHost}/${server.tenantId}/oauth2/v2.0/token`
      const form = (fields: Record<string, string>): string => new URLSearchParams({ grant_type: 'client_credentials', scope: vaultScope, ...fields }).toString()
      const post = async (fields: Record<string, string>): Promise<RawResponse> =>
        await rawRequest(rawAgent, 'POST', tokenUrl, { 'Content-Type': 'application/x-www-form-urlencoded' }, form(fields))
      const { clientId, secret } = server.principals.clientSecret

      const ok = await post({ client_id: clientId, client_secret: secret })
      t.match([ok.status, ok.json], [200, { token_type: 'Bearer', expires_in: Number, ext_expires_in: Number, access_token: String }])
      const wrongSecret = await post({ client_id: clientId, client_secret: 'nope' })
      t.match([wrongSecret.status, wrongSecret.json], [401, { error: 'invalid_client', error_codes: [7000215], error_description: /^AADSTS7000215: / }])
      const unknownApp = await post({ client_id: randomUUID(), client_secret: secret })
      t.match([unknownApp.status, unknownApp.json], [400, { error: 'unauthorized_client', error_codes: [700016] }])
      const otherScope = await post({ client_id: clientId, client_secret: secret, scope: 'https://storage.azure.com/.default' })
      t.match([otherScope.status, otherScope.json], [400, { error: 'invalid_resource', error_codes: [500011] }])
      const federated = readFileSync(server.principals.workload.tokenFile, 'utf8')
      const [h, p, s] = federated.split('.')
      const tampered = [h, Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p ?? '', 'base64url').toString()), sub: 'system:serviceaccount:other:other' })).toString('base64url'), s].join('.')
      const forged = await post({ client_id: server.principals.workload.clientId, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: tampered })
      t.match([forged.status, forged.json], [401, { error: 'invalid_client', error_codes: [700027] }], 'a federated token with a changed subject fails its signature')

      const wrong = new ClientSecretCredential(server.tenantId, clientId, 'nope', credentialOptions)
      // @azure/identity surfaces MSAL's invalid_client as AuthenticationRequiredError, with Entra's text.
      await t.rejects(wrong.getToken(vaultScope), { name: 'AuthenticationRequiredError', message: /invalid_client[\s\S]*AADSTS7000215/ })
    })
  })
}
