// End to end over HTTP: the service answers Northflank's request from the Key Vault test server,
// with the examples of docs/backends/azure-keyvault.md written the way the docs write them.
import t from 'tap'
import { startTestService } from '../../helpers/service.js'
import { capturingLogger } from '../../helpers/logger.js'
import { keyVaultForSuite, seamedDefinition, serverConfig } from './keyvault-fixture.js'

const server = await keyVaultForSuite(t, 'azure-keyvault service', ['nfss-test', 'nfss-names', 'nfss-tags'])
if (server !== undefined) {
  const answer = async (backend: Record<string, unknown>, identity: { projectId: string, nfObjectId: string }, logger?: any): Promise<{ status: number, secrets: unknown[] }> => {
    const service = await startTestService({ backends: [serverConfig(server, backend)] }, { definitions: [seamedDefinition(server)], ...(logger === undefined ? {} : { logger }) })
    try {
      const res = await service.fetchAs({ ...identity, nfObjectType: 'service' })
      return { status: res.status, secrets: (await res.json() as { secrets: unknown[] }).secrets }
    } finally {
      await service.close()
    }
  }

  t.test('document layout: layers merged, a file with its attributes', async t => {
    server.setSecret('northflank--global', JSON.stringify({ LOG_LEVEL: 'info', REGION: 'eu' }))
    server.setSecret('northflank-my01project', JSON.stringify({ LOG_LEVEL: 'debug' }))
    server.setSecret('northflank-my01project-api', JSON.stringify({
      DATABASE_URL: 'postgres://app@db/app',
      '/etc/tls/key.pem': { data: Buffer.from('key').toString('base64'), encoding: 'base64', mode: '0400' }
    }))
    t.same(await answer({}, { projectId: 'my-project', nfObjectId: 'api' }), {
      status: 200,
      secrets: [
        { type: 'ENV', key: 'DATABASE_URL', value: 'postgres://app@db/app' },
        { type: 'ENV', key: 'LOG_LEVEL', value: 'debug' },
        { type: 'ENV', key: 'REGION', value: 'eu' },
        { type: 'FILE', path: '/etc/tls/key.pem', data: 'a2V5', encoding: 'base64', permissions: { policy: 'AlwaysSet', mode: '0400' } }
      ]
    })
  })

  t.test('names layout: the instance-{instanceId} layout as a project prefix (the docs\' table)', async t => {
    const vault = { vaultUrl: server.vaultUrl('nfss-names') }
    server.setSecret('instance-abc123', 'registration-token', { vault: 'nfss-names' })
    server.setSecret('instance-abc123-dburi', 'mongodb://db/abc', { vault: 'nfss-names' })
    server.setSecret('instance-abc123-oidcsecret', 'zitadel', { vault: 'nfss-names', tags: { 'nf-env': 'OIDC_SECRET' } })
    server.setSecret('instance-abc123-oidc-secret', 'not-served', { vault: 'nfss-names' })
    server.setSecret('instance-abc123-ca', 'PEM', { vault: 'nfss-names', tags: { 'nf-file': '/etc/ssl/instance-ca.pem', 'nf-mode': '0440', 'nf-owner': '1000', 'nf-owner-policy': 'KeepOrSet' } })
    server.setSecret('instance-other-dburi', 'someone-else', { vault: 'nfss-names' })
    const { logger, lines } = capturingLogger('info')
    const got = await answer({ ...vault, layout: 'names', locators: { project: 'instance-{projectId}-' } }, { projectId: 'abc123', nfObjectId: 'api' }, logger)
    t.same(got, {
      status: 200,
      secrets: [
        { type: 'ENV', key: 'DBURI', value: 'mongodb://db/abc' },
        { type: 'ENV', key: 'OIDC_SECRET', value: 'zitadel' },
        { type: 'FILE', path: '/etc/ssl/instance-ca.pem', data: 'PEM', encoding: 'utf-8', permissions: { policy: 'AlwaysSet', mode: '0440' }, owner: { policy: 'KeepOrSetExplicit', value: '1000' } }
      ]
    })
    t.notMatch(lines(), /registration-token|not-served|someone-else|mongodb/, 'no value in the log')
  })

  t.test('tags layout: secrets tagged with their project and object, a bad tag skipped with a warning', async t => {
    const vault = 'nfss-tags'
    server.setSecret('api-db-url', 'postgres://tagged', { vault, tags: { 'nf-project': 'my-project', 'nf-object': 'api', 'nf-env': 'DATABASE_URL' } })
    server.setSecret('shared-log-level', 'warn', { vault, tags: { 'nf-project': 'my-project' } })
    server.setSecret('everyone', 'hello', { vault, tags: { 'nf-scope': 'global' } })
    server.setSecret('typo', 'x', { vault, tags: { 'nf-project': 'my-project', 'nf-moed': '0400' } })
    server.setSecret('other-project', 'no', { vault, tags: { 'nf-project': 'My-Project' } })
    const { logger, lines } = capturingLogger('info')
    t.same(await answer({ vaultUrl: server.vaultUrl(vault), layout: 'tags' }, { projectId: 'my-project', nfObjectId: 'api' }, logger), {
      status: 200,
      secrets: [
        { type: 'ENV', key: 'DATABASE_URL', value: 'postgres://tagged' },
        { type: 'ENV', key: 'EVERYONE', value: 'hello' },
        { type: 'ENV', key: 'SHARED_LOG_LEVEL', value: 'warn' }
      ]
    })
    t.match(lines(), /unknown tag nf-moed/, 'the skipped secret is named in a warning')
  })
}
