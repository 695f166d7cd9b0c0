import t from 'tap'
import { identityFromClaims, isValidId } from '../../src/core/identity.js'

const now = 1_800_000_000
const rules = { nowSeconds: now, clockToleranceSeconds: 30, maxTokenAgeSeconds: 0, maxTokenLifetimeSeconds: 90_000 }
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

t.test('token-without-end: exp must be finite and at most maxTokenLifetimeSeconds after iat (after now without iat)', async t => {
  const { iat: _iat, ...noIat } = claims
  t.match(identityFromClaims({ ...claims, exp: Infinity }, rules), { ok: false, reason: /exp is not a finite number/ }, 'exp 1e400 (JSON.parse gives Infinity)')
  t.match(identityFromClaims({ ...claims, exp: NaN }, rules), { ok: false, reason: /exp is not a finite number/ })
  t.match(identityFromClaims({ ...claims, exp: 1e15 }, rules), { ok: false, reason: /maxTokenLifetimeSeconds/ }, 'exp 1e15')
  t.match(identityFromClaims({ ...claims, exp: String(now + 60) }, rules), { ok: false, reason: /exp is not a finite number/ }, 'exp as a string')
  t.match(identityFromClaims({ ...claims, exp: undefined }, rules), { ok: false, reason: /exp/ })
  t.match(identityFromClaims({ ...claims, iat: now, exp: now + 90_000 }, rules), { ok: true }, 'exactly the limit after iat')
  t.match(identityFromClaims({ ...claims, iat: now, exp: now + 90_001 }, rules), { ok: false, reason: /after iat/ }, 'one second more')
  t.match(identityFromClaims({ ...claims, iat: now - 86_400 * 30, exp: now + 60 }, rules), { ok: false, reason: /after iat/ }, 'a month-long token near its end is still a month-long token')
  t.match(identityFromClaims({ ...noIat, exp: now + 90_000 + 30 }, rules), { ok: true }, 'no iat: measured from now, with the clock tolerance')
  t.match(identityFromClaims({ ...noIat, exp: now + 90_000 + 31 }, rules), { ok: false, reason: /after now \(no iat\)/ })
  t.match(identityFromClaims({ ...claims, iat: now, exp: now + 86_400 }, rules), { ok: true }, "Northflank's 24 h token")
})
