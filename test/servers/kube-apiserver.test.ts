// Smoke test of the real kube-apiserver test server: namespace + Secret CRUD, label selectors,
// and a 403 for the user without RBAC bindings.
import t from 'tap'
import { suiteCanRun } from './common.js'
import { kubeApiserverUnavailable, startKubeApiserver } from './kube-apiserver.js'

if (suiteCanRun(t, 'kube-apiserver smoke', kubeApiserverUnavailable())) {
  t.test('kube-apiserver smoke', async t => {
    const started = Date.now()
    const kube = await startKubeApiserver()
    t.teardown(() => kube.stop())
    t.comment(`kube-apiserver ready at ${kube.server} in ${Date.now() - started} ms`)
    t.match(kube.caData, /BEGIN CERTIFICATE/)

    const version = await kube.request('GET', '/version')
    t.equal(version.status, 200, 'GET /version')
    t.match(version.body, { major: '1' })

    const ns = `smoke-${Date.now()}`
    const created = await kube.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }
    })
    t.equal(created.status, 201, 'namespace created')

    for (const [name, team] of [['db', 'a'], ['cache', 'b']]) {
      const res = await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name, labels: { 'nf-secret-source/team': team } },
          type: 'Opaque',
          data: { PASSWORD: Buffer.from(`pw-${name}`).toString('base64') },
          stringData: { USER: `user-${name}` }
        }
      })
      t.equal(res.status, 201, `secret ${name} created`)
    }

    const selector = encodeURIComponent('nf-secret-source/team=a')
    const listed = await kube.request('GET', `/api/v1/namespaces/${ns}/secrets?labelSelector=${selector}`)
    t.equal(listed.status, 200, 'list with label selector')
    t.same(listed.body.items.map((s: any) => s.metadata.name), ['db'])
    t.equal(Buffer.from(listed.body.items[0].data.PASSWORD, 'base64').toString(), 'pw-db')
    t.equal(Buffer.from(listed.body.items[0].data.USER, 'base64').toString(), 'user-db', 'stringData merged into data')

    const forbiddenList = await kube.request('GET', `/api/v1/namespaces/${ns}/secrets`, { token: kube.restrictedToken })
    t.equal(forbiddenList.status, 403, 'restricted user cannot list secrets')
    t.match(forbiddenList.body, { kind: 'Status', reason: 'Forbidden' })
    const forbiddenGet = await kube.request('GET', `/api/v1/namespaces/${ns}/secrets/db`, { token: kube.restrictedToken })
    t.equal(forbiddenGet.status, 403, 'restricted user cannot get a secret')

    const anonymous = await kube.request('GET', `/api/v1/namespaces/${ns}/secrets`, { token: 'not-a-token' })
    t.equal(anonymous.status, 401, 'unknown token is rejected')

    // Service accounts and TokenRequest work (issuer and signing key are configured).
    const sa = await kube.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader' } }
    })
    t.equal(sa.status, 201, 'service account created')
    const tr = await kube.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/reader/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } }
    })
    t.equal(tr.status, 201, 'token request')
    const saToken: string = tr.body.status.token
    const whoami = await kube.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      token: saToken,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }
    })
    t.equal(whoami.status, 201, 'service-account token authenticates')
    t.equal(whoami.body.status?.userInfo?.username, `system:serviceaccount:${ns}:reader`)
  })
}
