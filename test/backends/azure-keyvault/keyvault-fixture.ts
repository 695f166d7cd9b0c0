// What the azure-keyvault tests share: the Key Vault test server (test/servers/azure-keyvault, a
// test server written to Microsoft's REST description, not Azure) for a suite, backend configs as
// the loader builds them, backends built with the test seam (the server's name resolution), the
// canonical seed written in each layout's native form, and store calls counted from the server's
// request log. Every connection goes to 127.0.0.1.
import { spawnSync } from 'node:child_process'
import type { LookupFunction } from 'node:net'
import type { Test } from 'tap'
import { createKeyVaultBackend, keyVaultDefinition, type KeyVaultSeam } from '../../../backends/azure-keyvault/index.js'
import type { Layout } from '../../../backends/azure-keyvault/names.js'
import type { PropertyIndex } from '../../../backends/azure-keyvault/property-index.js'
import { loadConfig } from '../../../src/config/load.js'
import type { Identity } from '../../../src/core/identity.js'
import type { Backend, BackendDefinition } from '../../../src/store/port.js'
import { silentLogger } from '../../helpers/logger.js'
import { TEST_SECRET } from '../../helpers/service.js'
import { startForSuite } from '../../servers/common.js'
import { startKeyVaultTestServer, type KeyVaultTestServer, type SetSecretOptions } from '../../servers/azure-keyvault/index.js'
import { documentOf, type Seed } from '../contract.js'
import { storeContext } from '../kit.js'

export const LAYERS = ['global', 'project', 'object']
export const nowSeconds = (): number => Math.floor(Date.now() / 1000)
export const wait = async (ms: number): Promise<void> => { await new Promise(r => setTimeout(r, ms)) }

/** The Key Vault test server for one test file, under the suite rule (skip locally, fail in CI, without openssl). */
export async function keyVaultForSuite (t: Test, suite: string, vaults?: string[]): Promise<KeyVaultTestServer | undefined> {
  const openssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
  const server = await startForSuite(t, suite, openssl ? undefined : 'the Key Vault test server needs the openssl CLI', async () => await startKeyVaultTestServer(vaults === undefined ? {} : { vaults }))
  if (server !== undefined) t.teardown(server.close)
  return server
}

/** The backend config keys that point at the test server, with the client-secret principal. */
export function serverConfig (server: KeyVaultTestServer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'akv',
    type: 'azure-keyvault',
    vaultUrl: server.vaultUrl(),
    caFile: server.caFile,
    authorityHost: server.authorityHost,
    disableInstanceDiscovery: true,
    credential: { type: 'clientSecret', tenantId: server.tenantId, clientId: server.principals.clientSecret.clientId, clientSecret: server.principals.clientSecret.secret },
    ...extra
  }
}

/** The backend config as the service builds it (schema defaults applied, templates proven). */
export function configOf (backend: Record<string, unknown>, layers = LAYERS): any {
  return loadConfig({ document: { auth: { secrets: [TEST_SECRET] }, layers, backends: [backend] }, env: {} }).config.backends[0]
}

/** The definition with the test seam injected: for startTestService({ definitions }). */
export function seamedDefinition (server: KeyVaultTestServer, seam: KeyVaultSeam = {}): BackendDefinition<any> {
  return { ...keyVaultDefinition, create: (config, context) => createKeyVaultBackend(config, context, { lookup: server.lookup as unknown as LookupFunction, ...seam }) }
}

export interface Built {
  backend: Backend
  /** The property index (names, tags layouts). */
  index?: PropertyIndex
}

export class Backends {
  private readonly built: Backend[] = []
  constructor (private readonly server: KeyVaultTestServer, t: Test) {
    t.teardown(async () => { await Promise.all(this.built.map(b => b.close())) })
  }

  create (extra: Record<string, unknown> = {}, options: { seam?: KeyVaultSeam, logger?: any, layers?: string[] } = {}): Built {
    const config = configOf(serverConfig(this.server, extra), options.layers)
    let index: PropertyIndex | undefined
    const backend = createKeyVaultBackend(config, storeContext(keyVaultDefinition, config, { logger: options.logger ?? silentLogger(), baseDir: process.cwd(), layers: options.layers ?? LAYERS }), {
      lookup: this.server.lookup as unknown as LookupFunction,
      ...options.seam,
      index: i => { index = i; options.seam?.index?.(i) }
    })
    this.built.push(backend)
    return { backend, ...(index === undefined ? {} : { index }) }
  }
}

/** Requests the vault answered (challenges included) since `from` (an index into the log). */
export function vaultCalls (server: KeyVaultTestServer, from = 0): Array<{ method: string, path: string, status: number }> {
  return server.requests.slice(from).filter(r => r.kind === 'vault')
}

/**
 * A mark in the request log, and what happened since. gets() and lists() leave out the 401
 * challenges a client makes on its first request (once per client, the SDK's bearer challenge).
 */
export function mark (server: KeyVaultTestServer): { since: () => ReturnType<typeof vaultCalls>, gets: () => number, lists: () => number, challenges: () => number } {
  const from = server.requests.length
  const since = (): ReturnType<typeof vaultCalls> => vaultCalls(server, from)
  const answered = (): ReturnType<typeof vaultCalls> => since().filter(r => r.status !== 401)
  return {
    since,
    gets: () => answered().filter(r => r.method === 'GET' && r.path.startsWith('/secrets/')).length,
    lists: () => answered().filter(r => r.method === 'GET' && r.path === '/secrets').length,
    challenges: () => since().filter(r => r.status === 401).length
  }
}

let serial = 0
/** A rest for a names-layout secret: letters and digits only, unique. */
function rest (text: string): string {
  serial++
  return `${text.replace(/[^A-Za-z0-9]/g, '').toLowerCase().slice(0, 12) || 'e'}${serial.toString(36)}`
}

/** Tags of one canonical file, as the names and tags layouts read them. */
function fileTags (file: Seed['files'][number]): Record<string, string> {
  return {
    'nf-file': file.path,
    ...(file.encoding === 'base64' ? { 'nf-encoding': 'base64' } : {}),
    ...(file.mode === undefined ? {} : { 'nf-mode': file.mode }),
    ...(file.owner === undefined ? {} : { 'nf-owner': file.owner }),
    ...(file.group === undefined ? {} : { 'nf-group': file.group })
  }
}

/** Writes `seed` where `locator` points, in the layout's native form; returns the secret names written. */
export function seedLayer (server: KeyVaultTestServer, layout: Layout, locator: string, identity: Identity, layer: string, seed: Seed, options: SetSecretOptions = {}): string[] {
  if (layout === 'document') {
    server.setSecret(locator, JSON.stringify(documentOf(seed)), options)
    return [locator]
  }
  const layerTags: Record<string, string> = layout === 'names'
    ? {}
    : layer === 'global' ? { 'nf-scope': 'global' } : layer === 'project' ? { 'nf-project': identity.projectId } : { 'nf-project': identity.projectId, 'nf-object': identity.nfObjectId }
  const nameOf = (text: string): string => layout === 'names' ? `${locator}${rest(text)}` : `t-${rest(text)}`
  const names: string[] = []
  for (const [key, value] of Object.entries(seed.env)) {
    const name = nameOf(key)
    server.setSecret(name, value, { ...options, tags: { ...layerTags, 'nf-env': key, ...options.tags } })
    names.push(name)
  }
  for (const file of seed.files) {
    const name = nameOf(file.path)
    server.setSecret(name, file.data, { ...options, tags: { ...layerTags, ...fileTags(file), ...options.tags } })
    names.push(name)
  }
  return names
}
