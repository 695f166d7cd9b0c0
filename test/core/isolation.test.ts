import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { isValidId, type Identity } from '../../src/core/identity.js'
import { formatIsolationProblem, proveIsolation, type IsolationOptions, type IsolationProblem } from '../../src/core/isolation.js'
import { claimsOf, CLAIMS, DEFAULT_TEMPLATES, ID_LANGUAGE, LAYER_SCOPES, parseTemplate, PLAIN_ID, renderParts, type Claim, type IdForm, type LayerTemplate } from '../../src/core/locator.js'

const layer = (name: string, text: string, form: IdForm = PLAIN_ID): LayerTemplate =>
  ({ layer: name, text, paths: [`backends[0].locators.${name}`], parts: parseTemplate(text, form) })

const defaults = (prefix = ''): LayerTemplate[] =>
  ['global', 'project', 'object'].map(name => layer(name, prefix + (DEFAULT_TEMPLATES[name] as string)))

/** The ids the brute force tries: every one of them, and every combination, for each template. */
const POOL = ['a', 'b', 'x', '0', 'a-b', 'b-a', 'a.b', 'a_b', 'ab', 'x0', '0x', 'a-x', 'b.0']
const fold = (s: string): string => s.toLowerCase()
const X = 'x'
const base: Identity = { projectId: X, nfObjectId: X, nfObjectType: X }
const validIdentity = (i: Identity): boolean => CLAIMS.every(c => isValidId(i[c]))

/** Checks a refusal against the renderer itself: the pair it names really collides. */
function confirm (t: Test, problem: IsolationProblem, options: IsolationOptions = {}): void {
  const same = (x: string, y: string): boolean => options.caseInsensitive === true ? fold(x) === fold(y) : x === y
  switch (problem.kind) {
    case 'missing-scope': {
      const claim = problem.missing[0] as Claim
      t.notOk(claimsOf(problem.template.parts).includes(claim), `${claim} is really missing`)
      t.equal(renderParts(problem.template.parts, { ...base, [claim]: 'p1' }), renderParts(problem.template.parts, { ...base, [claim]: 'p2' }), 'two scopes share a locator')
      break
    }
    case 'ambiguous': {
      const { template, a, b, locator } = problem
      t.ok(validIdentity(a) && validIdentity(b), 'both identities are valid ids')
      t.ok(claimsOf(template.parts).some(c => a[c] !== b[c]), 'they differ in a claim the template uses')
      t.equal(renderParts(template.parts, a), locator)
      t.ok(same(renderParts(template.parts, a), renderParts(template.parts, b)), 'they render the same locator')
      break
    }
    case 'overlap': {
      const [A, B] = problem.templates
      t.ok(validIdentity(problem.a) && validIdentity(problem.b), 'both identities are valid ids')
      t.equal(renderParts(A.parts, problem.a), problem.locator)
      t.ok(same(renderParts(A.parts, problem.a), renderParts(B.parts, problem.b)), 'the two layers render the same locator')
      break
    }
    case 'unproven':
      t.ok(problem.why.length > 0)
      break
  }
}

const kinds = (problems: IsolationProblem[]): string[] => problems.map(p => p.kind)

// ---- timing (first, so that the first call is the process's first) -------------------------

t.test('speed: three default layers (maxLength-128 forms) prove in well under 500 ms', async t => {
  const started = performance.now()
  t.same(proveIsolation(defaults()), [])
  const first = performance.now() - started
  const again = performance.now()
  for (let k = 0; k < 10; k++) proveIsolation(defaults())
  const warm = (performance.now() - again) / 10
  const six = [...defaults(), layer('type', 'types/{nfObjectType}'), layer('byType', 'northflank/{projectId}/_t/{nfObjectType}'), layer('flat', 'f:{projectId}:{nfObjectType}:{nfObjectId}')]
  const sixStarted = performance.now()
  t.same(proveIsolation(six, { caseInsensitive: false }), [])
  const sixMs = performance.now() - sixStarted
  t.comment(`default layout: ${first.toFixed(1)} ms first call in this process, ${warm.toFixed(1)} ms warm; six layers ${sixMs.toFixed(1)} ms`)
  t.ok(first < 500, `default layout in ${first.toFixed(1)} ms`)
  t.ok(sixMs < 500, `six layers in ${sixMs.toFixed(1)} ms`)
})

// ---- the layouts that must pass -------------------------------------------------------------

