// type: vault, auth side, against a real OpenBao dev server: AppRole, JWT and (client side)
// Kubernetes logins, one shared login for concurrent reads, renewal of a short-TTL token (and
// after a 503 from renew-self, through a FAKE fault), re-login near the max TTL and after revocation, token files (Vault Agent sinks), and TLS with
// a custom CA and client certificate through a FAKE TLS front.
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Backend } from '../../../src/store/port.js'
import { createVaultBackend, vaultDefinition } from '../../../backends/vault/index.js'
import type { VaultCall } from '../../../backends/vault/http.js'
import { loadConfig } from '../../../src/config/load.js'
import { callStore } from '../../../src/store-call.js'
import { capturingLogger, silentLogger } from '../../helpers/logger.js'
import { TEST_SECRET } from '../../helpers/service.js'
import { uniqueIdentity } from '../contract.js'
import { makeFakeCertificates, startFaultProxyFake, startTlsProxyFake } from './vault-fakes.js'
import { FORBIDDEN_PROJECT, READ_POLICY, openBaoForSuite } from './vault-server.js'
import { backendConfig, storeContext } from '../kit.js'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

const bao = await openBaoForSuite(t, 'vault (auth)')
if (bao !== undefined) {
  const baseDir = await mkdtemp(join(tmpdir(), 'nfss-vault-auth-'))
  const configOf = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}): any => backendConfig({ name: 'bao', type: 'vault', address: bao.address, auth, ...extra }, { baseDir })

  interface Observed { backend: Backend, calls: VaultCall[], logins: () => number, renewals: () => number }
  const backends: Backend[] = []
  t.teardown(async () => { await Promise.allSettled(backends.map(async b => { await b.close() })) }) // never blocks bao.stop
  const create = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}, logger = silentLogger()): Observed => {
    const calls: VaultCall[] = []
    const config = configOf(auth, extra)
    const backend = createVaultBackend(config, storeContext(vaultDefinition, config, { logger, baseDir, layers: ['global', 'project', 'object'] }), { observe: call => calls.push(call) })
    backends.push(backend)
    return {
      backend,
      calls,
      logins: () => calls.filter(c => c.path.endsWith('/login')).length,
      renewals: () => calls.filter(c => c.path === 'auth/token/renew-self').length
    }
  }
  const approle = { method: 'approle', roleId: bao.approle.roleId, secretId: bao.approle.secretId }
  const seeded = async (value = 'yes'): Promise<string> => {
    const locator = `northflank/${uniqueIdentity().projectId}/_shared`
    await bao.write('secret', 2, locator, { SEEN: value })
    return locator
  }
  const readOk = async (b: Backend, locator: string): Promise<void> => {
    const result = await callStore(b, locator, 10_000)
    if (!result.found || result.entries.length !== 1) throw new Error(`unexpected read of ${locator}: ${JSON.stringify(result)}`)
  }

  t.test('auth: AppRole logs in once; concurrent reads share that login; later reads reuse the token', async t => {
    const { logger, lines } = capturingLogger()
    const { backend, logins } = create(approle, {}, logger)
    const locator = await seeded()
    await Promise.all(Array.from({ length: 25 }, async () => { await readOk(backend, locator) }))
    t.equal(logins(), 1, '25 concurrent reads on a cold backend: 1 login')
    for (let i = 0; i < 100; i++) await readOk(backend, locator)
    t.equal(logins(), 1, '125 reads: still 1 login')
    t.match(lines(), /"authMethod":"approle","authMount":"approle","role":"nfss".*"vault login"/)
    t.notMatch(lines(), bao.approle.secretId)
  })

  t.test('auth: JWT login (literal and file), and the Kubernetes method\'s login against a JWT mount', async t => {
    // Kubernetes auth's login API is the JWT one ({role, jwt} to auth/<mount>/login) but needs a
    // cluster's TokenReview; pointing the kubernetes method at the jwt/ mount proves its client
    // side (token file read, request shape) against the real server.
    const jwtFile = join(baseDir, 'jwt-token')
    await writeFile(jwtFile, `${bao.signJwt()}\n`)
    const locator = await seeded()
    for (const auth of [
      { method: 'jwt', role: 'nfss', jwt: bao.signJwt() },
      { method: 'jwt', role: 'nfss', jwtFile: 'jwt-token' },
      { method: 'kubernetes', role: 'nfss', tokenFile: jwtFile, mount: 'jwt' }
    ]) {
      const { backend, calls } = create(auth)
      await t.resolves(backend.ready(AbortSignal.timeout(10_000)), `${auth.method} ready`)
      await readOk(backend, locator)
      t.ok(calls.some(c => c.path === 'auth/jwt/login' && c.status === 200), `${auth.method}: logged in at auth/jwt/login`)
    }
    const missing = create({ method: 'kubernetes', role: 'nfss' }).backend
    await t.rejects(missing.ready(AbortSignal.timeout(5000)), { code: 'NFSS_STORE_DENIED', message: /serviceaccount\/token cannot be read \(ENOENT\)/ })
    const forged = create({ method: 'jwt', role: 'nfss', jwt: `${bao.signJwt().slice(0, -8)}AAAAAAAA` }).backend
    await t.rejects(forged.ready(AbortSignal.timeout(5000)), { code: 'NFSS_STORE_DENIED', message: /jwt login at auth\/jwt: HTTP 400/ })
  })

  t.test('auth: a refused AppRole login is NFSS_STORE_DENIED and quotes no credential', async t => {
    await writeFile(join(baseDir, 'secret-id'), 'wrong-secret-id-0123\n')
    for (const auth of [{ ...approle, secretId: 'wrong-secret-id-0123' }, { method: 'approle', roleId: bao.approle.roleId, secretIdFile: 'secret-id' }]) {
      const err = await create(auth).backend.ready(AbortSignal.timeout(5000)).catch((e: Error) => e)
      t.match(err, { code: 'NFSS_STORE_DENIED', message: /approle login at auth\/approle: HTTP 400: invalid role or secret ID/ })
      t.notMatch((err as Error).message, /wrong-secret-id-0123/)
    }
    const { backend, logins } = create({ ...approle, secretId: 'wrong-secret-id-0123' })
    for (let i = 0; i < 5; i++) await t.rejects(callStore(backend, 'northflank/_global', 5000), { code: 'NFSS_STORE_DENIED' })
    t.equal(logins(), 1, '5 reads right after a refused login: 1 login, the others fail fast')
  })

  t.test('auth: a short-TTL token is renewed at 2/3 of its TTL and outlives its first TTL; close() stops renewing', async t => {
    const token = await bao.readerToken({ ttl: '4s', renewable: true, explicit_max_ttl: '60s' })
    const { backend, logins, renewals, calls } = create({ method: 'token', token })
    const locator = await seeded()
    const started = Date.now()
    while (Date.now() - started < 10_000) {
      await readOk(backend, locator)
      await sleep(1000)
    }
    t.ok(renewals() >= 3, `${renewals()} renewals in 10 s of a 4 s token`)
    t.equal(logins(), 0, 'token auth never calls a login endpoint')
    t.equal(calls.filter(c => c.path === 'auth/token/lookup-self').length, 1, 'one lookup-self, at first use')
    t.ok((await bao.root('POST', 'auth/token/lookup', { token })).json.data.ttl > 0, 'the token is alive at Vault')
    await backend.close()
    const after = calls.length
    await sleep(3500)
    t.equal(calls.length, after, 'no renewal after close()')
    t.comment(`renewals observed: ${renewals()} in 10 s (token TTL 4 s)`)
  })

  t.test('auth: after a 503 from renew-self (FAKE fault in front of OpenBao) renewal is retried and goes on', async t => {
    // Without the retry, a literal token would never be renewed again and die at 6 s.
    const token = await bao.readerToken({ ttl: '6s', renewable: true, explicit_max_ttl: '120s' })
    let renewSelf = 0
    const proxy = await startFaultProxyFake(bao.address, r => r.url === '/v1/auth/token/renew-self' && renewSelf++ === 0
      ? { status: 503, body: { errors: ['Vault is sealed'] } }
      : undefined)
    t.teardown(proxy.close)
    const { logger, lines } = capturingLogger()
    const { backend, calls, logins } = create({ method: 'token', token }, { address: proxy.address }, logger)
    const locator = await seeded()
    const started = Date.now()
    const statuses = (): Array<number | undefined> => calls.filter(c => c.path === 'auth/token/renew-self').map(c => c.status)
    while (Date.now() - started < 20_000 && (statuses().length < 3 || Date.now() - started < 8000)) {
      await readOk(backend, locator) // throws once the token is dead
      await sleep(500)
    }
    t.same(statuses().slice(0, 3), [503, 200, 200], 'one 503, then renewal goes on')
    t.ok(Date.now() - started > 7000, 'reads went on past the token\'s first 6 s TTL')
    t.ok((await bao.root('POST', 'auth/token/lookup', { token })).json.data.ttl > 0, 'the token is alive at Vault')
    t.equal(logins(), 0)
    t.match(lines(), /token renew-self: HTTP 503: Vault is sealed \(sealed\).*vault token renewal failed; will retry/)
    t.notMatch(lines(), /renewal refused|cannot be renewed any further/, 'a 503 is not a refusal')
    t.notMatch(lines(), token)
  })

  t.test('auth: a renew-self refused with 403 (policy without renew-self) still counts as refused', async t => {
    await bao.root('POST', 'sys/policy/nfss-no-renew', { policy: 'path "auth/token/lookup-self" { capabilities = ["read"] }' })
    const token = (await bao.root('POST', 'auth/token/create', { policies: [READ_POLICY, 'nfss-no-renew'], no_default_policy: true, ttl: '3s', renewable: true })).json.auth.client_token
    const { logger, lines } = capturingLogger()
    const { backend, calls } = create({ method: 'token', token }, {}, logger)
    await readOk(backend, await seeded())
    // Renewal is due at 2/3 of the 3 s TTL; wait for it rather than for a fixed time (loaded CI).
    const started = Date.now()
    while (Date.now() - started < 10_000 && !calls.some(c => c.path === 'auth/token/renew-self' && c.status !== undefined)) await sleep(100)
    await sleep(200)
    t.same(calls.filter(c => c.path === 'auth/token/renew-self').map(c => c.status), [403], 'one renew-self, refused')
    t.match(lines(), /"status":403.*vault token renewal refused.*a literal token cannot be replaced/s)
  })

  t.test('auth: a policy without lookup-self (no default policy): denied reads do not log in again each time', async t => {
    // Vault answers 403 to a dead token and to a path the policy denies alike; lookup-self tells
    // them apart only where the policy allows it.
    await bao.root('POST', 'auth/approle/role/nfss-nodefault', { token_policies: [READ_POLICY], token_no_default_policy: true, token_ttl: '1h' })
    const roleId = (await bao.root('GET', 'auth/approle/role/nfss-nodefault/role-id')).json.data.role_id as string
    const secretId = (await bao.root('POST', 'auth/approle/role/nfss-nodefault/secret-id', {})).json.data.secret_id as string
    const { backend, calls, logins } = create({ method: 'approle', roleId, secretId })
    await readOk(backend, await seeded())
    for (let i = 0; i < 5; i++) {
      await t.rejects(callStore(backend, `northflank/${FORBIDDEN_PROJECT}/_shared`, 10_000), { code: 'NFSS_STORE_DENIED' })
    }
    // lookup-self is refused too, so the first denial may be a dead token: one login to find out;
    // after it, denials are the policy for REJECTION_LOGIN_EVERY_MS (30 s).
    t.equal(logins(), 2, 'five denied reads: the first login and one more, not one per read')
  })

  t.test('auth: near the max TTL (renewal capped) the backend logs in again before the token dies', async t => {
    // nfss-short: token TTL 3 s, max TTL 6 s: the second renewal comes back capped.
    const { logger, lines } = capturingLogger()
    const { backend, logins, renewals } = create({ method: 'approle', roleId: bao.shortApprole.roleId, secretId: bao.shortApprole.secretId }, {}, logger)
    const locator = await seeded()
    const started = Date.now()
    let reads = 0
    while (Date.now() - started < 13_000) {
      await readOk(backend, locator)
      reads++
      await sleep(500)
    }
    t.ok(logins() >= 2, `${logins()} logins over 13 s of a 6 s max TTL`)
    t.ok(renewals() >= 2, `${renewals()} renewals`)
    t.match(lines(), /"nearMaxTtl":true/)
    t.comment(`${reads} reads over 13 s: ${logins()} logins, ${renewals()} renewals (TTL 3 s, max 6 s)`)
  })

  t.test('auth: a token revoked at Vault -> one shared re-login and a retry; a policy 403 stays Denied', async t => {
    const { backend, logins, calls } = create(approle)
    const locator = await seeded()
    await readOk(backend, locator)
    t.equal((await bao.root('POST', 'sys/leases/revoke-prefix/auth/approle/login', {})).status, 204, 'every AppRole token revoked')
    await Promise.all(Array.from({ length: 10 }, async () => { await readOk(backend, locator) }))
    t.equal(logins(), 2, '10 concurrent reads after the revocation: 1 re-login')
    const denied = `northflank/${FORBIDDEN_PROJECT}/_shared`
    await t.rejects(callStore(backend, denied, 10_000), { code: 'NFSS_STORE_DENIED', message: /\(auth approle role nfss\)/ })
    t.equal(logins(), 2, 'a policy denial does not log in again')
    t.ok(calls.some(c => c.path === 'auth/token/lookup-self' && c.status === 403), 'the dead token was recognised with lookup-self')
  })

  t.test('auth: a literal token that expired is Denied (it cannot be replaced), with a warning before', async t => {
    const token = await bao.readerToken({ ttl: '2s', renewable: false })
    const { logger, lines } = capturingLogger()
    const { backend } = create({ method: 'token', token }, {}, logger)
    const locator = await seeded()
    await readOk(backend, locator)
    await sleep(2600)
    await t.rejects(callStore(backend, locator, 10_000), { code: 'NFSS_STORE_DENIED', message: /configured token is not valid/ })
    t.match(lines(), /a literal token cannot be replaced/)
    t.notMatch(lines(), token)
  })

  t.test('auth: tokenFile (Vault Agent sink) is read again when Vault stops accepting the token', async t => {
    const sink = join(baseDir, 'agent-sink')
    const first = await bao.readerToken()
    await writeFile(sink, first)
    const { backend } = create({ method: 'token', tokenFile: 'agent-sink' })
    const locator = await seeded()
    await readOk(backend, locator)
    t.equal((await bao.root('POST', 'auth/token/revoke', { token: first })).status, 204)
    await writeFile(sink, await bao.readerToken()) // the agent wrote a new one
    await readOk(backend, locator)
    t.pass('read with the new token from the file')
  })

  t.test('auth: TLS with a custom CA and a client certificate (FAKE TLS front requiring one)', async t => {
    const certificates = makeFakeCertificates()
    const front = await startTlsProxyFake(bao.address, certificates)
    t.teardown(front.close)
    const reader = await bao.readerToken()
    const locator = await seeded()
    const tlsConfig = (tls: Record<string, string>): any => ({ ...configOf({ method: 'token', token: reader }, { address: front.address, tls }) })
    const make = (tls: Record<string, string>): Backend => {
      const config = tlsConfig(tls)
      const backend = createVaultBackend(config, storeContext(vaultDefinition, config, { logger: silentLogger(), baseDir: certificates.dir, layers: ['global'] }))
      backends.push(backend)
      return backend
    }
    const mutual = make({ ca: certificates.ca, cert: certificates.clientCert, key: certificates.clientKey })
    await t.resolves(mutual.ready(AbortSignal.timeout(10_000)))
    await readOk(mutual, locator)
    t.ok(front.seen.length >= 3 && front.seen.every(r => r.clientCertificate === true), 'every call presented the client certificate')
    await t.rejects(callStore(make({ ca: certificates.ca }), locator, 10_000), { code: 'NFSS_STORE_UNAVAILABLE' }, 'no client certificate: handshake refused')
    await t.rejects(callStore(make({ cert: certificates.clientCert, key: certificates.clientKey }), locator, 10_000), { code: 'NFSS_STORE_UNAVAILABLE' }, 'unknown CA: refused')
    t.throws(() => make({ cert: certificates.clientCert }), /tls: needs both cert and key/)
    t.throws(() => make({ ca: 'missing.pem' }), /tls\.ca: cannot read missing.pem \(ENOENT\)/)
  })

  t.test('auth: config problems are named at start-up', async t => {
    t.throws(() => create({ method: 'token' }), /auth: needs exactly one of token, tokenFile/)
    t.throws(() => create({ ...approle, secretIdFile: 'x' }), /exactly one of secretId, secretIdFile/)
    t.throws(() => configOf({ method: 'ldap', username: 'x' }), /backends\[0\]\.auth\.method: must be one of the allowed values/)
    t.throws(() => configOf({ ...approle, secret_id: 'x' }), /backends\[0\]\.auth\.secret_id: unknown key/)
    const fromEnv = loadConfig({
      document: { auth: { secrets: [TEST_SECRET] }, backends: [{ name: 'bao', type: 'vault', address: bao.address, auth: { method: 'token' } }] },
      env: { NFSS__BACKENDS__0__AUTH__TOKEN: 'from-env' }
    }).config.backends[0] as any
    t.match(fromEnv, { mount: 'secret', kvVersion: 2, auth: { method: 'token', token: 'from-env' } }, 'defaults, and an env override inside auth')
  })
}
