import t from 'tap'
import { identityFromClaims, isValidId } from '../../src/core/identity.js'

const now = 1_800_000_000
const rules = { nowSeconds: now, clockToleranceSeconds: 30, maxTokenAgeSeconds: 0 }
const claims = { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service', iat: now - 10, exp: now + 3600 }

t.test('valid claims become the identity', async t => {
  t.same(identityFromClaims(claims, rules), { ok: true, identity: { projectId: 'proj', nfObjectId: 'api', nfObjectType: 'service' } })
})

t.test('traversal and separators in claim values are refused', async t => {
  for (const bad of ['../etc', 'a/b', 'a..b', '..', '.hidden', '-x', '_x', 'a b', 'a\\b', 'a%2fb', 'a:b', '', 'x'.repeat(129), 'é', 'a\0', 'a{projectId}']) {
    t.notOk(isValidId(bad), JSON.stringify(bad))
    t.match(identityFromClaims({ ...claims, projectId: bad }, rules), { ok: false }, JSON.stringify(bad))
  }
  for (const good of ['a', 'A9', 'a.b', 'a_b-c', 'x'.repeat(128)]) t.ok(isValidId(good), good)
})

t.test('claims of the wrong type are refused', async t => {
  for (const bad of [1, null, ['a'], { a: 1 }, true]) {
    t.match(identityFromClaims({ ...claims, nfObjectId: bad }, rules), { ok: false, reason: /nfObjectId/ })
  }
  t.match(identityFromClaims({ projectId: 'p', nfObjectId: 'o' }, rules), { ok: false, reason: /nfObjectType is missing/ })
})

t.test('iat in the future beyond the tolerance is refused', async t => {
  t.match(identityFromClaims({ ...claims, iat: now + 29 }, rules), { ok: true })
  t.match(identityFromClaims({ ...claims, iat: now + 31 }, rules), { ok: false, reason: /future/ })
  t.match(identityFromClaims({ ...claims, iat: '1' }, rules), { ok: false, reason: /iat/ })
})

t.test('maxTokenAgeSeconds limits the age from iat, and then requires iat', async t => {
  const strict = { ...rules, maxTokenAgeSeconds: 300 }
  t.match(identityFromClaims({ ...claims, iat: now - 200 }, strict), { ok: true })
  t.match(identityFromClaims({ ...claims, iat: now - 400 }, strict), { ok: false, reason: /older/ })
  const { iat: _iat, ...noIat } = claims
  t.match(identityFromClaims(noIat, strict), { ok: false, reason: /iat is required/ })
})