t.test('the default layout is accepted (with and without a leading "/")', async t => {
  t.same(proveIsolation(defaults()), [])
  t.same(proveIsolation(defaults('/')), [])
  t.same(proveIsolation([...defaults(), layer('type', 'northflank/{projectId}/_types/{nfObjectType}')]), [], 'an extra layer under "_" cannot be an object')
})

// ---- reproduction 1: layers that can name each other's locators ------------------------------

t.test('cross-layer read: type "nf/{nfObjectType}" beside project "nf/{projectId}" is refused with a real pair', async t => {
  const type = layer('type', 'nf/{nfObjectType}')
  const project = layer('project', 'nf/{projectId}')
  const problems = proveIsolation([type, project])
  t.same(kinds(problems), ['overlap'])
  const p = problems[0] as Extract<IsolationProblem, { kind: 'overlap' }>
  confirm(t, p)
  t.equal(renderParts(type.parts, p.a), renderParts(project.parts, p.b))
  t.equal(formatIsolationProblem(p),
    'backends[0].locators.type ("nf/{nfObjectType}") and backends[0].locators.project ("nf/{projectId}") can both render "nf/a": ' +
    'layer type for {projectId: x, nfObjectId: x, nfObjectType: a}, layer project for {projectId: a, nfObjectId: x, nfObjectType: x}')
})

t.test('cross-layer read: a project named "global" cannot read global "northflank/global"', async t => {
  const problems = proveIsolation([layer('global', 'northflank/global'), layer('project', 'northflank/{projectId}')])
  t.same(kinds(problems), ['overlap'])
  const p = problems[0] as Extract<IsolationProblem, { kind: 'overlap' }>
  confirm(t, p)
  t.equal(p.b.projectId, 'global')
  t.equal(p.locator, 'northflank/global')
  t.same(proveIsolation([layer('global', 'northflank/_global'), layer('project', 'northflank/{projectId}')]), [], '"_global" is no id')
})

t.test('cross-layer read: two layers with one literal locator share it', async t => {
  const problems = proveIsolation([layer('global', 'shared'), layer('extra', 'shared')])
  t.same(kinds(problems), ['overlap'])
  confirm(t, problems[0] as IsolationProblem)
})

// ---- reproduction 2: a layer that forgets its scope ------------------------------------------

t.test('cross-project read: object "apps/{nfObjectId}" lacks {projectId}', async t => {
  const problems = proveIsolation([layer('object', 'apps/{nfObjectId}')])
  t.same(problems.map(p => p.kind === 'missing-scope' ? p.missing : p.kind), [['projectId']])
  confirm(t, problems[0] as IsolationProblem)
  t.equal(formatIsolationProblem(problems[0] as IsolationProblem),
    'backends[0].locators.object ("apps/{nfObjectId}") lacks {projectId}: layer object varies by {projectId}, {nfObjectId}, so projects p1 and p2 would share "apps/x"')
  t.same(proveIsolation([layer('project', 'p/{nfObjectType}')]).map(p => p.kind === 'missing-scope' ? p.missing : p.kind), [['projectId']])
  t.same(proveIsolation([layer('object', 'o/{projectId}')]).map(p => p.kind === 'missing-scope' ? p.missing : p.kind), [['nfObjectId']])
  t.same(proveIsolation([layer('extra', 'e/{nfObjectType}')]), [], 'an extra layer is scoped by the claims it uses')
  t.same(proveIsolation([layer('constructor', 'c')]), [], 'layer names are not looked up on the prototype')
})

// ---- within a layer: separators that ids may contain -----------------------------------------

t.test('cross-tenant read within a layer: placeholders joined by id characters are ambiguous', async t => {
  for (const text of ['teams/{projectId}-{nfObjectId}', '{projectId}{nfObjectId}', '{projectId}.{nfObjectId}', 'a/{projectId}_{nfObjectId}', '{projectId}-.{nfObjectId}', 'x{projectId}0{nfObjectType}']) {
    const problems = proveIsolation([layer('extra', text)])
    t.same(kinds(problems), ['ambiguous'], text)
    confirm(t, problems[0] as IsolationProblem)
  }
  const [teams] = proveIsolation([layer('project', 'teams/{projectId}-{nfObjectId}')]) as [Extract<IsolationProblem, { kind: 'ambiguous' }>]
  t.equal(teams.locator, 'teams/a-a-a', 'a-a + a vs a + a-a')
  t.same([teams.a.projectId, teams.a.nfObjectId, teams.b.projectId, teams.b.nfObjectId], ['a-a', 'a', 'a', 'a-a'])
  t.match(formatIsolationProblem(teams), /^backends\[0\]\.locators\.project \("teams\/\{projectId\}-\{nfObjectId\}"\) renders "teams\/a-a-a" for two identities/)
})

