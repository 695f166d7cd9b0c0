// Key Vault names (no server needed): the id escape is injective ignoring case, writes only
// [a-z0-9], fits the room its template leaves (hashing longer ids) and reads back every unhashed
// value (fast-check, fixed seed); ids that collide naively get different names; every default
// layout passes the loader's isolation proof, and layouts that would mix identities are refused.
import fc from 'fast-check'
import t from 'tap'
import { keyVaultDefinition } from '../../../backends/azure-keyvault/index.js'
import {
  escapeForRoom, escapeId, isHashed, MIN_ROOM, nameForm, roomOf, unescapeId, LAYOUT_DEFAULTS, type Layout
} from '../../../backends/azure-keyvault/names.js'
import { prefixOf } from '../../../backends/azure-keyvault/names-layout.js'
import { tagGroupOf } from '../../../backends/azure-keyvault/tags-layout.js'
import { loadConfig } from '../../../src/config/load.js'
import type { Identity } from '../../../src/core/identity.js'
import { isValidId } from '../../../src/core/identity.js'
import { TEST_SECRET } from '../../helpers/service.js'
import { storeContext } from '../kit.js'
import { silentLogger } from '../../helpers/logger.js'

const SEED = 20260415
const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-'
const idChar = fc.constantFrom(...ID_CHARS)
/** Valid ids, weighted towards the interesting ones: long, full of codes, case variants. */
const validId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
  fc.tuple(fc.constantFrom('a', 'A', '0'), fc.string({ unit: idChar, minLength: 40, maxLength: 127 })).map(([h, rest]) => h + rest),
  fc.tuple(fc.constantFrom('x'.repeat(50), 'P'.repeat(60), 'Project.0-'), fc.string({ unit: idChar, maxLength: 78 })).map(([p, s]) => p + s),
  fc.string({ unit: fc.constantFrom('a', 'A', '0', '-', '_', '.'), minLength: 1, maxLength: 128 }).map(s => `a${s}`.slice(0, 128))
).filter(isValidId)

const config = (backend: Record<string, unknown>, layers?: string[]): any => loadConfig({
  document: { auth: { secrets: [TEST_SECRET] }, ...(layers === undefined ? {} : { layers }), backends: [{ name: 'akv', type: 'azure-keyvault', vaultUrl: 'https://nfss.vault.azure.net', ...backend }] },
  env: {}
}).config.backends[0]

const locateFor = (backend: Record<string, unknown>, layers = ['global', 'project', 'object']) => {
  const c = config(backend, layers)
  return storeContext(keyVaultDefinition, c, { logger: silentLogger(), baseDir: process.cwd(), layers }).locate
}

t.test('escape: injective ignoring case, only [a-z0-9], within the room, unescape reads back every unhashed value', async t => {
  for (const room of [40, 57, 116, 256]) {
    fc.assert(fc.property(fc.uniqueArray(validId, { minLength: 2, maxLength: 60 }), ids => {
      const seen = new Map<string, string>()
      for (const id of ids) {
        const value = escapeForRoom(id, room)
        if (!/^[a-z0-9]+$/.test(value)) throw new Error(`${id} -> ${value}: outside [a-z0-9]`)
        if (value.length > room) throw new Error(`${id} -> ${value}: longer than ${room}`)
        const other = seen.get(value.toLowerCase())
        if (other !== undefined) throw new Error(`${id} and ${other} both -> ${value}`)
        seen.set(value.toLowerCase(), id)
        if (isHashed(value)) {
          if (unescapeId(value) !== undefined) throw new Error(`${value} is hashed but unescapes`)
        } else if (unescapeId(value) !== id || nameForm(room).unescape(value) !== id) {
          throw new Error(`${id} -> ${value} -> ${String(unescapeId(value))}`)
        }
      }
    }), { seed: SEED, numRuns: 300 })
  }
  t.pass('escapeForRoom holds for rooms 40, 57, 116 and 256')
})

t.test('escape: the codes, with examples from the docs', async t => {
  t.equal(escapeId('api'), 'api')
  t.equal(escapeId('my-project'), 'my01project')
  t.equal(escapeId('v1.2_beta'), 'v102203beta')
  t.equal(escapeId('Web'), '0web')
  t.equal(escapeId('a0b'), 'a00b')
  t.equal(escapeId('507f1f77bcf86cd799439011'), '5007f1f77bcf86cd7994390011', 'a digit 0 doubles')
  t.equal(unescapeId('0web'), 'Web')
  t.equal(unescapeId('a09ff'), undefined, '"09" marks a hashed value')
  t.equal(unescapeId('a04'), undefined, 'no such code')
  t.equal(unescapeId('a0'), undefined, 'a lone 0')
  t.equal(unescapeId('aB'), undefined, 'escapes are lower-case')
})

