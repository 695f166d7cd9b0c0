// The store test kit: what every store's tests share besides the contract (contract.ts).
import { loadConfig } from '../../src/config/load.js'
import type { BackendBaseConfig, BackendContext, BackendDefinition } from '../../src/store/port.js'
import { compileLocators } from '../../src/store/templates.js'
import { TEST_SECRET } from '../helpers/service.js'

/**
 * The context the service hands a store's create(): its templates compiled and proven exactly
 * as at start-up. For tests that build a backend directly (to pass a seam).
 */
export function storeContext (definition: BackendDefinition<any>, config: BackendBaseConfig, base: Omit<BackendContext, 'templates' | 'locate'>): BackendContext {
  const compiled = compileLocators(definition, config, 0, base.layers)
  if ('problems' in compiled) throw new Error(compiled.problems.join('\n'))
  return { ...base, templates: compiled.templates, locate: compiled.locate }
}

/** One backend's config as the service builds it: through the config loader, schema defaults applied. */
export function backendConfig (backend: Record<string, unknown>, options: { layers?: readonly string[], baseDir?: string } = {}): any {
  return loadConfig({
    document: { auth: { secrets: [TEST_SECRET] }, ...(options.layers === undefined ? {} : { layers: options.layers }), backends: [backend] },
    env: {},
    ...(options.baseDir === undefined ? {} : { baseDir: options.baseDir })
  }).config.backends[0]
}