t.test('separators no id can hold keep a layer injective', async t => {
  for (const text of ['t/{projectId}:{nfObjectId}', '.{projectId}', '{projectId}.', '{projectId}/{nfObjectType}/{nfObjectId}', '{projectId}..{nfObjectId}', '_{projectId}', 'p{projectId}', 'only-literal']) {
    t.same(proveIsolation([layer('extra', text)]), [], text)
  }
})

// ---- ignoring case ---------------------------------------------------------------------------

/** Lower-case only, injective: "_" is written "__", an upper-case letter "_" + its lower case. */
const LOWER: IdForm = {
  name: 'lower',
  escape: id => id.replace(/[_A-Z]/g, c => c === '_' ? '__' : `_${c.toLowerCase()}`),
  language: {
    first: 'abcdefghijklmnopqrstuvwxyz0123456789_',
    middle: 'abcdefghijklmnopqrstuvwxyz0123456789._-',
    last: 'abcdefghijklmnopqrstuvwxyz0123456789._-',
    minLength: 1,
    maxLength: 256,
    forbiddenPairs: ['..']
  },
  unescape: value => {
    const id = value.replace(/_(.)/g, (_, c: string) => c === '_' ? '_' : c.toUpperCase())
    return isValidId(id) && LOWER.escape(id) === value ? id : undefined
  }
}

t.test('case-folding store: ids differing only in case would share a locator', async t => {
  const options = { caseInsensitive: true }
  const problems = proveIsolation([layer('project', 'p/{projectId}')], options)
  t.same(kinds(problems), ['ambiguous'])
  const p = problems[0] as Extract<IsolationProblem, { kind: 'ambiguous' }>
  confirm(t, p, options)
  t.not(p.a.projectId, p.b.projectId)
  t.equal(fold(p.a.projectId), fold(p.b.projectId))
  t.match(formatIsolationProblem(p), /equal ignoring case/)
  t.same(proveIsolation([layer('project', 'p/{projectId}')]), [], 'a case-sensitive store keeps them apart')
})

t.test('case-folding store: a lower-case form is accepted, but its layers must not meet ignoring case', async t => {
  const options = { caseInsensitive: true }
  t.same(proveIsolation([layer('global', 'nf:global', LOWER), layer('project', 'nf/{projectId}:shared', LOWER), layer('object', 'nf/{projectId}/{nfObjectId}', LOWER)], options), [])
  const problems = proveIsolation([layer('global', 'NorthFlank/Global', LOWER), layer('project', 'northflank/{projectId}', LOWER)], options)
  t.same(kinds(problems), ['overlap'])
  confirm(t, problems[0] as IsolationProblem, options)
  t.equal((problems[0] as Extract<IsolationProblem, { kind: 'overlap' }>).b.projectId, 'global')
  t.same(proveIsolation([layer('global', 'NorthFlank/Global', LOWER), layer('project', 'northflank/{projectId}', LOWER)]), [], 'case-sensitively they never meet')
})

t.test('cross-layer read through an escape: a form writing "S" as "_s" lets object "Shared" read project "_shared"', async t => {
  const lower = ['global', 'project', 'object'].map(name => layer(name, DEFAULT_TEMPLATES[name] as string, LOWER))
  const problems = proveIsolation(lower)
  t.same(kinds(problems), ['overlap'])
  const p = problems[0] as Extract<IsolationProblem, { kind: 'overlap' }>
  confirm(t, p)
  t.same([p.templates[0].layer, p.templates[1].layer, p.b.nfObjectId], ['project', 'object', 'Shared'])
  t.equal(p.locator, `northflank/${p.a.projectId}/_shared`)
})

// ---- repeated claims and partial unescapes: sound acceptance, conservative refusal -----------

t.test('repeated claim: "{projectId}/{projectId}" is accepted, and no pool pair collides', async t => {
  const template = layer('project', '{projectId}/{projectId}')
  t.same(proveIsolation([template]), [])
  const seen = new Map<string, string>()
  for (const id of POOL) {
    const locator = renderParts(template.parts, { ...base, projectId: id })
    t.notOk(seen.has(locator) && seen.get(locator) !== id)
    seen.set(locator, id)
  }
})

