// Tenant isolation at start-up, as a new user would meet it: layouts that let one identity read
// another's secrets are refused by the config loader (and so by `serve` and `check`), naming both
// templates and a pair of identities that would collide. The proof itself: test/core/isolation.test.ts.
import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { stringify } from 'yaml'
import { backendDefinitions } from '../backends/registry.js'
import { loadConfig } from '../src/config/load.js'
import { renderTemplate } from '../src/core/locator.js'
import { TEST_SECRET } from './helpers/service.js'

const problemsOf = (document: Record<string, unknown>): string => {
  try {
    loadConfig({ document: { auth: { secrets: [TEST_SECRET] }, ...document }, env: {} })
  } catch (err) {
    return (err as Error).message
  }
  return 'accepted'
}

/** The two identities a refusal names, parsed back from "{projectId: a, nfObjectId: b, nfObjectType: c}". */
function identitiesIn (message: string): Array<{ projectId: string, nfObjectId: string, nfObjectType: string }> {
  return [...message.matchAll(/\{projectId: ([^,]+), nfObjectId: ([^,]+), nfObjectType: ([^}]+)\}/g)]
    .map(m => ({ projectId: m[1] as string, nfObjectId: m[2] as string, nfObjectType: m[3] as string }))
}

t.test('overlapping layers: a type layer and a project layer that render the same path are refused (reproduction 1)', async t => {
  const type = 'nf/{nfObjectType}'
  const project = 'nf/{projectId}'
  const message = problemsOf({ layers: ['global', 'type', 'project', 'object'], backends: [{ name: 'f', type: 'file', locators: { type, project } }] })
  t.match(message, 'backends[0].locators.type ("nf/{nfObjectType}") and backends[0].locators.project ("nf/{projectId}")')
  const [a, b] = identitiesIn(message)
  t.ok(a !== undefined && b !== undefined, 'names a pair of identities')
  t.equal(renderTemplate(type, a as never), renderTemplate(project, b as never), 'and that pair really collides')
})

t.test('a global template that a project id can render is refused ("northflank/global" beside "northflank/{projectId}")', async t => {
  const message = problemsOf({ backends: [{ name: 'f', type: 'file', locators: { global: 'northflank/global', project: 'northflank/{projectId}' } }] })
  t.match(message, 'backends[0].locators.global ("northflank/global") and backends[0].locators.project ("northflank/{projectId}")')
  t.match(message, 'projectId: global')
})

t.test('a scope placeholder missing from its layer is refused (reproduction 2: apps/{nfObjectId} shared by every project)', async t => {
  const message = problemsOf({ backends: [{ name: 'f', type: 'file', locators: { object: 'apps/{nfObjectId}' } }] })
  t.match(message, 'backends[0].locators.object ("apps/{nfObjectId}") lacks {projectId}')
})

t.test('layouts that let two identities share a locator are refused for every store', async t => {
  const cases: Array<Record<string, unknown>> = [
    { type: 'file', locators: { object: 'teams/{projectId}-{nfObjectId}' } },
    { type: 'vault', address: 'http://127.0.0.1:1', auth: { method: 'token', token: 'x' }, locators: { object: 'teams/{projectId}.{nfObjectId}' } },
    { type: 'aws-ssm', region: 'eu-west-1', locators: { object: '/teams/{projectId}_{nfObjectId}' } },
    { type: 'aws-secrets-manager', region: 'eu-west-1', locators: { object: 'teams/{projectId}{nfObjectId}' } },
    { type: 'kubernetes', layers: ['global', 'type', 'project', 'object'], locators: { type: 'kind={nfObjectType}', project: 'kind={projectId}' } },
    { type: 'azure-keyvault', vaultUrl: 'https://nfss.vault.azure.net', locators: { object: 'teams-{projectId}{nfObjectId}' } }
  ]
  for (const { layers, ...backend } of cases) {
    const message = problemsOf({ ...(layers === undefined ? {} : { layers }), backends: [{ name: 'b', ...backend }] })
    t.match(message, 'tenant isolation', `${String(backend.type)}: ${message.split('\n')[1] ?? message}`)
  }
})

t.test('the default layout of every store, and layouts that keep tenants apart, are accepted', async t => {
  const stores: Record<string, Record<string, unknown>> = {
    file: {},
    vault: { address: 'http://127.0.0.1:1', auth: { method: 'token', token: 'x' } },
    'aws-ssm': { region: 'eu-west-1' },
    'aws-secrets-manager': { region: 'eu-west-1' },
    kubernetes: {},
    'azure-keyvault': { vaultUrl: 'https://nfss.vault.azure.net' }
  }
  t.same(Object.keys(stores).sort(), backendDefinitions.map(d => d.type).sort(), 'every registered store is covered')
  for (const [type, extra] of Object.entries(stores)) t.equal(problemsOf({ backends: [{ name: 'b', type, ...extra }] }), 'accepted', type)
  t.equal(problemsOf({ layers: ['global', 'type', 'project', 'object'], backends: [{ name: 'f', type: 'file', locators: { type: 'types/{nfObjectType}', project: 'projects/{projectId}' } }] }), 'accepted', 'extra layer under its own folder')
  t.equal(problemsOf({ backends: [{ name: 'k', type: 'kubernetes', namespace: 'nf-{projectId}', locators: { project: 'scope=project', object: 'object={nfObjectId}' } }] }), 'accepted', 'per-project namespaces with fixed selectors')
})

t.test('check: an isolation problem is NFSS_CONFIG_INVALID with exit code 2 and no stack trace', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'nfss-isolation-'))
  const file = join(dir, 'config.yaml')
  await writeFile(file, stringify({ auth: { secrets: [TEST_SECRET] }, backends: [{ name: 'f', type: 'file', root: dir, locators: { object: 'apps/{nfObjectId}' } }] }))
  const result = await promisify(execFile)(process.execPath, ['--import=tsx', 'src/cli.ts', 'check', '--config', file]).then(() => ({ code: 0, stderr: '' }), (err: { code: number, stderr: string }) => err)
  t.equal(result.code, 2)
  t.match(result.stderr, 'lacks {projectId}')
  t.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
})
