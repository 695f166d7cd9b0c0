// document layout (the default): one secret per layer whose value is a secret document in JSON,
// the same map the file backend keeps in YAML and Secrets Manager keeps as its SecretString.
// One GET per layer read.
import type { Logger } from 'pino'
import { parseDocument } from '../../src/core/document.js'
import { storeError } from '../../src/store/errors.js'
import type { ReadResult } from '../../src/store/port.js'
import type { SecretClient } from '@azure/keyvault-secrets'
import { getSecret, inactiveReason, type CallBudget } from './client.js'

export interface DocumentDeps {
  client: SecretClient
  logger: Logger
  onDenied: (err: unknown) => void
}

export async function readDocument ({ client, logger, onDenied }: DocumentDeps, name: string, budget: CallBudget): Promise<ReadResult> {
  const answer = await getSecret(client, name, budget, onDenied)
  if (answer.kind === 'absent') {
    if (answer.why === 'disabled') logger.debug({ secret: name }, 'key vault secret is disabled: an empty layer')
    return { found: false }
  }
  // Key Vault answers expired and not-yet-valid secrets; serving them is our call, and we do not.
  const why = inactiveReason(answer.secret.properties)
  if (why !== undefined) {
    logger.debug({ secret: name, why }, 'key vault secret skipped: an empty layer')
    return { found: false }
  }
  let document: unknown
  try {
    document = JSON.parse(answer.secret.value ?? '')
  } catch {
    // JSON.parse messages quote the text around the error, which is secret.
    throw storeError('malformed', `secret ${name} is not a JSON secret document`)
  }
  const parsed = parseDocument(document)
  if (!parsed.ok) throw storeError('malformed', `secret ${name}: ${parsed.reason}`)
  return { found: true, entries: parsed.entries, invalid: parsed.invalid }
}
