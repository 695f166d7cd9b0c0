import t from 'tap'
import { claimsOf, DEFAULT_TEMPLATES, locatorOf, parseTemplate, renderParts, renderTemplate, unknownPlaceholders, type IdForm } from '../../src/core/locator.js'

const identity = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'job' }

t.test('templates fill the three claims', async t => {
  t.equal(renderTemplate('x/{projectId}/{nfObjectType}/{nfObjectId}', identity), 'x/proj/job/api')
  t.equal(renderTemplate(DEFAULT_TEMPLATES.object as string, identity), 'northflank/proj/api')
  t.equal(renderTemplate('{projectId}', identity, id => id.toUpperCase()), 'PROJ', 'escape applies per id')
})

t.test('parsed templates render what renderTemplate renders, with the form\'s escape per placeholder', async t => {
  const parts = parseTemplate('x/{projectId}/{nfObjectType}/{nfObjectId}')
  t.same(claimsOf(parts), ['projectId', 'nfObjectType', 'nfObjectId'])
  t.equal(renderParts(parts, identity), 'x/proj/job/api')
  const upper: IdForm = { name: 'upper', escape: id => id.toUpperCase(), language: { first: 'A', middle: 'A', last: 'A', minLength: 1, maxLength: 1 }, unescape: () => undefined }
  t.equal(renderParts(parseTemplate('{projectId}-x', upper), identity), 'PROJ-x')
  const locate = locatorOf([{ layer: 'object', text: 'o/{nfObjectId}', paths: [], parts: parseTemplate('o/{nfObjectId}') }])
  t.equal(locate('object', identity), 'o/api')
  t.equal(locate('project', identity), undefined, 'a layer without a template is not read')
})

t.test('unknown placeholders are found for the config check', async t => {
  t.same(unknownPlaceholders('a/{projectId}/{project}/{}'), ['project', ''])
  t.same(unknownPlaceholders(DEFAULT_TEMPLATES.object as string), [])
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