t.test('escape: ids near the 128-character limit are hashed to fit, and stay distinct', async t => {
  const room = roomOf(LAYOUT_DEFAULTS.document.object as string, 'document')
  t.equal(room, 57, 'northflank-{projectId}-{nfObjectId} leaves 57 characters per id')
  const long = 'A'.repeat(127) + 'b'
  const longer = 'A'.repeat(127) + 'c'
  const a = escapeForRoom(long, room)
  const b = escapeForRoom(longer, room)
  t.ok(a.length <= room && b.length <= room, `${a.length} and ${b.length} characters`)
  t.not(a, b, 'same leading 127 characters, different ids: different names (the hash covers the whole id)')
  t.match(a, /^(0a)+09[0-9a-f]{32}$/, 'escape cut at a code boundary, "09", 32 hex characters')
  t.ok(isHashed(a))
  t.equal(nameForm(room).unescape(a), undefined, 'a hashed value names no id')
  const exact = 'p'.repeat(room)
  t.equal(escapeForRoom(exact, room), exact, 'an escape that fits exactly is not hashed')
  t.ok(isHashed(escapeForRoom(`${exact}p`, room)), 'one more character is')
  // The longest possible id, in every default template: the names stay within Key Vault's 127.
  const worst: Identity = { projectId: `A${'_'.repeat(127)}`, nfObjectId: `Z${'.'.repeat(126)}z`.replace(/\.\./g, '.a'), nfObjectType: 'service' }
  for (const layout of ['document', 'names'] as Layout[]) {
    const locate = locateFor({ layout })
    for (const layer of ['global', 'project', 'object']) {
      const name = locate(layer, worst) as string
      const limit = layout === 'names' ? 127 - 16 : 127
      t.ok(name.length <= limit && /^[0-9a-z-]+$/.test(name), `${layout} ${layer}: ${name.length} characters`)
    }
  }
})

t.test('injectivity: case variants, a-b/c against a/b-c, dots and underscores', async t => {
  for (const layout of ['document', 'names', 'tags'] as Layout[]) {
    const locate = locateFor({ layout })
    const ids: Identity[] = [
      { projectId: 'a-b', nfObjectId: 'c', nfObjectType: 'service' },
      { projectId: 'a', nfObjectId: 'b-c', nfObjectType: 'service' },
      { projectId: 'A-B', nfObjectId: 'C', nfObjectType: 'service' },
      { projectId: 'a.b', nfObjectId: 'c', nfObjectType: 'service' },
      { projectId: 'a_b', nfObjectId: 'c', nfObjectType: 'service' },
      { projectId: 'ab', nfObjectId: 'c', nfObjectType: 'service' },
      { projectId: 'a0b', nfObjectId: 'c', nfObjectType: 'service' }
    ]
    for (const layer of ['project', 'object']) {
      const names = ids.map(i => (locate(layer, i) as string).toLowerCase())
      t.equal(new Set(names).size, ids.length, `${layout} ${layer}: ${names.join(' | ')}`)
    }
  }
})

t.test('injectivity: generated identities never share a locator in any layout (lower-cased)', async t => {
  const identity = fc.record({ projectId: validId, nfObjectId: validId, nfObjectType: fc.constantFrom('service', 'job') })
  for (const layout of ['document', 'names', 'tags'] as Layout[]) {
    const locate = locateFor({ layout })
    fc.assert(fc.property(fc.uniqueArray(identity, { minLength: 2, maxLength: 40, selector: i => `${i.projectId}/${i.nfObjectId}` }), identities => {
      const owners = new Map<string, string>()
      for (const i of identities) {
        for (const layer of ['project', 'object']) {
          const locator = (locate(layer, i) as string).toLowerCase()
          const who = layer === 'project' ? `project ${i.projectId}` : `object ${i.projectId}/${i.nfObjectId}`
          const before = owners.get(locator)
          if (before !== undefined && before !== who) throw new Error(`${layout}: ${before} and ${who} share ${locator}`)
          owners.set(locator, who)
        }
      }
      return true
    }), { seed: SEED, numRuns: 150 })
  }
  t.pass('no two identities, no two layers share a locator')
})

t.test('names layout: a secret belongs to the prefix up to its last "-", so no secret is in two layers', async t => {
  const locate = locateFor({ layout: 'names' })
  const p: Identity = { projectId: 'abc', nfObjectId: 'api', nfObjectType: 'service' }
  t.equal(prefixOf('northflank-abc-dburi'), locate('project', p))
  t.equal(prefixOf('northflank-abc-api-dburi'), locate('object', p))
  t.equal(prefixOf('northflank-abc-api'), locate('project', p), 'the object name itself is an entry of the project (API), not of the object')
  t.equal(prefixOf('northflank-abc-'), undefined, 'no rest: no entry')
  t.equal(prefixOf('NorthFlank-ABC-DBURI'), 'northflank-abc-', 'case is ignored, like Key Vault does')
})

