// Every credential path obtains a token from the Key Vault test server's Entra ID endpoints (or
// its App Service style managed identity endpoint) and reads a secret: client secret, client
// certificate, workload identity from the AKS environment (through DefaultAzureCredential and
// the explicit type), managed identity. Config problems name their key; refusals are
// NFSS_STORE_DENIED and never carry a secret or a token.
import t, { type Test } from 'tap'
import { keyVaultDefinition } from '../../../backends/azure-keyvault/index.js'
import { buildBackend } from '../../../src/create-backends.js'
import { callStore } from '../../../src/store-call.js'
import { capturingLogger, silentLogger } from '../../helpers/logger.js'
import { uniqueIdentity } from '../contract.js'
import { Backends, configOf, keyVaultForSuite, serverConfig } from './keyvault-fixture.js'

/** Sets environment variables for one test and restores them after. */
function withEnv (t: Test, env: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(env).map(k => [k, process.env[k]]))
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) Reflect.deleteProperty(process.env, k)
    else process.env[k] = v
  }
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Reflect.deleteProperty(process.env, k)
      else process.env[k] = v
    }
  })
}

const AZURE_ENV = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_AUTHORITY_HOST', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET', 'AZURE_TOKEN_CREDENTIALS']
const noAzureEnv = Object.fromEntries(AZURE_ENV.map(k => [k, undefined]))

