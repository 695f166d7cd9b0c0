// Locator templates: a layer becomes a store location through {projectId}, {nfObjectId}, {nfObjectType}.
import type { Identity } from './identity.js'

export const PLACEHOLDERS = ['projectId', 'nfObjectId', 'nfObjectType'] as const
const PLACEHOLDER = /\{([^{}]*)\}/g

export const DEFAULT_LAYERS = ['global', 'project', 'object'] as const

/** The PRODUCT.md defaults, before a store writes them in its own syntax. */
export const DEFAULT_TEMPLATES: Readonly<Record<string, string>> = {
  global: 'northflank/_global',
  project: 'northflank/{projectId}/_shared',
  object: 'northflank/{projectId}/{nfObjectId}'
}

/** Names of placeholders in a template that are not identity claims. */
export function unknownPlaceholders (template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)]
    .map(m => m[1] ?? '')
    .filter(name => !(PLACEHOLDERS as readonly string[]).includes(name))
}

/**
 * Two placeholders with only id characters between them ("{projectId}-{nfObjectId}") map two
 * identities to one locator (a-b/c and a/b-c): a tenant could read another's secrets. Returns
 * the first such pair. "/" or any other character an id cannot hold keeps them apart.
 */
export function ambiguousPlaceholders (template: string): [string, string] | undefined {
  const found = [...template.matchAll(PLACEHOLDER)]
  for (let i = 1; i < found.length; i++) {
    const before = found[i - 1] as RegExpExecArray
    const after = found[i] as RegExpExecArray
    const between = template.slice(before.index + before[0].length, after.index)
    if (/^[A-Za-z0-9._-]*$/.test(between)) return [before[1] ?? '', after[1] ?? '']
  }
  return undefined
}

/**
 * Fills a template. `escape` writes one id in the store's alphabet; it must be
 * injective, so that two identities never share a locator.
 */
export function renderTemplate (template: string, identity: Identity, escape: (id: string) => string = id => id): string {
  return template.replace(PLACEHOLDER, (_, name: string) => escape(identity[name as keyof Identity]))
}

/** The templates a backend uses: its defaults, overridden per layer by config. */
export function layerTemplates (configured: Record<string, string> | undefined, defaults: Readonly<Record<string, string>>): Record<string, string> {
  return { ...defaults, ...configured }
}

/** A backend's locate(): the layer's template filled for the identity, or undefined without one. */
export function templateLocator (templates: Readonly<Record<string, string>>, escape?: (id: string) => string): (layer: string, identity: Identity) => string | undefined {
  return (layer, identity) => {
    const template = templates[layer]
    return template === undefined ? undefined : renderTemplate(template, identity, escape)
  }
}
