// Shared AWS plumbing for the aws-ssm and aws-secrets-manager backends: one config schema,
// client settings (region, endpoint override, default credential chain, optional role), and
// the mapping of SDK errors onto the store error catalog.
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers'
import { Type, type Static } from '@sinclair/typebox'
import { storeError, throttledError, type StoreError } from '../../src/store/errors.js'

export const awsOptions = {
  region: Type.String({ minLength: 1, pattern: '^[a-z0-9-]+$', description: 'AWS region of the store, e.g. eu-west-1' }),
  endpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'endpoint override (VPC endpoint, tests); default: the public regional endpoint' })),
  roleArn: Type.Optional(Type.String({ pattern: '^arn:aws[a-z-]*:iam::', description: 'role to assume with the default credentials' })),
  roleSessionName: Type.String({ minLength: 2, maxLength: 64, pattern: '^[\\w+=,.@-]+$', default: 'nf-secret-source' }),
  externalId: Type.Optional(Type.String({ minLength: 2, maxLength: 1224 })),
  stsEndpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'endpoint override for STS (role assumption)' })),
  maxAttempts: Type.Integer({ minimum: 1, maximum: 10, default: 3, description: 'attempts per call (adaptive retry), first try included' })
}

const awsOptionsSchema = Type.Object(awsOptions)
/** Derived from the schema above: the config keys and their types have one source. */
export type AwsOptions = Static<typeof awsOptionsSchema>

/**
 * Test seam, never reachable from config: fixed credentials (a second moto identity) and a
 * hook that sees the client once built (to count calls with a middleware).
 */
export interface AwsSeam<Client> {
  credentials?: { accessKeyId: string, secretAccessKey: string, sessionToken?: string }
  observe?: (client: Client) => void
}

/** The part of an SDK client's config both backends share. */
export function awsClientConfig (options: AwsOptions, seam: Pick<AwsSeam<unknown>, 'credentials'> = {}): {
  region: string
  endpoint?: string
  maxAttempts: number
  retryMode: 'adaptive'
  credentials?: ReturnType<typeof fromTemporaryCredentials> | NonNullable<AwsSeam<unknown>['credentials']>
} {
  if (seam.credentials !== undefined) return { ...awsClientConfig(options), credentials: seam.credentials }
  return {
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    // Adaptive: backs off and rate-limits the client itself when AWS throttles, within maxAttempts.
    maxAttempts: options.maxAttempts,
    retryMode: 'adaptive',
    // No credentials key: the SDK's default chain (env, shared config/SSO, web identity, ECS, IMDS).
    ...(options.roleArn === undefined
      ? {}
      : {
          credentials: fromTemporaryCredentials({
            params: {
              RoleArn: options.roleArn,
              RoleSessionName: options.roleSessionName,
              ...(options.externalId === undefined ? {} : { ExternalId: options.externalId })
            },
            clientConfig: {
              region: options.region,
              maxAttempts: options.maxAttempts,
              ...(options.stsEndpoint === undefined ? {} : { endpoint: options.stsEndpoint })
            }
          })
        })
  }
}

const DENIED = new Set([
  'AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnrecognizedClientException',
  'InvalidClientTokenId', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'IncompleteSignature',
  'ExpiredToken', 'ExpiredTokenException', 'MissingAuthenticationToken',
  // KMS refused to decrypt a SecureString / secret: a permission problem on the key.
  'KMSAccessDeniedException', 'KMSDisabledException', 'DecryptionFailure', 'DecryptionFailureException',
  // The credential chain found nothing usable, or could not assume the role.
  'CredentialsProviderError', 'RegionDisabledException'
])

const THROTTLED = new Set([
  'ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded',
  'RequestThrottled', 'RequestThrottledException', 'ThrottledException', 'SlowDown'
])

interface SdkError {
  name?: string
  $metadata?: { httpStatusCode?: number, attempts?: number }
}

export function errorName (err: unknown): string {
  return (err as SdkError | undefined)?.name ?? 'Error'
}

/**
 * An SDK error -> a store error. Only the error's name, HTTP status and attempt count are kept:
 * SDK messages can quote principals, ARNs with account ids or request details.
 * `what` names the call and the path or secret (never a value), for the log.
 */
export function awsStoreError (err: unknown, what: string): StoreError {
  const name = errorName(err)
  const status = (err as SdkError | undefined)?.$metadata?.httpStatusCode
  const attempts = (err as SdkError | undefined)?.$metadata?.attempts
  const facts = [status === undefined ? undefined : `HTTP ${status}`, attempts === undefined ? undefined : `${attempts} attempt(s)`].filter(Boolean).join(', ')
  const detail = `${what}: ${name}${facts === '' ? '' : ` (${facts})`}`
  if (DENIED.has(name) || status === 401 || status === 403) return storeError('denied', detail)
  if (THROTTLED.has(name)) return throttledError(`${detail}: throttled after bounded retries`)
  // Network errors (no HTTP status), timeouts, aborts, 5xx and anything unexpected.
  return storeError('unavailable', detail)
}
