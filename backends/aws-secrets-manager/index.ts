// type: aws-secrets-manager — one secret per layer; its SecretString is a secret document
// (JSON), the same map the file backend keeps in YAML. One GetSecretValue per layer.
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  SecretsManagerClient,
  type GetSecretValueCommandOutput
} from '@aws-sdk/client-secrets-manager'
import { Type } from '@sinclair/typebox'
import { parseDocument } from '../../src/core/document.js'
import { DEFAULT_TEMPLATES } from '../../src/core/locator.js'
import { isStoreError, storeError } from '../../src/store/errors.js'
import { alphabetProblem } from '../../src/store/templates.js'
import { awsClientConfig, awsOptions, awsStoreError, errorName, type AwsSeam } from '../aws/client.js'
import type { Backend, BackendContext, BackendDefinition, ReadResult } from '../../src/store/port.js'

const options = Type.Object({
  ...awsOptions,
  versionStage: Type.String({ minLength: 1, maxLength: 256, default: 'AWSCURRENT', description: 'staging label of the version to serve' })
})

// Secrets Manager names: ASCII letters, digits and /_+=.@- ; at most 512 characters.
const SECRET_NAME_ALPHABET = /^[A-Za-z0-9/_+=.@-]{1,512}$/

/** A secret being deleted (in its recovery window) reads as InvalidRequestException. */
function isDeleted (err: unknown): boolean {
  return errorName(err) === 'InvalidRequestException' && /marked (for )?delet/i.test((err as Error).message ?? '')
}

type SecretsManagerOptions = typeof options

/**
 * ResourceNotFoundException names one missing secret: an empty layer. The store that is not there
 * is the service: an answer that names no secret (Secrets Manager always sends its ARN and Name)
 * comes from an endpoint that is not Secrets Manager (a wrong endpoint override, a proxy):
 * unavailable, never an empty layer nor a malformed one. A region without the service does not
 * resolve (unavailable); a disabled region or a refused name is denied.
 */
function serviceAnswered (answer: { ARN?: string, Name?: string }, what: string): void {
  if (answer.ARN === undefined && answer.Name === undefined) throw storeError('unavailable', `${what}: the answer names no secret (is the endpoint Secrets Manager?)`)
}

export function createSecretsManagerBackend (config: Parameters<BackendDefinition<SecretsManagerOptions>['create']>[0], context: BackendContext, seam: AwsSeam<SecretsManagerClient> = {}): Backend {
  const client = new SecretsManagerClient(awsClientConfig(config, seam))
  seam.observe?.(client)
  const { logger, locate } = context
  const globalTemplate = context.templates.find(t => t.layer === 'global')?.text

  async function fetchSecret (name: string, signal: AbortSignal): Promise<GetSecretValueCommandOutput | undefined> {
    let secret: GetSecretValueCommandOutput
    try {
      secret = await client.send(new GetSecretValueCommand({ SecretId: name, VersionStage: config.versionStage }), { abortSignal: signal })
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException' || isDeleted(err)) return undefined
      throw awsStoreError(err, `GetSecretValue ${name}`)
    }
    serviceAnswered(secret, `GetSecretValue ${name}`)
    return secret
  }

  function documentOf (name: string, secret: GetSecretValueCommandOutput): ReadResult {
    if (secret.SecretString === undefined) {
      const why = secret.SecretBinary === undefined ? 'has no value' : 'holds SecretBinary; store the secret document as SecretString (JSON)'
      logger.warn({ secret: name }, `secret ${why}: layer refused`)
      throw storeError('malformed', `secret ${name} ${why}`)
    }
    let document: unknown
    try {
      document = JSON.parse(secret.SecretString)
    } catch {
      // JSON.parse messages quote the text around the error, which is secret.
      throw storeError('malformed', `secret ${name} is not a JSON secret document`)
    }
    const parsed = parseDocument(document)
    if (!parsed.ok) throw storeError('malformed', `secret ${name}: ${parsed.reason}`)
    return { found: true, entries: parsed.entries, invalid: parsed.invalid }
  }

  // Readiness: DescribeSecret on the global secret needs only a permission the reads need anyway
  // (scoped to the prefix); "not found" proves the credentials work. Templated globals fall back
  // to ListSecrets, which IAM cannot scope to a prefix.
  const probeName = globalTemplate !== undefined && !globalTemplate.includes('{') ? globalTemplate : undefined

  return {
    name: config.name,
    type: 'aws-secrets-manager',
    locate,
    async read (locator, signal) {
      signal.throwIfAborted()
      const secret = await fetchSecret(locator, signal)
      return secret === undefined ? { found: false } : documentOf(locator, secret)
    },
    async ready (signal) {
      try {
        if (probeName !== undefined) serviceAnswered(await client.send(new DescribeSecretCommand({ SecretId: probeName }), { abortSignal: signal }), `DescribeSecret ${probeName} (readiness)`)
        else {
          const list = await client.send(new ListSecretsCommand({ MaxResults: 1 }), { abortSignal: signal })
          if (!Array.isArray(list.SecretList)) throw storeError('unavailable', 'ListSecrets (readiness): the answer has no SecretList (is the endpoint Secrets Manager?)')
        }
      } catch (err) {
        if (isStoreError(err)) throw err
        if (errorName(err) === 'ResourceNotFoundException') return
        throw awsStoreError(err, `${probeName === undefined ? 'ListSecrets' : `DescribeSecret ${probeName}`} (readiness)`)
      }
    },
    async close () {
      client.destroy()
    }
  }
}

export const secretsManagerDefinition: BackendDefinition<SecretsManagerOptions> = {
  type: 'aws-secrets-manager',
  options,
  // GetSecretValue allows 10,000 calls/s per account and region: most of it stays for other clients.
  budget: { callsPerSecond: 500, burst: 100, concurrency: 32, maxQueue: 2000 },
  locators: { defaults: DEFAULT_TEMPLATES, check: template => alphabetProblem(template, SECRET_NAME_ALPHABET) },
  create: (config, context) => createSecretsManagerBackend(config, context)
}