t.test('tags layout: a secret\'s tags name at most one locator, ids compared exactly', async t => {
  const locate = locateFor({ layout: 'tags' })
  const p: Identity = { projectId: 'Web-1', nfObjectId: 'api', nfObjectType: 'service' }
  t.equal(tagGroupOf({ 'nf-scope': 'global' }), locate('global', p))
  t.equal(tagGroupOf({ 'nf-project': 'Web-1' }), locate('project', p))
  t.equal(tagGroupOf({ 'nf-project': 'Web-1', 'nf-object': 'api' }), locate('object', p))
  t.not(tagGroupOf({ 'nf-project': 'web-1' }), locate('project', p), 'ids are case-sensitive: web-1 is another project')
  t.equal(tagGroupOf({ 'nf-scope': 'global', 'nf-project': 'Web-1' }), undefined, 'contradictory tags: no layer')
  t.equal(tagGroupOf({ 'nf-object': 'api' }), undefined, 'an object without its project: no layer')
  t.equal(tagGroupOf({ 'nf-project': 'a..b' }), undefined, 'not an id: no layer')
  t.equal(tagGroupOf({ 'nf-scope': 'project' }), undefined)
})

t.test('every default layout passes the loader\'s isolation proof, and the docs\' examples do too', async t => {
  for (const layout of ['document', 'names', 'tags'] as Layout[]) {
    const started = performance.now()
    t.doesNotThrow(() => config({ layout }), `${layout} defaults accepted`)
    t.comment(`${layout}: proven in ${(performance.now() - started).toFixed(1)} ms (first run in this process includes warm-up)`)
  }
  t.doesNotThrow(() => config({ layout: 'names', locators: { project: 'instance-{projectId}-' } }), 'names: instance-{projectId}- (docs example)')
  const locate = locateFor({ layout: 'names', locators: { project: 'instance-{projectId}-' } })
  t.equal(locate('project', { projectId: 'abc123', nfObjectId: 'x', nfObjectType: 'service' }), 'instance-abc123-')
  t.doesNotThrow(() => config({ layout: 'document', locators: { object: 'teams-{projectId}-svc-{nfObjectId}' } }))
  t.doesNotThrow(() => config({ layout: 'names', locators: { type: 'nf-types-{projectId}-{nfObjectType}-' } }, ['global', 'project', 'type', 'object']), 'an extra layer')
})

t.test('layouts that would mix identities or break Key Vault rules are refused with their config path', async t => {
  const refused = (backend: Record<string, unknown>, pattern: RegExp, why: string, layers?: string[]): void => {
    t.throws(() => config(backend, layers), { message: pattern }, why)
  }
  refused({ locators: { object: 'nf-{projectId}{nfObjectId}' } }, /backends\[0\]: tenant isolation: backends\[0\]\.locators\.object .* renders "nf-aaa" for two identities/, 'two placeholders side by side')
  refused({ locators: { global: 'northflank-global' } }, /locators\.global .*and backends\[0\]\.locators\.project \(default\).*can both render "northflank-global"/, 'global equal to project "global"')
  refused({ locators: { project: 'Northflank--Global' } }, /tenant isolation: .*"Northflank--Global".*(northflank--global|equal ignoring case)/i, 'a project without placeholder: missing scope')
  refused({ locators: { global: 'NORTHFLANK-X', project: 'northflank-{projectId}' } }, /can both render "NORTHFLANK-X" and "northflank-x" \(equal ignoring case\)|can both render/, 'equal ignoring case')
  refused({ locators: { object: 'northflank_{projectId}-{nfObjectId}' } }, /locators\.object: .*characters outside/, 'underscore is no Key Vault name character')
  refused({ locators: { project: `${'x'.repeat(90)}-{projectId}` } }, new RegExp(`locators\\.project: leaves 36 characters per placeholder \\(at least ${MIN_ROOM} needed`), 'too little room for an id')
  refused({ layout: 'names', locators: { project: 'instance-{projectId}' } }, /locators\.project: must end with "-" in the names layout/, 'names prefix without "-"')
  refused({ layout: 'names', locators: { type: 'northflank-{projectId}-{nfObjectType}-' } }, /locators\.type .*and backends\[0\]\.locators\.object \(default\).*can both render|locators\.object \(default\).*and backends\[0\]\.locators\.type.*can both render/, 'names: an extra layer that renders object prefixes', ['global', 'project', 'type', 'object'])
  refused({ layout: 'tags', locators: { project: 'team/{projectId}' } }, /locators\.project: must be "global", "project\/\{claim\}" or "object\/\{claim\}\/\{claim\}"/, 'tags: unknown shape')
  refused({ layout: 'tags', locators: { type: 'project/{nfObjectType}' } }, /tenant isolation: .*can both render "project\/a"/, 'tags: an extra layer matching project tags', ['global', 'project', 'type', 'object'])
})
