// Builds the configured backends in config order (later backends win within a layer), each with
// its proven locate(). The list of store types is backends/registry.ts.
import { ConfigInvalid, DuplicateBackend, UnknownBackendType } from './errors.js'
import { BackendConfigError } from './store/errors.js'
import type { Backend, BackendBaseConfig, BackendContext, BackendDefinition } from './store/port.js'
import { backendPath, compileLocators } from './store/templates.js'

export type CreateContext = Omit<BackendContext, 'templates' | 'locate'>

export function definitionFor (type: string, index: number, definitions: readonly BackendDefinition<any>[]): BackendDefinition<any> {
  const definition = definitions.find(d => d.type === type)
  if (definition === undefined) throw new UnknownBackendType(index, type, definitions.map(d => d.type).join(', '))
  return definition
}

/** Refuses duplicate definition types and duplicate backend names at start-up. */
export function checkUnique (values: readonly string[], what: string): void {
  const seen = new Set<string>()
  values.forEach((value, index) => {
    if (seen.has(value)) throw new DuplicateBackend(index, what, value)
    seen.add(value)
  })
}

/** One backend from its definition: locators compiled and proven, then create(). Config must already be schema-valid. */
export async function buildBackend (definition: BackendDefinition<any>, config: BackendBaseConfig, context: CreateContext, index = 0): Promise<Backend> {
  const compiled = compileLocators(definition, config, index, context.layers)
  if ('problems' in compiled) throw new ConfigInvalid(compiled.problems.map(p => `  - ${p}`).join('\n'))
  try {
    return await definition.create(config, { ...context, templates: compiled.templates, locate: compiled.locate })
  } catch (err) {
    if (err instanceof BackendConfigError) throw new ConfigInvalid(`  - ${backendPath(index, err.key)}: ${err.problem}`)
    throw err
  }
}

export async function createBackends (configs: readonly BackendBaseConfig[], context: CreateContext, definitions: readonly BackendDefinition<any>[]): Promise<Backend[]> {
  checkUnique(configs.map(c => c.name), 'name')
  const created: Backend[] = []
  try {
    for (const [index, config] of configs.entries()) {
      const definition = definitionFor(config.type, index, definitions)
      created.push(await buildBackend(definition, config, { ...context, logger: context.logger.child({ backend: config.name }) }, index))
    }
  } catch (err) {
    await Promise.allSettled(created.map(b => b.close()))
    throw err
  }
  return created
}
