// type: kubernetes without a server: ids escaped into label values and namespace names are
// injective (generated with fast-check, fixed seed), label selectors parse and match like the
// apiserver's, templates and kubeconfigs are checked at start-up with the offending key named.
import fc from 'fast-check'
import t from 'tap'
import { loadKubeConfig } from '../../../backends/kubernetes/client.js'
import { DNS_LABEL, LABEL_VALUE, escapeLabelValue, escapeNamespaceId, matchesSelector, parseLocator, parseSelector, type Requirement } from '../../../backends/kubernetes/labels.js'
import { compileLayout as compileKubeLayout, DEFAULT_MANAGED_LABEL, type LayoutConfig } from '../../../backends/kubernetes/layout.js'
import { locatorOf } from '../../../src/core/locator.js'
import { loadConfig } from '../../../src/config/load.js'
import { isValidId, type Identity } from '../../../src/core/identity.js'
import { TEST_SECRET } from '../../helpers/service.js'

/** The layout with its locate(), or a throw naming each key and its problem. */
function compileLayout (config: LayoutConfig, layers: readonly string[]) { // eslint-disable-line @typescript-eslint/explicit-function-return-type
  const layout = compileKubeLayout(config, layers)
  if ('problems' in layout) throw new Error(layout.problems.map(p => `${p.key} ${p.problem}`).join('\n'))
  return { ...layout, locate: locatorOf(layout.templates) }
}

const SEED = 20260707
const LAYERS = ['global', 'project', 'object']
const ID_CHARS = 'abcxyzABCXYZ0189._-'
const idChar = fc.constantFrom(...ID_CHARS)
/** Valid ids, biased towards what breaks label rules: long ones, shared prefixes, odd endings. */
const validId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
  fc.tuple(fc.constantFrom('a', 'A', '0'), fc.string({ unit: idChar, minLength: 25, maxLength: 127 })).map(([h, rest]) => (h + rest).slice(0, 128)),
  fc.tuple(fc.constantFrom('x'.repeat(29), 'p'.repeat(62), 'Project.'), fc.string({ unit: idChar, maxLength: 70 })).map(([p, s]) => (p + s).slice(0, 128))
).filter(isValidId)

t.test('label values: every valid id escapes to a valid, distinct label value; valid values pass unchanged', async t => {
  fc.assert(fc.property(fc.uniqueArray(validId, { minLength: 2, maxLength: 60 }), ids => {
    const escaped = ids.map(escapeLabelValue)
    for (const [i, value] of escaped.entries()) {
      if (value.length > 63 || !LABEL_VALUE.test(value)) return false
      const id = ids[i] as string
      if (id.length <= 63 && LABEL_VALUE.test(id) && value !== id) return false
      // An escaped value holds "..", which no id holds: it can never be another id unchanged.
      if (value !== id && isValidId(value)) return false
    }
    return new Set(escaped).size === ids.length
  }), { seed: SEED, numRuns: 400 })
  const near = `${'x'.repeat(29)}`
  t.not(escapeLabelValue(`${near}${'a'.repeat(40)}`), escapeLabelValue(`${near}${'b'.repeat(40)}`), 'same 29-character prefix, different ids')
  t.match(escapeLabelValue('trailing.'), /^trailing\.\.\.[0-9a-f]{32}$/)
  t.equal(escapeLabelValue('Plain_Id-1.2'), 'Plain_Id-1.2')
})

t.test('namespace ids: every valid id escapes to a DNS label within the room left, distinct', async t => {
  fc.assert(fc.property(fc.uniqueArray(validId, { minLength: 2, maxLength: 60 }), fc.integer({ min: 35, max: 63 }), (ids, room) => {
    const escaped = ids.map(id => escapeNamespaceId(id, room))
    if (escaped.some(ns => ns.length > room || !DNS_LABEL.test(ns) || !DNS_LABEL.test(`${'n'.repeat(63 - room)}${ns}`))) return false
    return new Set(escaped).size === ids.length
  }), { seed: SEED, numRuns: 400 })
  t.equal(escapeNamespaceId('my-project'), 'my-project')
  t.not(escapeNamespaceId('My-Project'), escapeNamespaceId('my-project'), 'case matters: namespaces are lower case')
  t.match(escapeNamespaceId('My.Project'), /^my-project--[0-9a-f]{32}$/)
})

