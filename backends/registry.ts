// Every store nf-secret-source can read, in one explicit list.
import { DuplicateBackend, UnknownBackendType } from '../src/errors.js'
import { secretsManagerBackend } from './aws-secrets-manager.js'
import { ssmBackend } from './aws-ssm.js'
import { fileBackend } from './file.js'
import { kubernetesBackend } from './kubernetes.js'
import type { Backend, BackendBaseConfig, BackendContext, BackendDefinition } from './port.js'
import { vaultBackend } from './vault.js'

export const backendDefinitions: readonly BackendDefinition<any>[] = [
  fileBackend,
  ssmBackend,
  secretsManagerBackend,
  vaultBackend,
  kubernetesBackend
]

export function definitionFor (type: string, index: number, definitions = backendDefinitions): BackendDefinition<any> {
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

checkUnique(backendDefinitions.map(d => d.type), 'type')

/** Builds the configured backends in config order (later backends win within a layer). */
export async function createBackends (configs: readonly BackendBaseConfig[], context: BackendContext, definitions = backendDefinitions): Promise<Backend[]> {
  checkUnique(configs.map(c => c.name), 'name')
  const created: Backend[] = []
  try {
    for (const [index, config] of configs.entries()) {
      created.push(await definitionFor(config.type, index, definitions).create(config, { ...context, logger: context.logger.child({ backend: config.name }) }))
    }
  } catch (err) {
    await Promise.allSettled(created.map(b => b.close()))
    throw err
  }
  return created
}