t.test('repeated claim: unproven when no witness is realizable, ambiguous or overlap when a real pair exists', async t => {
  const twice = layer('extra', '{projectId}-{projectId}')
  const problems = proveIsolation([twice])
  t.same(kinds(problems), ['unproven'], 'p-p is injective, but the automaton cannot tell')
  const p = problems[0] as Extract<IsolationProblem, { kind: 'unproven' }>
  t.match(p.why, /\{projectId\} would have to be both/)
  t.match(formatIsolationProblem(p), /^backends\[0\]\.locators\.extra \("\{projectId\}-\{projectId\}"\) could not be proven/)
  const around = proveIsolation([layer('extra', '{projectId}{nfObjectId}{projectId}')])
  t.same(kinds(around), ['ambiguous'], 'p o p: the shortest witnesses disagree on {projectId}, a later one (aa a aa = a aaa a) is real')
  confirm(t, around[0] as IsolationProblem)
  const beside = proveIsolation([twice, layer('other', '{nfObjectId}')])
  const overlap = beside.find(q => q.kind === 'overlap')
  t.ok(overlap, 'p-p is an nfObjectId')
  if (overlap !== undefined) confirm(t, overlap)
})

const hex = (id: string, length: number): string => createHash('sha256').update(id).digest('hex').slice(0, length)

/** Short ids as they are, long ones hashed: unescape is undefined on hashes. */
const SHORT_OR_HASH: IdForm = {
  name: 'short-or-hash',
  escape: id => id.length <= 10 ? id : `h${hex(id, 20)}`,
  language: { ...ID_LANGUAGE, maxLength: 21 },
  unescape: value => value.length <= 10 && isValidId(value) ? value : undefined
}
const HEX_ROUGH: IdForm = {
  name: 'sha256-16',
  escape: id => hex(id, 16),
  language: { first: '0123456789abcdef', middle: '0123456789abcdef', last: '0123456789abcdef', minLength: 1, maxLength: 16 },
  unescape: () => undefined
}
const HEX_EXACT: IdForm = { ...HEX_ROUGH, language: { ...HEX_ROUGH.language, minLength: 16 } }

t.test('partial unescape: refused with a verified pair where one exists, else unproven; exact lengths are accepted', async t => {
  const hashed = proveIsolation([layer('extra', '{projectId}-{nfObjectId}', SHORT_OR_HASH)])
  t.same(kinds(hashed), ['ambiguous'], 'short ids collide as they do in plain form')
  confirm(t, hashed[0] as IsolationProblem)
  const rough = proveIsolation([layer('extra', '{projectId}{nfObjectId}', HEX_ROUGH)])
  t.same(kinds(rough), ['unproven'], 'hashes of unknown length might run together; no id can be shown')
  t.match((rough[0] as Extract<IsolationProblem, { kind: 'unproven' }>).why, /gives no id/)
  t.same(proveIsolation([layer('extra', '{projectId}{nfObjectId}', HEX_EXACT)]), [], 'fixed-length hashes cannot run together')
  t.same(proveIsolation([layer('extra', '{projectId}:{nfObjectId}', SHORT_OR_HASH)]), [])
})

// ---- properties: against brute force over a pool of ids --------------------------------------

const LITERALS = ['/', '-', '.', '_', ':', 'a', 'b', 'x', '0']
const LAYERS = ['global', 'project', 'object', 'e1', 'e2']

/** Every identity over the pool for the claims a template uses; the others "x". */
function identities (claims: readonly Claim[], pool: readonly string[]): Identity[] {
  let out: Identity[] = [{ ...base }]
  for (const claim of claims) out = out.flatMap(i => pool.map(id => ({ ...i, [claim]: id })))
  return out
}

interface Brute { missing: Set<string>, within: Set<string>, across: Set<string> }

function bruteForce (templates: readonly LayerTemplate[], pool: readonly string[], caseInsensitive = false): Brute {
  const norm = caseInsensitive ? fold : (s: string) => s
  const missing = new Set<string>()
  const within = new Set<string>()
  const across = new Set<string>()
  const rendered = templates.map(template => {
    const claims = claimsOf(template.parts)
    if (Object.hasOwn(LAYER_SCOPES, template.layer) && (LAYER_SCOPES[template.layer] ?? []).some(c => !claims.includes(c))) missing.add(template.layer)
    const byLocator = new Map<string, string>()
    for (const identity of identities(claims, pool)) {
      const locator = norm(renderParts(template.parts, identity))
      const who = claims.map(c => identity[c]).join('|')
      const before = byLocator.get(locator)
      if (before !== undefined && before !== who) within.add(template.layer)
      byLocator.set(locator, who)
    }
    return new Set(byLocator.keys())
  })
  rendered.forEach((mine, i) => rendered.forEach((theirs, j) => {
    if (j > i && [...mine].some(l => theirs.has(l))) across.add(`${templates[i]?.layer}+${templates[j]?.layer}`)
  }))
  return { missing, within, across }
}

