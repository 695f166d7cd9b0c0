// Whether a store path can hold another identity's locator below one of this identity's: the
// question a store with folders answers before it reads a layer's whole subtree in one listing
// (SSM's recursive GetParametersByPath). The listing is filtered to the layer's own entries
// either way; the proof only decides whether it could page through other identities' entries,
// so that calls per read never grow with what other identities store.
import { proveIsolation } from './isolation.js'
import type { LayerTemplate, TemplatePart } from './locator.js'

/** The parts of `parts` before its `n`-th separator (n >= 1), or undefined when it has fewer. */
function beforeSeparator (parts: readonly TemplatePart[], separator: string, n: number): TemplatePart[] | undefined {
  const out: TemplatePart[] = []
  let seen = 0
  for (const part of parts) {
    if (typeof part !== 'string') {
      out.push(part)
      continue
    }
    for (let at = part.indexOf(separator); at >= 0; at = part.indexOf(separator, at + 1)) {
      if (++seen === n) {
        if (at > 0) out.push(part.slice(0, at))
        return out
      }
    }
    out.push(part)
  }
  return undefined
}

function separators (parts: readonly TemplatePart[], separator: string): number {
  return parts.reduce((n, p) => typeof p === 'string' ? n + p.split(separator).length - 1 : n, 0)
}

function placeholderMayHold (parts: readonly TemplatePart[], separator: string): boolean {
  return parts.some(p => typeof p !== 'string' && [p.form.language.first, p.form.language.middle, p.form.language.last].some(chars => chars.includes(separator)))
}

/**
 * True unless it is proven that no locator of any of `templates` (for any identity, `template`'s
 * own layer included) starts with a locator of `template` followed by `separator`. Every
 * placeholder must be unable to hold the separator (otherwise: true), so a locator has exactly as
 * many separators as its template's literal text; a locator of U can then start with one of T
 * plus a separator only if U's text up to its (s+1)-th separator, s being T's count, can render
 * what T renders, which the isolation proof decides (an overlap or an unproven pair: true).
 */
export function mayNestLocators (template: LayerTemplate, templates: readonly LayerTemplate[], separator: string, options: { caseInsensitive?: boolean } = {}): boolean {
  if (templates.some(t => placeholderMayHold(t.parts, separator)) || placeholderMayHold(template.parts, separator)) return true
  const depth = separators(template.parts, separator)
  // Layer names outside LAYER_SCOPES: only the pair's overlap is asked, not a layer's scope.
  const self: LayerTemplate = { ...template, layer: 'nested-locators:self' }
  for (const other of templates) {
    const head = beforeSeparator(other.parts, separator, depth + 1)
    if (head === undefined) continue
    const prefix: LayerTemplate = { ...other, layer: 'nested-locators:prefix', parts: head, text: `${other.text} (up to its separator ${depth + 1})` }
    const problems = proveIsolation([self, prefix], options)
    if (problems.some(p => p.kind === 'overlap' || (p.kind === 'unproven' && p.templates.length > 1))) return true
  }
  return false
}
