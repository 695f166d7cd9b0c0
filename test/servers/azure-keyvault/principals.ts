// The app registrations and identities of the test tenant, and how each proves who it is.
import { X509Certificate, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { signJwtRs256 } from './jwt.js'
import { certificateThumbprints, type TestPki } from './tls.js'

/** What AKS writes for a pod's service account (the audience Entra ID expects by default). */
export const federatedIssuer = 'https://oidc.login.test/nfss-test-cluster/'
export const federatedSubject = 'system:serviceaccount:nf-secret-source:nf-secret-source'
export const federatedAudience = 'api://AzureADTokenExchange'

export type Principal =
  | { kind: 'secret', clientId: string, secret: string }
  | { kind: 'certificate', clientId: string, publicKey: KeyObject, sha1: Buffer, sha256: Buffer }
  | { kind: 'federated', clientId: string, issuer: string, subject: string, audience: string, issuerKey: KeyObject }

export interface Principals {
  clientSecret: { clientId: string, secret: string }
  certificate: { clientId: string, certPem: string, keyPem: string, pemFile: string }
  workload: { clientId: string, tokenFile: string }
  denied: { clientId: string, secret: string }
  /** App registrations by client id, for the token endpoint. */
  registrations: Map<string, Principal>
  /** The user-assigned managed identity of the "App Service" (managed identity endpoint only). */
  managedIdentityClientId: string
}

const newSecret = (): string => randomBytes(24).toString('base64url')

export async function createPrincipals (dir: string, pki: TestPki): Promise<Principals> {
  const clientSecret = { clientId: randomUUID(), secret: newSecret() }
  const denied = { clientId: randomUUID(), secret: newSecret() }
  const certificate = { clientId: randomUUID(), certPem: pki.clientCertPem, keyPem: pki.clientKeyPem, pemFile: pki.clientPemFile }

  // The cluster's service-account issuer; Entra ID would fetch its key from the issuer's JWKS.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const now = Math.floor(Date.now() / 1000)
  const federatedToken = signJwtRs256({ kid: 'nfss-test-cluster' }, {
    aud: [federatedAudience],
    exp: now + 86400,
    iat: now,
    nbf: now,
    iss: federatedIssuer,
    sub: federatedSubject,
    'kubernetes.io': { namespace: 'nf-secret-source', serviceaccount: { name: 'nf-secret-source' } }
  }, privateKey)
  const workload = { clientId: randomUUID(), tokenFile: join(dir, 'azure-identity-token') }
  await writeFile(workload.tokenFile, federatedToken, { mode: 0o600 })

  const thumbprints = certificateThumbprints(pki.clientCertPem)
  const registrations = new Map<string, Principal>([
    [clientSecret.clientId, { kind: 'secret', ...clientSecret }],
    [denied.clientId, { kind: 'secret', ...denied }],
    [certificate.clientId, {
      kind: 'certificate',
      clientId: certificate.clientId,
      publicKey: new X509Certificate(pki.clientCertPem).publicKey,
      ...thumbprints
    }],
    [workload.clientId, {
      kind: 'federated',
      clientId: workload.clientId,
      issuer: federatedIssuer,
      subject: federatedSubject,
      audience: federatedAudience,
      issuerKey: publicKey
    }]
  ])
  return { clientSecret, certificate, workload, denied, registrations, managedIdentityClientId: randomUUID() }
}
