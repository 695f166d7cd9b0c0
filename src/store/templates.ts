// Turns a backend's config into its proven layer templates: the store's defaults filled with
// `locators` from config, each template checked by the store's own syntax rule, parsed with the
// store's escape, and the whole set proven isolated (src/core/isolation.ts). One place for what
// every template-based store used to repeat.
import { proveIsolation, formatIsolationProblem } from '../core/isolation.js'
import { locatorOf, parseTemplate, PLAIN_ID, unknownPlaceholders, type LayerTemplate, type Locate } from '../core/locator.js'
import type { BackendBaseConfig, BackendDefinition, KeyProblem } from './port.js'

export interface CompiledLocators {
  templates: LayerTemplate[]
  locate: Locate
}

/** `backends[0].locators.object` style, as users write it. */
export function backendPath (index: number, key: string): string {
  return `backends[${index}].${key}`
}

// The loader proves a config's templates and createBackends() builds from the same config
// objects: remember the result instead of proving twice at start-up.
const compiledFor = new WeakMap<BackendBaseConfig, { key: string, result: CompiledLocators | { problems: string[] } }>()

/**
 * The layer templates of one backend, or every problem with them, each naming its config path.
 * Only configured layers count: a default for a layer the config does not use is never read.
 */
export function compileLocators (definition: BackendDefinition<any>, config: BackendBaseConfig, index: number, layers: readonly string[]): CompiledLocators | { problems: string[] } {
  const key = `${definition.type}\n${index}\n${layers.join(',')}\n${JSON.stringify(config)}`
  const known = compiledFor.get(config)
  if (known !== undefined && known.key === key) return known.result
  const result = compile(definition, config, index, layers)
  compiledFor.set(config, { key, result })
  return result
}

/** Problems with the `locators` keys themselves: a layer that does not exist, a placeholder that is not a claim. */
export function locatorKeyProblems (config: BackendBaseConfig, index: number, layers: readonly string[]): string[] {
  const problems: string[] = []
  for (const [layer, template] of Object.entries(config.locators ?? {})) {
    const at = `${backendPath(index, `locators.${layer}`)}: `
    if (!layers.includes(layer)) problems.push(`${at}no such layer (layers: ${layers.join(', ')})`)
    const unknown = unknownPlaceholders(template)
    if (unknown.length > 0) problems.push(`${at}unknown placeholder {${unknown.join('}, {')}} (use {projectId}, {nfObjectId}, {nfObjectType})`)
  }
  return problems
}

function compile (definition: BackendDefinition<any>, config: BackendBaseConfig, index: number, layers: readonly string[]): CompiledLocators | { problems: string[] } {
  const scheme = definition.locators
  const at = (p: KeyProblem): string => `${backendPath(index, p.key)}: ${p.problem}`
  const configured = config.locators ?? {}
  const problems = locatorKeyProblems(config, index, layers)
  if (problems.length > 0) return { problems }

  let templates: LayerTemplate[]
  if (scheme.compile !== undefined) {
    const compiled = scheme.compile(config, layers)
    if ('problems' in compiled) return { problems: compiled.problems.map(at) }
    templates = compiled.templates.map(t => ({ ...t, paths: t.paths.map(p => backendPath(index, p)) }))
  } else {
    templates = []
    for (const layer of layers) {
      const text = configured[layer] ?? scheme.defaults[layer]
      if (text === undefined) continue
      const key = `locators.${layer}`
      const problem = scheme.check?.(text)
      if (problem !== undefined) {
        problems.push(at({ key, problem: configured[layer] === undefined ? `the default "${text}" ${problem}` : problem }))
        continue
      }
      const path = configured[layer] === undefined ? `${backendPath(index, key)} (default)` : backendPath(index, key)
      templates.push({ layer, text, paths: [path], parts: parseTemplate(text, scheme.form ?? PLAIN_ID) })
    }
    if (problems.length > 0) return { problems }
  }

  const isolation = proveIsolation(templates, { caseInsensitive: scheme.caseInsensitive === true })
  if (isolation.length > 0) return { problems: isolation.map(p => `backends[${index}]: tenant isolation: ${formatIsolationProblem(p)}`) }
  return { templates, locate: locatorOf(templates) }
}

/** A template must be a relative path of non-empty segments without . or .. (file, Vault KV). */
export function relativePathProblem (template: string): string | undefined {
  if (template.startsWith('/') || template.endsWith('/')) return 'must be a relative path (no leading or trailing "/")'
  return segmentProblem(template)
}

/** No empty, . or .. segment between "/" (ids themselves can never hold "/" or ".."). */
export function segmentProblem (path: string): string | undefined {
  return path.split('/').some(s => s === '' || s === '.' || s === '..') ? 'must not contain empty, . or .. segments' : undefined
}

/** The template's fixed text must stay inside the store's alphabet (ids always do where the store takes them). */
export function alphabetProblem (template: string, alphabet: RegExp): string | undefined {
  const literal = template.replace(/\{(projectId|nfObjectId|nfObjectType)\}/g, 'x')
  return alphabet.test(literal) ? undefined : `"${template}" has characters outside ${alphabet.source}`
}