t.test('locators: two identities never share a locator in any layer (default and templated namespaces)', async t => {
  const identity = fc.record({ projectId: validId, nfObjectId: validId, nfObjectType: fc.constantFrom('service', 'job') })
  for (const namespace of ['northflank', 'nf-{projectId}', '{projectId}-secrets']) {
    const { locate } = compileLayout({ namespace, managedLabel: DEFAULT_MANAGED_LABEL }, LAYERS)
    fc.assert(fc.property(fc.uniqueArray(identity, { minLength: 2, maxLength: 40, selector: i => `${i.projectId}/${i.nfObjectId}` }), identities => {
      const objects = identities.map(i => locate('object', i))
      const projects = new Map(identities.map(i => [i.projectId, locate('project', i)]))
      const all = [...objects, ...projects.values(), locate('global', identities[0] as Identity)]
      return new Set(objects).size === identities.length && new Set(all).size === all.length &&
        all.every(l => l !== undefined && parseLocator(l) !== undefined && typeof parseSelector(parseLocator(l)?.selector ?? '') !== 'string')
    }), { seed: SEED, numRuns: 200 })
  }
  t.pass('injective for every namespace template')
})

t.test('selectors: parsed and matched with the apiserver\'s semantics', async t => {
  const labels = { 'nf-secret-source/project': 'p1', tier: 'db', empty: '' }
  const cases: Array<[string, boolean]> = [
    ['nf-secret-source/project=p1', true], ['nf-secret-source/project==p1', true], ['nf-secret-source/project=p2', false],
    ['tier!=web', true], ['missing!=x', true], ['tier!=db', false],
    ['tier in (web, db)', true], ['tier notin (db)', false], ['missing notin (db)', true], ['missing in (db)', false],
    ['tier', true], ['!tier', false], ['!missing', true], ['empty=', true], ['empty', true],
    [' tier = db , nf-secret-source/project in (p0,p1) ', true]
  ]
  for (const [selector, wanted] of cases) {
    const parsed = parseSelector(selector)
    t.not(typeof parsed, 'string', `${selector} parses`)
    t.equal(matchesSelector(parsed as Requirement[], labels), wanted, `${selector} -> ${String(wanted)}`)
  }
  for (const bad of ['', 'a=b=c', 'a in b', 'tier > 1', 'Bad_Prefix.io/x=y', 'a=-x', `a=${'x'.repeat(64)}`, 'a,,b']) {
    t.type(parseSelector(bad), 'string', `"${bad}" is refused`)
  }
})

t.test('templates: problems are refused at start-up, naming the key', async t => {
  const layout = (config: Record<string, unknown>): unknown => compileLayout({ namespace: 'northflank', managedLabel: DEFAULT_MANAGED_LABEL, ...config }, LAYERS)
  t.throws(() => layout({ namespace: '{projectId}-{nfObjectId}' }), /namespace .*at most one placeholder/)
  t.throws(() => layout({ namespace: 'NorthFlank' }), /namespace .*lower-case/)
  t.throws(() => layout({ namespace: `${'n'.repeat(30)}-{projectId}` }), /leaves less than 35 characters/)
  t.throws(() => layout({ namespaces: { object: 'nf_{projectId}' } }), /namespaces\.object /)
  t.throws(() => layout({ namespaces: { preview: 'x' } }), /namespaces\.preview is not a layer/)
  t.throws(() => layout({ locators: { object: 'team=proj-{projectId}' } }), /locators\.object may use placeholders only as whole label values/)
  t.throws(() => layout({ locators: { object: '{projectId}=x' } }), /locators\.object/)
  t.throws(() => layout({ locators: { object: 'a in b' } }), /locators\.object .*not a label selector requirement/)
  t.throws(() => layout({ managedLabel: 'managed in' }), /managedLabel/)
  const custom = compileLayout({ namespace: 'nf-{projectId}', managedLabel: 'owner=nfss', locators: { object: 'app in ({nfObjectId}),kind={nfObjectType}' } }, LAYERS)
  t.equal(custom.locate('object', { projectId: 'P', nfObjectId: 'api', nfObjectType: 'service' }), `nf-p--${escapeNamespaceId('P').slice(3)}/app in (api),kind=service`)
  t.same([...custom.fixedNamespaces], [])
  t.equal(custom.templatedNamespaces, true)
  t.equal(custom.locate('preview', { projectId: 'P', nfObjectId: 'api', nfObjectType: 'service' }), undefined, 'no template: the layer is not read')
})

t.test('config: the kubernetes type validates its options; kubeconfig problems fail start-up', async t => {
  const load = (backend: Record<string, unknown>): unknown => loadConfig({ document: { auth: { secrets: [TEST_SECRET] }, backends: [{ name: 'kube', type: 'kubernetes', ...backend }] }, env: {} })
  t.match((load({}) as any).config.backends[0], { strategy: 'informer', namespace: 'northflank', managedLabel: DEFAULT_MANAGED_LABEL, staleLimitSeconds: 600 })
  t.throws(() => load({ strategy: 'poll' }), /backends\[0\]\.strategy|strategy/)
  t.throws(() => loadKubeConfig({ kubeconfig: '/nonexistent/kubeconfig' }, '/'), /kubeconfig: cannot load kubeconfig \/nonexistent\/kubeconfig \(ENOENT\)/)
})
