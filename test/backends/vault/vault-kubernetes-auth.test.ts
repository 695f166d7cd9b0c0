// Vault's kubernetes auth method for real: OpenBao's kubernetes auth mount configured against the
// real kube-apiserver test server, which reviews a real service account token (TokenReview) that
// the backend reads from its token file, as in a pod.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { vaultDefinition } from '../../../backends/vault/index.js'
import { buildBackend } from '../../../src/create-backends.js'
import type { Backend } from '../../../src/store/port.js'
import { callStore } from '../../../src/store-call.js'
import { capturingLogger, silentLogger } from '../../helpers/logger.js'
import { uniqueIdentity } from '../contract.js'
import { backendConfig } from '../kit.js'
import { KubeTestCluster, kubeForSuite, uniqueName } from '../kubernetes/kubernetes-fixture.js'
import { READ_POLICY, openBaoForSuite } from './vault-server.js'

const kube = await kubeForSuite(t, 'vault kubernetes auth')
const bao = kube === undefined ? undefined : await openBaoForSuite(t, 'vault kubernetes auth')
if (kube !== undefined && bao !== undefined) {
  const cluster = new KubeTestCluster(kube)
  t.teardown(() => { cluster.close() })
  const dir = await mkdtemp(join(tmpdir(), 'nfss-vault-k8s-'))

  // OpenBao reviews tokens with its own service account, allowed to create TokenReviews.
  const vaultNamespace = uniqueName('vault')
  const reviewerToken = await cluster.serviceAccountToken(vaultNamespace, 'vault-reviewer')
  await cluster.apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: uniqueName('vault-auth-delegator') },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
    subjects: [{ kind: 'ServiceAccount', name: 'vault-reviewer', namespace: vaultNamespace }]
  })
  const must = async (path: string, body: unknown): Promise<void> => {
    const answer = await bao.root('POST', path, body)
    if (answer.status >= 300) throw new Error(`OpenBao ${path}: HTTP ${answer.status} ${JSON.stringify(answer.json)}`)
  }
  await must('sys/auth/kubernetes', { type: 'kubernetes' })
  await must('auth/kubernetes/config', {
    kubernetes_host: kube.server,
    kubernetes_ca_cert: kube.caData,
    token_reviewer_jwt: reviewerToken,
    disable_local_ca_jwt: true
  })

  // The identity nf-secret-source runs as, bound to a role with the read policy.
  const appNamespace = uniqueName('nfss-app')
  await must('auth/kubernetes/role/nf-secret-source', {
    bound_service_account_names: ['nf-secret-source'],
    bound_service_account_namespaces: [appNamespace],
    token_policies: [READ_POLICY],
    token_ttl: '1h'
  })
  const tokenFile = async (namespace: string, name: string): Promise<string> => {
    const file = join(dir, `${namespace}-${name}.token`)
    await writeFile(file, await cluster.serviceAccountToken(namespace, name))
    return file
  }
  const backends: Backend[] = []
  t.teardown(async () => { await Promise.allSettled(backends.map(async b => { await b.close() })) })
  const backendWith = async (file: string, logger = silentLogger()): Promise<Backend> => {
    const config = backendConfig({ name: 'bao', type: 'vault', address: bao.address, auth: { method: 'kubernetes', role: 'nf-secret-source', tokenFile: file } })
    const backend = await buildBackend(vaultDefinition, config, { logger, baseDir: dir, layers: ['global', 'project', 'object'] })
    backends.push(backend)
    return backend
  }

  t.test('vault kubernetes auth: a real service account token, reviewed by the real apiserver, logs in and reads', async t => {
    const backend = await backendWith(await tokenFile(appNamespace, 'nf-secret-source'))
    const identity = uniqueIdentity()
    await bao.write('secret', 2, backend.locate('object', identity) as string, { VIA_KUBERNETES_AUTH: 'yes' })
    await t.resolves(backend.ready(AbortSignal.timeout(10_000)), 'ready: logged in through TokenReview')
    const result = await callStore(backend, backend.locate('object', identity) as string, 10_000)
    t.same(result, { found: true, entries: [{ type: 'ENV', key: 'VIA_KUBERNETES_AUTH', value: 'yes' }], invalid: [] })
  })

  t.test('vault kubernetes auth: a service account the role does not bind is NFSS_STORE_DENIED, and the token is never logged', async t => {
    const file = await tokenFile(uniqueName('nfss-other'), 'nf-secret-source')
    const { logger, lines } = capturingLogger('info')
    const backend = await backendWith(file, logger)
    const err = await callStore(backend, backend.locate('object', uniqueIdentity()) as string, 10_000).catch((e: Error) => e)
    t.match(err, { code: 'NFSS_STORE_DENIED', message: /kubernetes login at auth\/kubernetes/ })
    const token = await readFile(file, 'utf8')
    t.notMatch(`${lines()}${(err as Error).message}`, token.slice(0, 40), 'the service account token never reaches the log or the error')
  })
}
