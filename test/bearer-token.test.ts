// Authorization: Bearer <JWT> parsing (src/plugins/verify-jwt.ts bearerToken), for any header:
// what a capture group around the token would take, and the same refusals.
import fc from 'fast-check'
import t from 'tap'
import { bearerToken, TokenRefused } from '../src/plugins/verify-jwt.js'

const CAPTURE = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i
const part = fc.stringMatching(/^[A-Za-z0-9_-]{0,12}$/)
const header = fc.oneof(
  fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Bearer\t'), fc.stringMatching(/^[ \t]{0,3}$/), part, part, part, fc.constantFrom('', ' ', '\n', ' x'))
    .map(([scheme, gap, a, b, c, end]) => `${scheme}${gap}${a}.${b}.${c}${end}`),
  fc.string({ maxLength: 40 })
)

function parsed (value: string): string | { refused: string } {
  try {
    return bearerToken(value)
  } catch (err) {
    if (!(err instanceof TokenRefused)) throw err
    return { refused: err.reason }
  }
}

t.test('the token is what the capture group takes; anything it does not match is refused', async t => {
  fc.assert(fc.property(header, value => {
    const match = value === '' ? null : CAPTURE.exec(value)
    const got = parsed(value)
    return match === null ? typeof got === 'object' : got === match[1]
  }), { numRuns: 5000 })
  t.equal(parsed('Bearer   a.b.c'), 'a.b.c', 'several spaces')
  t.same(parsed('Bearer a.b.c d'), { refused: 'Authorization header is not "Bearer <JWT>"' }, 'a space inside')
  t.same(parsed('Bearer a.b'), { refused: 'Authorization header is not "Bearer <JWT>"' }, 'two parts')
})
