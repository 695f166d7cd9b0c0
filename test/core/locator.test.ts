import t from 'tap'
import { ambiguousPlaceholders, DEFAULT_TEMPLATES, layerTemplates, renderTemplate, unknownPlaceholders } from '../../src/core/locator.js'

const identity = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'job' }

t.test('templates fill the three claims', async t => {
  t.equal(renderTemplate('x/{projectId}/{nfObjectType}/{nfObjectId}', identity), 'x/proj/job/api')
  t.equal(renderTemplate(DEFAULT_TEMPLATES.object as string, identity), 'northflank/proj/api')
  t.equal(renderTemplate('{projectId}', identity, id => id.toUpperCase()), 'PROJ', 'escape applies per id')
})

t.test('unknown placeholders are found for the config check', async t => {
  t.same(unknownPlaceholders('a/{projectId}/{project}/{}'), ['project', ''])
  t.same(unknownPlaceholders(DEFAULT_TEMPLATES.object as string), [])
})

t.test('configured templates override defaults per layer', async t => {
  t.same(layerTemplates({ object: 'o/{nfObjectId}', extra: 'e' }, DEFAULT_TEMPLATES), { ...DEFAULT_TEMPLATES, object: 'o/{nfObjectId}', extra: 'e' })
})

t.test('default templates are injective: distinct ids never share a locator, and layers never overlap', async t => {
  const ids = ['a', 'b', 'a-b', 'a.b', 'a_b', 'A', '_shared'.slice(1), 'shared', 'global', '0', 'a0']
  const seen = new Map<string, string>()
  for (const projectId of ids) {
    for (const nfObjectId of ids) {
      const id = { projectId, nfObjectId, nfObjectType: 'service' }
      for (const layer of ['project', 'object'] as const) {
        if (layer === 'project' && nfObjectId !== 'a') continue
        const key = layer === 'project' ? `project:${projectId}` : `object:${projectId}/${nfObjectId}`
        const locator = renderTemplate(DEFAULT_TEMPLATES[layer] as string, id)
        const before = seen.get(locator)
        if (before !== undefined && before !== key) t.fail(`${key} and ${before} share ${locator}`)
        seen.set(locator, key)
      }
    }
  }
  t.notOk(seen.has(DEFAULT_TEMPLATES.global as string), 'global locator is never a project or object locator')
  t.pass(`${seen.size} distinct locators`)
})

t.test('tenant isolation: placeholders joined by id characters are ambiguous (a-b/c vs a/b-c)', async t => {
  t.same(ambiguousPlaceholders('teams/{projectId}-{nfObjectId}'), ['projectId', 'nfObjectId'])
  t.same(ambiguousPlaceholders('teams/{projectId}{nfObjectId}'), ['projectId', 'nfObjectId'])
  t.same(ambiguousPlaceholders('t/{projectId}/x.{nfObjectType}_{nfObjectId}'), ['nfObjectType', 'nfObjectId'])
  t.equal(ambiguousPlaceholders('northflank/{projectId}/{nfObjectId}'), undefined)
  t.equal(ambiguousPlaceholders('nf-{projectId}:{nfObjectId}'), undefined, '":" cannot be in an id')
  t.equal(ambiguousPlaceholders('northflank/{projectId}/_shared'), undefined)
  // The collision it prevents, shown with the renderer itself:
  const a = renderTemplate('teams/{projectId}-{nfObjectId}', { projectId: 'a-b', nfObjectId: 'c', nfObjectType: 'service' })
  const b = renderTemplate('teams/{projectId}-{nfObjectId}', { projectId: 'a', nfObjectId: 'b-c', nfObjectType: 'service' })
  t.equal(a, b)
})
