// Smoke test of the real OpenBao dev server used by the Vault/OpenBao suites:
// starts it, writes and reads KV v2 under secret/, mounts a KV v1 engine, stops it.
import { existsSync } from 'node:fs'
import t from 'tap'
import { suiteCanRun } from './common.js'
import { openBaoBinary, openBaoUnavailable, startOpenBao } from './openbao.js'

if (suiteCanRun(t, 'OpenBao smoke test', openBaoUnavailable())) {
  // A first-time build of the binary takes many minutes on 2 cores: lift the file's
  // timeout (tap's default here is 300 s) for that run only.
  if (!existsSync(openBaoBinary)) t.setTimeout(30 * 60_000)
  t.test('OpenBao dev server', { timeout: 25 * 60_000 }, async t => {
    const bao = await startOpenBao()
    t.teardown(() => bao.stop())
    t.match(bao.address, /^http:\/\/127\.0\.0\.1:\d+$/, 'listens on loopback only')

    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number, json: any }> => {
      const res = await fetch(`${bao.address}/v1/${path}`, {
        method,
        headers: { 'X-Vault-Token': bao.rootToken, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      const text = await res.text()
      return { status: res.status, json: text === '' ? undefined : JSON.parse(text) }
    }

    const health = await call('GET', 'sys/health')
    t.equal(health.status, 200)
    t.equal(health.json.initialized, true)
    t.equal(health.json.sealed, false)
    t.comment(`OpenBao version ${String(health.json.version)}`)

    const mounts = await call('GET', 'sys/mounts')
    t.equal(mounts.status, 200)
    t.equal(mounts.json.data['secret/'].type, 'kv')
    t.equal(mounts.json.data['secret/'].options.version, '2', 'secret/ is KV v2 in dev mode')

    const self = await call('GET', 'auth/token/lookup-self')
    t.equal(self.status, 200)
    t.equal(self.json.data.ttl, 0, 'root token has no TTL')

    // KV v2
    const written = await call('POST', 'secret/data/app/db', { data: { user: 'svc', password: 'p@ss w0rd' } })
    t.equal(written.status, 200, 'KV v2 write')
    t.equal(written.json.data.version, 1)
    const read = await call('GET', 'secret/data/app/db')
    t.equal(read.status, 200, 'KV v2 read')
    t.same(read.json.data.data, { user: 'svc', password: 'p@ss w0rd' })
    t.equal(read.json.data.metadata.version, 1)
    t.equal((await call('GET', 'secret/data/app/missing')).status, 404, 'missing KV v2 secret is 404')
    t.equal((await fetch(`${bao.address}/v1/secret/data/app/db`, { headers: { 'X-Vault-Token': 'nope' } })).status, 403, 'bad token is 403')

    // KV v1 at another path
    const mounted = await call('POST', 'sys/mounts/kv1', { type: 'kv', options: { version: '1' } })
    t.equal(mounted.status, 204, 'KV v1 mounted at kv1/')
    t.equal((await call('POST', 'kv1/team/api', { token: 'abc', region: 'eu' })).status, 204, 'KV v1 write')
    const v1 = await call('GET', 'kv1/team/api')
    t.equal(v1.status, 200, 'KV v1 read')
    t.same(v1.json.data, { token: 'abc', region: 'eu' })

    await bao.stop()
    t.not(bao.process.exitCode ?? bao.process.signalCode, null, 'process stopped')
    await t.rejects(fetch(`${bao.address}/v1/sys/health`), 'nothing listens after stop()')
  })
}
