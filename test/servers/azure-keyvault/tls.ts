// A throwaway PKI per run, made with the openssl CLI (node:crypto cannot issue X.509 certificates):
// a CA, the server certificate for every host the test server answers as, and the self-signed
// certificate the certificate principal signs its client assertions with.
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Every name the server certificate must be valid for (vault hosts, the authority, loopback). */
export const serverNames = ['*.vault.azure.net', 'vault.azure.net', 'login.test', 'localhost']
export const serverAddresses = ['127.0.0.1']

export interface TestPki {
  caPem: string
  caFile: string
  serverCertPem: string
  serverKeyPem: string
  clientCertPem: string
  clientKeyPem: string
  /** Client certificate and key in one PEM, the form ClientCertificateCredential reads. */
  clientPemFile: string
}

async function openssl (args: string[]): Promise<void> {
  try {
    await run('openssl', args)
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr || String(err)}`)
  }
}

/** Certificates last two days: long enough for any run, short enough to be useless if leaked. */
const days = '2'

export async function createTestPki (dir: string): Promise<TestPki> {
  const file = (name: string): string => join(dir, name)
  const serverChain = async (): Promise<void> => {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', days,
      '-subj', '/CN=nf-secret-source Key Vault test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', file('ca.key'), '-out', file('ca.pem')])
    const altNames = [...serverNames.map(n => `DNS:${n}`), ...serverAddresses.map(a => `IP:${a}`)].join(',')
    await writeFile(file('server.ext'), [
      `subjectAltName=${altNames}`,
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth'
    ].join('\n') + '\n')
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=vault.azure.net',
      '-keyout', file('server.key'), '-out', file('server.csr')])
    await openssl(['x509', '-req', '-in', file('server.csr'), '-days', days,
      '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-set_serial', `0x${Date.now().toString(16)}`,
      '-extfile', file('server.ext'), '-out', file('server.pem')])
  }
  // Entra ID accepts self-signed certificates on app registrations, so no CA is involved here.
  const clientCertificate = async (): Promise<void> => {
    await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', days,
      '-subj', '/CN=nf-secret-source test certificate principal',
      '-keyout', file('client.key'), '-out', file('client.pem')])
  }
  await Promise.all([serverChain(), clientCertificate()])

  const read = async (name: string): Promise<string> => await readFile(file(name), 'utf8')
  const clientCertPem = await read('client.pem')
  const clientKeyPem = await read('client.key')
  const clientPemFile = file('client-with-key.pem')
  await writeFile(clientPemFile, clientCertPem + clientKeyPem, { mode: 0o600 })
  return {
    caPem: await read('ca.pem'),
    caFile: file('ca.pem'),
    serverCertPem: await read('server.pem'),
    serverKeyPem: await read('server.key'),
    clientCertPem,
    clientKeyPem,
    clientPemFile
  }
}

/** The thumbprints Entra ID matches a client assertion's x5t / x5t#S256 header against. */
export function certificateThumbprints (certPem: string): { sha1: Buffer, sha256: Buffer } {
  const cert = new X509Certificate(certPem)
  return {
    sha1: Buffer.from(cert.fingerprint.replace(/:/g, ''), 'hex'),
    sha256: Buffer.from(cert.fingerprint256.replace(/:/g, ''), 'hex')
  }
}
