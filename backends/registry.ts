// Every store nf-secret-source can read, in one explicit list. A new store is one folder in
// backends/ exporting its definition, and one line here (docs/adding-a-store.md).
import { checkUnique } from '../src/create-backends.js'
import type { BackendDefinition } from '../src/store/port.js'
import { secretsManagerDefinition } from './aws-secrets-manager/index.js'
import { ssmDefinition } from './aws-ssm/index.js'
import { keyVaultDefinition } from './azure-keyvault/index.js'
import { fileDefinition } from './file/index.js'
import { kubernetesDefinition } from './kubernetes/index.js'
import { vaultDefinition } from './vault/index.js'

export const backendDefinitions: readonly BackendDefinition<any>[] = [
  fileDefinition,
  ssmDefinition,
  secretsManagerDefinition,
  vaultDefinition,
  keyVaultDefinition,
  kubernetesDefinition
]

checkUnique(backendDefinitions.map(d => d.type), 'type')
