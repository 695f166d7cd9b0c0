// The proof that no identity's locator lies below another's (src/core/nested-locators.ts), which
// lets SSM read a layer in one recursive walk: cases by hand, and a property test that checks
// every "cannot nest" answer against rendered locators of many identities.
import fc from 'fast-check'
import t from 'tap'
import type { Identity } from '../../src/core/identity.js'
import { mayNestLocators } from '../../src/core/nested-locators.js'
import { parseTemplate, PLAIN_ID, renderParts, type IdForm, type LayerTemplate } from '../../src/core/locator.js'

const template = (layer: string, text: string, form: IdForm = PLAIN_ID): LayerTemplate => ({ layer, text, paths: [], parts: parseTemplate(text, form) })
const nesting = (templates: LayerTemplate[]): boolean[] => templates.map(x => mayNestLocators(x, templates, '/'))

t.test('the default SSM templates: no layer path lies below another identity\'s (ids never start with "_")', async t => {
  t.same(nesting([template('global', '/northflank/_global'), template('project', '/northflank/{projectId}/_shared'), template('object', '/northflank/{projectId}/{nfObjectId}')]), [false, false, false])
})

t.test('a project path that is its objects\' parent nests, and so does a global path an id can spell', async t => {
  t.same(nesting([template('global', '/nf/global'), template('project', '/nf/{projectId}'), template('object', '/nf/{projectId}/{nfObjectId}')]), [true, true, false])
})

t.test('sibling prefixes that no id can make equal do not nest', async t => {
  t.same(nesting([template('global', '/nf/g'), template('project', '/nf/p-{projectId}'), template('object', '/nf/o-{projectId}/{nfObjectId}')]), [false, false, false])
})

t.test('a placeholder whose form can hold the separator: assumed to nest', async t => {
  const slashy: IdForm = { ...PLAIN_ID, name: 'slashy', language: { ...PLAIN_ID.language, middle: `${PLAIN_ID.language.middle}/` } }
  t.same(nesting([template('project', '/nf/p/{projectId}', slashy), template('object', '/nf/o/{projectId}/{nfObjectId}')]), [true, true])
})

// Property: whenever the proof says a template cannot nest, no rendering of it plus "/" starts a
// rendering of any template, over every pair of identities drawn from ids that make prefixes
// likely (short, shared letters, "." and "-" inside).
const IDS = ['a', 'b', 'ab', 'a-b', 'a.b', 'p', 'p-a', 'o', 'x', 'g', '_x']
const identities: Identity[] = IDS.flatMap(projectId => ['a', 'b', 'o', 'p-a'].map(nfObjectId => ({ projectId, nfObjectId, nfObjectType: 'service' })))
  .filter(i => !i.projectId.startsWith('_'))
const segment = fc.constantFrom('nf', 'a', 'p', 'g', 'x-', '{projectId}', 'p-{projectId}', '{nfObjectId}', '{projectId}-{nfObjectId}', 'a{nfObjectType}')
const templateText = fc.array(segment, { minLength: 1, maxLength: 4 }).map(segments => `/${segments.join('/')}`)

t.test('property: "cannot nest" holds for rendered locators of many identities', async t => {
  let proven = 0
  fc.assert(fc.property(fc.array(templateText, { minLength: 1, maxLength: 3 }), texts => {
    const templates = texts.map((text, i) => template(`layer${i}`, text))
    for (const mine of templates) {
      if (mayNestLocators(mine, templates, '/')) continue
      proven++
      for (const a of identities) {
        const below = `${renderParts(mine.parts, a)}/`
        for (const other of templates) {
          for (const b of identities) {
            if (renderParts(other.parts, b).startsWith(below)) return false
          }
        }
      }
    }
    return true
  }), { numRuns: 300 })
  t.ok(proven > 100, `${proven} templates proven not to nest were checked`)
})