function templateArb (pieces: readonly string[], repeats = false): fc.Arbitrary<string> {
  const literal = fc.array(fc.constantFrom(...pieces), { maxLength: 3 }).map(a => a.join(''))
  const claimsArb = repeats ? fc.array(fc.constantFrom(...CLAIMS), { maxLength: 3 }) : fc.shuffledSubarray([...CLAIMS])
  return claimsArb.chain(claims =>
    fc.array(literal, { minLength: claims.length + 1, maxLength: claims.length + 1 })
      .map(lits => lits.map((lit, k) => lit + (k < claims.length ? `{${claims[k]}}` : '')).join('')))
}

function configArb (pieces: readonly string[], forms: readonly IdForm[] = [PLAIN_ID], repeats = false): fc.Arbitrary<LayerTemplate[]> {
  return fc.uniqueArray(fc.constantFrom(...LAYERS), { minLength: 1, maxLength: 3 }).chain(names =>
    fc.tuple(...names.map(() => fc.tuple(templateArb(pieces, repeats), fc.constantFrom(...forms))))
      .map(specs => names.map((name, k) => layer(name, specs[k]?.[0] as string, specs[k]?.[1]))))
}

/** Separators ids cannot hold appear more often here, so that accepted configs are common. */
const SAFE_PIECES = [...LITERALS, '/', '/', ':', ':', '/x/', '/a/', ':b']
const describe = (templates: readonly LayerTemplate[]): string => templates.map(t => `${t.layer}=${t.text}`).join(', ')

const RUNS = 300

t.test('property: every accepted config is injective (no pool pair within or across layers collides)', async t => {
  let accepted = 0
  fc.assert(fc.property(configArb(SAFE_PIECES), templates => {
    if (proveIsolation(templates).length > 0) return true
    accepted++
    const brute = bruteForce(templates, POOL)
    if (brute.missing.size + brute.within.size + brute.across.size > 0) throw new Error(`accepted ${describe(templates)} but ${JSON.stringify([...brute.missing, ...brute.within, ...brute.across])}`)
    return true
  }), { numRuns: RUNS })
  t.comment(`${accepted} of ${RUNS} random configs accepted and brute-forced`)
  t.ok(accepted >= 40, 'enough accepted configs to mean something')
})

t.test('property: every refusal names a real collision (valid ids, equal renderings), never "unproven" for plain ids', async t => {
  let refused = 0
  fc.assert(fc.property(configArb(LITERALS), templates => {
    const problems = proveIsolation(templates)
    if (problems.length > 0) refused++
    for (const problem of problems) {
      if (problem.kind === 'unproven') throw new Error(`unproven for plain ids: ${describe(templates)}: ${formatIsolationProblem(problem)}`)
      let ok = true
      const fail = (why: string): void => { ok = false; t.fail(`${describe(templates)}: ${why}`) }
      if (problem.kind === 'missing-scope') {
        const claim = problem.missing[0] as Claim
        const render = (id: string): string => renderParts(problem.template.parts, { ...base, [claim]: id })
        if (claimsOf(problem.template.parts).includes(claim) || render('p1') !== render('p2')) fail('missing scope not shown')
      } else if (problem.kind === 'ambiguous') {
        const { template, a, b, locator } = problem
        if (!validIdentity(a) || !validIdentity(b)) fail('invalid id')
        if (!claimsOf(template.parts).some(c => a[c] !== b[c])) fail('identities do not differ in a used claim')
        if (renderParts(template.parts, a) !== locator || renderParts(template.parts, b) !== locator) fail('renderings differ')
      } else {
        const [A, B] = problem.templates
        if (!validIdentity(problem.a) || !validIdentity(problem.b)) fail('invalid id')
        if (renderParts(A.parts, problem.a) !== problem.locator || renderParts(B.parts, problem.b) !== problem.locator) fail('renderings differ')
      }
      if (!ok) return false
      formatIsolationProblem(problem)
    }
    return true
  }), { numRuns: RUNS })
  t.comment(`${refused} of ${RUNS} random configs refused, each refusal confirmed by renderParts`)
  t.ok(refused >= 100)
})

