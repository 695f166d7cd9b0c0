// Where a layer lives in the cluster: a namespace template plus a label selector template per
// layer, checked once at start-up and parsed into one locator template "<namespace>/<selector>"
// whose placeholders carry the Kubernetes escapes (labels.ts), so the isolation proof sees exactly
// what locate() renders.
import { isValidId } from '../../src/core/identity.js'
import { parseTemplate, type IdForm, type LayerTemplate } from '../../src/core/locator.js'
import type { KeyProblem } from '../../src/store/port.js'
import {
  DNS_LABEL, LABEL_VALUE, NAMESPACE_ID_MIN_ROOM, escapeLabelValue, escapeNamespaceId, parseSelector
} from './labels.js'

export const LABEL_PREFIX = 'nf-secret-source/'
export const DEFAULT_NAMESPACE = 'northflank'
export const DEFAULT_MANAGED_LABEL = `${LABEL_PREFIX}managed=true`

/** The PRODUCT.md default layers as label selectors; the project layer excludes its objects' Secrets. */
export const DEFAULT_SELECTORS: Readonly<Record<string, string>> = {
  global: `${LABEL_PREFIX}scope=global`,
  project: `${LABEL_PREFIX}project={projectId},!${LABEL_PREFIX}object`,
  object: `${LABEL_PREFIX}project={projectId},${LABEL_PREFIX}object={nfObjectId}`
}

const PLACEHOLDER = /\{(projectId|nfObjectId|nfObjectType)\}/g
/** Stands for a placeholder while a template is checked: a valid label value and DNS label. */
const SAMPLE = 'zz0sample0zz'

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'
const ALNUM = `${LOWER_ALNUM}ABCDEFGHIJKLMNOPQRSTUVWXYZ`

/** Ids as label values: unchanged when valid, else "<prefix>..<hash>" (labels.ts); only unchanged ones can be read back. */
export const LABEL_VALUE_FORM: IdForm = {
  name: 'label value',
  escape: escapeLabelValue,
  language: { first: ALNUM, middle: `${ALNUM}._-`, last: ALNUM, minLength: 1, maxLength: 63 },
  unescape: value => !value.includes('..') && LABEL_VALUE.test(value) && isValidId(value) ? value : undefined
}

/** Ids inside a namespace name with `room` characters left by the template's fixed text. */
export function namespaceForm (room: number): IdForm {
  return {
    name: `namespace id (${room})`,
    escape: id => escapeNamespaceId(id, room),
    language: { first: LOWER_ALNUM, middle: `${LOWER_ALNUM}-`, last: LOWER_ALNUM, minLength: 1, maxLength: room },
    unescape: value => value.length <= room && /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(value) ? value : undefined
  }
}

export interface Layout {
  templates: LayerTemplate[]
  /** Namespaces without placeholders, per layer: the informer can watch just these. */
  fixedNamespaces: ReadonlySet<string>
  /** True when some layer's namespace depends on the identity. */
  templatedNamespaces: boolean
}

function placeholderCount (template: string): number {
  return [...template.matchAll(PLACEHOLDER)].length
}

/** A namespace template: one placeholder at most (two ids side by side could collide), DNS rules. */
function namespaceProblem (template: string): string | undefined {
  const count = placeholderCount(template)
  if (count > 1) return 'may hold at most one placeholder'
  const fixed = template.replace(PLACEHOLDER, '')
  if (!/^[a-z0-9-]*$/.test(fixed)) return 'may only hold lower-case letters, digits and "-" besides its placeholder'
  if (count === 1 && 63 - fixed.length < NAMESPACE_ID_MIN_ROOM) return `leaves less than ${NAMESPACE_ID_MIN_ROOM} characters for the id`
  for (const sample of ['a', 'A.long_id-']) {
    const rendered = template.replace(PLACEHOLDER, escapeNamespaceId(sample, 63 - fixed.length))
    if (!DNS_LABEL.test(rendered)) return `does not render a valid namespace name (got "${rendered}")`
  }
  return undefined
}

/** A selector template: a valid selector whose placeholders are whole label values. */
function selectorProblem (template: string): string | undefined {
  if (template.includes(SAMPLE)) return 'holds a reserved word'
  const parsed = parseSelector(template.replace(PLACEHOLDER, SAMPLE))
  if (typeof parsed === 'string') return parsed
  const wholeValues = parsed.flatMap(r => ('values' in r ? r.values : [])).filter(v => v === SAMPLE).length
  if (wholeValues !== placeholderCount(template)) return 'may use placeholders only as whole label values (key={projectId})'
  return undefined
}

export interface LayoutConfig {
  namespace: string
  namespaces?: Record<string, string>
  locators?: Record<string, string>
  managedLabel: string
}

/**
 * The layer templates from the config, or every problem naming its key. Only the configured
 * `layers` are kept, so the informer watches no namespace a layer cannot reach.
 */
export function compileLayout (config: LayoutConfig, layers: readonly string[]): Layout | { problems: KeyProblem[] } {
  const problems: KeyProblem[] = []
  const fail = (key: string, problem: string): void => { problems.push({ key, problem }) }
  const managedRequirements = parseSelector(config.managedLabel)
  if (typeof managedRequirements === 'string') fail('managedLabel', managedRequirements)
  if (config.managedLabel.includes('{')) fail('managedLabel', 'cannot hold placeholders')

  const selectors: Record<string, string> = Object.fromEntries(
    Object.entries({ ...DEFAULT_SELECTORS, ...config.locators }).filter(([layer]) => layers.includes(layer)))
  const namespaces: Record<string, string> = {}
  for (const [layer, template] of Object.entries(selectors)) {
    const problem = selectorProblem(template)
    if (problem !== undefined) fail(`locators.${layer}`, problem)
    namespaces[layer] = config.namespaces?.[layer] ?? config.namespace
  }
  for (const layer of Object.keys(config.namespaces ?? {})) {
    if (!layers.includes(layer)) fail(`namespaces.${layer}`, `is not a layer (layers: ${layers.join(', ')})`)
    else if (selectors[layer] === undefined) fail(`namespaces.${layer}`, `has no label selector (set locators.${layer})`)
  }
  for (const [layer, template] of Object.entries(namespaces)) {
    const problem = namespaceProblem(template)
    if (problem !== undefined) fail(config.namespaces?.[layer] === undefined ? 'namespace' : `namespaces.${layer}`, `"${template}" ${problem}`)
  }
  if (problems.length > 0) return { problems }

  const templates = Object.entries(selectors).map(([layer, selector]): LayerTemplate => {
    const namespace = namespaces[layer] as string
    const room = 63 - namespace.replace(PLACEHOLDER, '').length
    return {
      layer,
      text: `${namespace}/${selector}`,
      paths: [config.namespaces?.[layer] === undefined ? 'namespace' : `namespaces.${layer}`, config.locators?.[layer] === undefined ? `locators.${layer} (default)` : `locators.${layer}`],
      parts: [...parseTemplate(namespace, namespaceForm(room)), '/', ...parseTemplate(selector, LABEL_VALUE_FORM)]
    }
  })
  return {
    templates,
    fixedNamespaces: new Set(Object.values(namespaces).filter(ns => placeholderCount(ns) === 0)),
    templatedNamespaces: Object.values(namespaces).some(ns => placeholderCount(ns) > 0)
  }
}