const server = await keyVaultForSuite(t, 'azure-keyvault credentials')
if (server !== undefined) {
  const { credential: _, ...transport } = serverConfig(server)

  /** Builds a backend with `credential` (undefined: the default), reads one secret, returns the token requests it made. */
  async function readsWith (t: Test, credential: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Promise<Array<{ path: string, clientId?: string, status: number }>> {
    const kv = server as NonNullable<typeof server>
    const backends = new Backends(kv, t)
    const from = kv.requests.length
    const { backend } = backends.create({ ...transport, ...extra, credential })
    const locator = backend.locate('object', uniqueIdentity()) as string
    const via = String(credential?.type ?? 'default')
    kv.setSecret(locator, JSON.stringify({ VIA: via }))
    t.same(await callStore(backend, locator, 8000), { found: true, entries: [{ type: 'ENV', key: 'VIA', value: via }], invalid: [] }, `read a secret with credential ${via}`)
    return kv.requests.slice(from).filter(r => r.kind === 'token').map(r => ({ path: r.path, status: r.status, ...(r.clientId === undefined ? {} : { clientId: r.clientId }) }))
  }

  t.test('client secret', async t => {
    withEnv(t, noAzureEnv)
    const { clientId, secret } = server.principals.clientSecret
    const tokens = await readsWith(t, { type: 'clientSecret', tenantId: server.tenantId, clientId, clientSecret: secret })
    t.match(tokens.at(-1), { path: `/${server.tenantId}/oauth2/v2.0/token`, status: 200, clientId })
  })

  t.test('client certificate (PEM with key)', async t => {
    withEnv(t, noAzureEnv)
    const { clientId, pemFile } = server.principals.certificate
    const tokens = await readsWith(t, { type: 'clientCertificate', tenantId: server.tenantId, clientId, certificateFile: pemFile })
    t.match(tokens.at(-1), { status: 200, clientId })
  })

  const workloadEnv = (): Record<string, string> => ({
    AZURE_TENANT_ID: server.tenantId,
    AZURE_CLIENT_ID: server.principals.workload.clientId,
    AZURE_FEDERATED_TOKEN_FILE: server.principals.workload.tokenFile,
    AZURE_AUTHORITY_HOST: server.authorityHost
  })

  t.test('workload identity from the AKS environment, through DefaultAzureCredential (no credential configured)', async t => {
    withEnv(t, { ...noAzureEnv, ...workloadEnv() })
    const { authorityHost: _host, ...withoutAuthority } = transport
    const backends = new Backends(server, t)
    const { backend } = backends.create({ ...withoutAuthority, credential: undefined })
    const locator = backend.locate('object', uniqueIdentity()) as string
    server.setSecret(locator, '{"VIA": "default"}')
    t.same((await callStore(backend, locator, 8000) as any).entries, [{ type: 'ENV', key: 'VIA', value: 'default' }], 'AZURE_AUTHORITY_HOST and the federated token came from the environment')
    t.equal(server.requests.filter(r => r.kind === 'token').at(-1)?.clientId, server.principals.workload.clientId)
  })

  t.test('workload identity, explicit type: from the environment, or every key in config', async t => {
    withEnv(t, { ...noAzureEnv, ...workloadEnv() })
    const fromEnv = await readsWith(t, { type: 'workloadIdentity' })
    t.match(fromEnv.at(-1), { status: 200, clientId: server.principals.workload.clientId })
    withEnv(t, noAzureEnv)
    const explicit = await readsWith(t, { type: 'workloadIdentity', tenantId: server.tenantId, clientId: server.principals.workload.clientId, tokenFile: server.principals.workload.tokenFile })
    t.match(explicit.at(-1), { status: 200, clientId: server.principals.workload.clientId })
  })

  t.test('managed identity (App Service style endpoint), user-assigned and system-assigned', async t => {
    withEnv(t, { ...noAzureEnv, IDENTITY_ENDPOINT: server.managedIdentity.endpoint, IDENTITY_HEADER: server.managedIdentity.header })
    const userAssigned = await readsWith(t, { type: 'managedIdentity', clientId: server.managedIdentity.clientId })
    t.match(userAssigned.at(-1), { path: '/msi/token', status: 200, clientId: server.managedIdentity.clientId })
    const systemAssigned = await readsWith(t, { type: 'managedIdentity' })
    t.match(systemAssigned.at(-1), { path: '/msi/token', status: 200 })
  })

  t.test('config problems name their key (NFSS_CONFIG_INVALID at build time)', async t => {
    withEnv(t, noAzureEnv)
    const context = { logger: silentLogger(), baseDir: process.cwd(), layers: ['global', 'project', 'object'] }
    const build = async (extra: Record<string, unknown>): Promise<unknown> => await buildBackend(keyVaultDefinition, configOf(serverConfig(server, extra)), context, 2)
    await t.rejects(build({ credential: { type: 'workloadIdentity' } }), { code: 'NFSS_CONFIG_INVALID', message: /backends\[2\]\.credential\.tenantId: is not set and AZURE_TENANT_ID is empty/ })
    await t.rejects(build({ credential: { type: 'workloadIdentity', tenantId: 't', clientId: 'c', tokenFile: '/nonexistent/token' } }), { message: /backends\[2\]\.credential\.tokenFile: cannot read \/nonexistent\/token \(ENOENT\)/ })
    await t.rejects(build({ credential: { type: 'clientCertificate', tenantId: 't', clientId: 'c', certificateFile: './no-such.pem' } }), { message: /backends\[2\]\.credential\.certificateFile: cannot read \.\/no-such\.pem/ })
    await t.rejects(build({ caFile: './no-such-ca.pem' }), { message: /backends\[2\]\.caFile: cannot read \.\/no-such-ca\.pem/ })
    await t.rejects(build({ indexRefreshSeconds: 60, indexStaleLimitSeconds: 30 }), { message: /backends\[2\]\.indexStaleLimitSeconds: must be at least indexRefreshSeconds/ })
    t.throws(() => configOf(serverConfig(server, { credential: { type: 'clientSecret', tenantId: 't', clientId: 'c', clientSecert: 'typo' } })), { message: /backends\[0\]\.credential\.clientSecert: unknown key/ }, 'a typo is one precise problem')
    t.throws(() => configOf(serverConfig(server, { vaultUrl: 'http://v.vault.azure.net' })), { message: /backends\[0\]\.vaultUrl/ }, 'plain http is refused')
  })

  t.test('refused credentials are NFSS_STORE_DENIED, and nothing secret reaches errors or logs', async t => {
    withEnv(t, noAzureEnv)
    const backends = new Backends(server, t)
    const { logger, lines } = capturingLogger('trace')
    const { clientId, secret } = server.principals.clientSecret
    const wrong = `${secret}-wrong`
    const { backend } = backends.create({ credential: { type: 'clientSecret', tenantId: server.tenantId, clientId, clientSecret: wrong } }, { logger })
    const err = await callStore(backend, backend.locate('object', uniqueIdentity()) as string, 8000).catch((e: Error) => e)
    t.match(err, { code: 'NFSS_STORE_DENIED', message: /no token from the credential/ })
    t.notMatch(`${(err as Error).message}${lines()}`, wrong)

    const denied = backends.create({ credential: { type: 'clientSecret', tenantId: server.tenantId, clientId: server.principals.denied.clientId, clientSecret: server.principals.denied.secret } }, { logger })
    const refused = await callStore(denied.backend, denied.backend.locate('object', uniqueIdentity()) as string, 8000).catch((e: Error) => e)
    t.match(refused, { code: 'NFSS_STORE_DENIED', message: /HTTP 403, Forbidden, ForbiddenByRbac/ })
    t.match(lines(), /"msg":"key vault denied access"/)
    t.match(lines(), new RegExp(`"clientId":"${server.principals.denied.clientId}"`), 'the log names who was refused')
    t.match(lines(), /"caller":\{"appId":"[0-9a-f-]+","objectId":"[0-9a-f-]+"\}/, '... as the vault saw it')
    t.notMatch(`${(refused as Error).message}${lines()}`, server.principals.denied.secret)
    t.notMatch(lines(), /Bearer|access_token|eyJ/, 'no token')
  })
}
