// The store test kit: what every store's tests share besides the contract (contract.ts).
import type { BackendBaseConfig, BackendContext, BackendDefinition } from '../../src/store/port.js'
import { compileLocators } from '../../src/store/templates.js'

/**
 * The context the service hands a store's create(): its templates compiled and proven exactly
 * as at start-up. For tests that build a backend directly (to pass a seam).
 */
export function storeContext (definition: BackendDefinition<any>, config: BackendBaseConfig, base: Omit<BackendContext, 'templates' | 'locate'>): BackendContext {
  const compiled = compileLocators(definition, config, 0, base.layers)
  if ('problems' in compiled) throw new Error(compiled.problems.join('\n'))
  return { ...base, templates: compiled.templates, locate: compiled.locate }
}