t.test('property: whenever brute force finds a collision, the proof refuses it, as the same kind', async t => {
  let collisions = 0
  fc.assert(fc.property(configArb(LITERALS), templates => {
    const problems = proveIsolation(templates)
    const brute = bruteForce(templates, POOL)
    for (const name of brute.missing) {
      collisions++
      if (!problems.some(p => p.kind === 'missing-scope' && p.template.layer === name)) throw new Error(`missing scope of ${name} not found: ${describe(templates)}`)
    }
    for (const name of brute.within) {
      collisions++
      if (!problems.some(p => p.kind === 'ambiguous' && p.template.layer === name)) throw new Error(`ambiguity of ${name} not found: ${describe(templates)}`)
    }
    for (const pair of brute.across) {
      collisions++
      if (!problems.some(p => p.kind === 'overlap' && `${p.templates[0].layer}+${p.templates[1].layer}` === pair)) throw new Error(`overlap ${pair} not found: ${describe(templates)}`)
    }
    return true
  }), { numRuns: 250 })
  t.comment(`${collisions} brute-force collisions, all refused`)
})

t.test('property (ignoring case): the proof agrees with brute force over mixed-case ids', async t => {
  const pool = ['a', 'A', 'b', 'aB', 'Ab', 'x', 'X0', 'a-B']
  const pieces = [...LITERALS, 'A', 'B', '/', ':']
  const options = { caseInsensitive: true }
  fc.assert(fc.property(configArb(pieces), templates => {
    const problems = proveIsolation(templates, options)
    const brute = bruteForce(templates, pool, true)
    for (const problem of problems) {
      if (problem.kind === 'unproven') return false
      if (problem.kind === 'ambiguous' || problem.kind === 'overlap') {
        const [A, B] = problem.kind === 'ambiguous' ? [problem.template, problem.template] : problem.templates
        if (!validIdentity(problem.a) || !validIdentity(problem.b)) return false
        if (fold(renderParts(A.parts, problem.a)) !== fold(renderParts(B.parts, problem.b))) return false
      }
    }
    for (const name of brute.within) if (!problems.some(p => p.kind === 'ambiguous' && p.template.layer === name)) return false
    for (const pair of brute.across) if (!problems.some(p => p.kind === 'overlap' && `${p.templates[0].layer}+${p.templates[1].layer}` === pair)) return false
    if (problems.length === 0 && brute.missing.size > 0) return false
    return true
  }), { numRuns: 150 })
  t.pass('150 random configs agree with brute force ignoring case')
})

t.test('property: with repeated claims and hashed or escaped forms, acceptance stays sound and refusals stay real', async t => {
  const pool = [...POOL, 'Ab', 'a-b-c-d-e-f', 'abcdefghijkl', 'b.c.d.e.f.g.h']
  const forms = [PLAIN_ID, SHORT_OR_HASH, HEX_ROUGH, HEX_EXACT, LOWER]
  const counts = { accepted: 0, refused: 0, unproven: 0 }
  fc.assert(fc.property(configArb(SAFE_PIECES, forms, true), templates => {
    const problems = proveIsolation(templates)
    if (problems.length === 0) {
      counts.accepted++
      const brute = bruteForce(templates, pool)
      return brute.missing.size + brute.within.size + brute.across.size === 0
    }
    counts.refused++
    for (const problem of problems) {
      if (problem.kind === 'unproven') counts.unproven++
      if (problem.kind !== 'ambiguous' && problem.kind !== 'overlap') continue
      const [A, B] = problem.kind === 'ambiguous' ? [problem.template, problem.template] : problem.templates
      if (!validIdentity(problem.a) || !validIdentity(problem.b)) return false
      if (renderParts(A.parts, problem.a) !== renderParts(B.parts, problem.b)) return false
      if (problem.kind === 'ambiguous' && !claimsOf(A.parts).some(c => problem.a[c] !== problem.b[c])) return false
    }
    return true
  }), { numRuns: 200 })
  t.comment(`${counts.accepted + counts.refused} configs: ${counts.accepted} accepted and brute-forced, ${counts.refused} refused (${counts.unproven} unproven problems)`)
  t.ok(counts.accepted >= 20)
})
