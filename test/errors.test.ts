// The error catalog pinned the way fastify pins its own (lib/errors.js and test/internals/errors.test.js):
// every export's code, status and message, so a change to a stable code is a deliberate edit
// here, and every code against the README's Errors table, both ways.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import * as catalog from '../src/errors.js'
import { STORE_ERROR_CODES, StoreError, storeError, type StoreErrorKind } from '../src/store/errors.js'
import { repoRoot } from './servers/common.js'

interface Pinned { code: string, statusCode?: number, message: string, args: unknown[] }

const HTTP_ERRORS: Record<string, Pinned> = {
  Unauthorized: { code: 'NFSS_UNAUTHORIZED', statusCode: 401, message: 'missing or invalid bearer token', args: [] },
  BodyNotAllowed: { code: 'NFSS_BODY_NOT_ALLOWED', statusCode: 400, message: 'requests to this service carry no body', args: [] },
  RateLimited: { code: 'NFSS_RATE_LIMITED', statusCode: 429, message: 'too many refused tokens from this address, retry in 42 s', args: [42] },
  InvalidEntries: { code: 'NFSS_INVALID_ENTRIES', statusCode: 502, message: 'stores hold 3 entries that cannot be served (strict mode)', args: [3] },
  DeadlineExceeded: { code: 'NFSS_DEADLINE_EXCEEDED', statusCode: 503, message: 'request deadline of 100 ms exceeded', args: [100] },
  ConfigInvalid: { code: 'NFSS_CONFIG_INVALID', statusCode: 500, message: 'invalid configuration:\n  - x', args: ['  - x'] },
  UnknownBackendType: { code: 'NFSS_UNKNOWN_BACKEND_TYPE', statusCode: 500, message: 'backends[1]: unknown type "s3" (known: file)', args: [1, 's3', 'file'] },
  DuplicateBackend: { code: 'NFSS_DUPLICATE_BACKEND', statusCode: 500, message: 'backends[2]: name "a" is used twice', args: [2, 'name', 'a'] }
}

const STORE_ERRORS: Record<StoreErrorKind, { code: string, message: string }> = {
  denied: { code: 'NFSS_STORE_DENIED', message: 'store denied access: detail' },
  unavailable: { code: 'NFSS_STORE_UNAVAILABLE', message: 'store unavailable: detail' },
  malformed: { code: 'NFSS_STORE_MALFORMED', message: 'malformed secret document: detail' }
}

t.test('every export of the HTTP catalog is pinned: code, status, message', async t => {
  const constructors = Object.entries(catalog).filter(([, v]) => typeof v === 'function')
  t.same(constructors.map(([name]) => name).sort(), Object.keys(HTTP_ERRORS).sort(), 'no export is unpinned, none is missing')
  for (const [name, Make] of constructors) {
    const pinned = HTTP_ERRORS[name] as Pinned
    const err = new (Make as new (...args: unknown[]) => Error & { code: string, statusCode: number })(...pinned.args)
    t.equal(err.code, pinned.code, `${name}.code`)
    t.equal(err.statusCode, pinned.statusCode, `${name}.statusCode`)
    t.equal(err.message, pinned.message, `${name}.message`)
    t.ok(err instanceof Error, `${name} is an Error`)
  }
  t.equal(catalog.STORE_ERROR_STATUS, 503, 'every store error kind answers 503')
})

t.test('every store error kind is pinned: code and message; the kind survives', async t => {
  t.same(STORE_ERROR_CODES, Object.fromEntries(Object.entries(STORE_ERRORS).map(([k, v]) => [k, v.code])))
  for (const [kind, pinned] of Object.entries(STORE_ERRORS) as Array<[StoreErrorKind, { code: string, message: string }]>) {
    const err = storeError(kind, 'detail')
    t.ok(err instanceof StoreError)
    t.equal(err.kind, kind)
    t.equal(err.code, pinned.code)
    t.equal(err.message, pinned.message)
  }
})

t.test('README\'s Errors table lists exactly the catalog\'s codes, with their status', async t => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Errors'), readme.indexOf('\n## ', readme.indexOf('## Errors') + 1))
  const documented = new Map<string, string>()
  for (const row of section.split('\n').filter(l => l.startsWith('| `NFSS_'))) {
    const [codes = '', status = ''] = row.split('|').slice(1).map(c => c.trim())
    for (const code of codes.match(/NFSS_[A-Z_]+/g) ?? []) documented.set(code, status)
  }
  const expected = new Map<string, string>([
    ...Object.values(HTTP_ERRORS).map((p): [string, string] => [p.code, p.statusCode === 500 ? 'start-up' : String(p.statusCode)]),
    ...Object.values(STORE_ERRORS).map((p): [string, string] => [p.code, '503'])
  ])
  t.same([...documented.keys()].sort(), [...expected.keys()].sort(), 'the same codes both ways')
  for (const [code, status] of expected) t.match(documented.get(code), status, `${code}: ${status}`)
})
