// The in-memory model of one vault's secrets, answering in Key Vault's JSON shapes (field order as
// the recordings show it). Names are compared case-insensitively and keep the case of their first
// set; soft-deleted secrets stay in the listing keyspace until purged, which is what makes the
// empty-but-continued pages of the recordings happen here too (see listSecrets).
import { randomBytes } from 'node:crypto'

export const recoveryLevel = 'CustomizedRecoverable+Purgeable'
export const recoverableDays = 7
const secretNamePattern = /^[0-9a-zA-Z-]{1,127}$/

/** An answer with Key Vault's error body: {"error":{"code","message"[,"innererror":{"code"}]}}. */
export class KeyVaultError extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly innerCode?: string) {
    super(message)
  }

  body (): { error: { code: string, message: string, innererror?: { code: string } } } {
    const error = { code: this.code, message: this.message }
    return { error: this.innerCode === undefined ? error : { ...error, innererror: { code: this.innerCode } } }
  }
}

export function isValidSecretName (name: string): boolean {
  return secretNamePattern.test(name)
}

// Message texts from the recordings (SOURCES.md) unless marked otherwise.
const errors = {
  invalidName: (name: string) => new KeyVaultError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`),
  notFound: (nameOrId: string) => new KeyVaultError(404, 'SecretNotFound',
    `A secret with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`),
  deletedNotFound: (name: string) => new KeyVaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`),
  disabled: () => new KeyVaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled'),
  // Text as real vaults answer a set on a soft-deleted name (not in the recordings).
  deletedButRecoverable: (name: string) => new KeyVaultError(409, 'Conflict',
    `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
    'ObjectIsDeletedButRecoverable')
}

export interface SetSecretInput {
  value: string
  contentType?: string
  tags?: Record<string, string>
  enabled?: boolean
  nbf?: number
  exp?: number
  /** A certificate-backed secret: listed with managed:true and answered with a kid. */
  managed?: boolean
}

export interface UpdateSecretInput {
  contentType?: string
  tags?: Record<string, string>
  enabled?: boolean
  /** null removes the attribute. */
  nbf?: number | null
  exp?: number | null
}

interface SecretVersion {
  version: string
  value: string
  contentType?: string
  tags?: Record<string, string>
  enabled: boolean
  nbf?: number
  exp?: number
  created: number
  updated: number
  managed: boolean
}

interface SecretRecord {
  name: string
  /** By upper-cased version id. */
  versions: Map<string, SecretVersion>
  latest: string
  deleted?: { deletedDate: number, scheduledPurgeDate: number }
}

export interface Page<T> {
  items: T[]
  /** Where the next page starts (a storage key), absent on the last page. */
  nextKey?: string
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const keyOf = (name: string): string => name.toUpperCase()

export class VaultStore {
  /** By upper-cased name. */
  private readonly secrets = new Map<string, SecretRecord>()

  /** `vaultUrl` prefixes every id: https://<vault>.vault.azure.net:<port> */
  constructor (readonly vaultUrl: string) {}

  set (name: string, input: SetSecretInput): Record<string, unknown> {
    if (!isValidSecretName(name)) throw errors.invalidName(name)
    let record = this.secrets.get(keyOf(name))
    if (record?.deleted !== undefined) throw errors.deletedButRecoverable(name)
    const now = nowSeconds()
    const version: SecretVersion = {
      version: randomBytes(16).toString('hex'),
      value: input.value,
      enabled: input.enabled ?? true,
      created: now,
      updated: now,
      managed: input.managed ?? false
    }
    // Certificate-backed secrets always carry their format; PFX unless the certificate said PEM.
    const contentType = input.contentType ?? (input.managed === true ? 'application/x-pkcs12' : undefined)
    if (contentType !== undefined) version.contentType = contentType
    if (input.tags !== undefined) version.tags = { ...input.tags }
    if (input.nbf !== undefined) version.nbf = input.nbf
    if (input.exp !== undefined) version.exp = input.exp
    if (record === undefined) {
      record = { name, versions: new Map(), latest: '' }
      this.secrets.set(keyOf(name), record)
    }
    record.versions.set(keyOf(version.version), version)
    record.latest = keyOf(version.version)
    return this.bundle(record, version, true)
  }

  /**
   * An empty version means the latest. Expired or not-yet-valid secrets are answered like any
   * other: as far as anyone has shown, real Key Vault enforces only `enabled` on get, and clients
   * must look at nbf/exp themselves.
   */
  get (name: string, version: string): Record<string, unknown> {
    const [record, found] = this.version(name, version)
    if (!found.enabled) throw errors.disabled()
    return this.bundle(record, found, true)
  }

  /** PATCH: attributes, tags and contentType of one version; the answer carries no value. */
  update (name: string, version: string, patch: UpdateSecretInput): Record<string, unknown> {
    const [record, found] = this.version(name, version)
    if (patch.contentType !== undefined) found.contentType = patch.contentType
    if (patch.tags !== undefined) found.tags = { ...patch.tags }
    if (patch.enabled !== undefined) found.enabled = patch.enabled
    if (patch.nbf === null) delete found.nbf
    else if (patch.nbf !== undefined) found.nbf = patch.nbf
    if (patch.exp === null) delete found.exp
    else if (patch.exp !== undefined) found.exp = patch.exp
    found.updated = nowSeconds()
    return this.bundle(record, found, false)
  }

  /** Soft delete: the secret leaves /secrets and appears under /deletedsecrets at once. */
  delete (name: string): Record<string, unknown> {
    const record = this.live(name)
    const deletedDate = nowSeconds()
    record.deleted = { deletedDate, scheduledPurgeDate: deletedDate + recoverableDays * 86400 }
    return this.deletedBundle(record)
  }

  getDeleted (name: string): Record<string, unknown> {
    return this.deletedBundle(this.deletedRecord(name))
  }

  purge (name: string): void {
    this.deletedRecord(name)
    this.secrets.delete(keyOf(name))
  }

  /**
   * GET /secrets: the latest version of every live secret, ids without version. A page reads
   * `max` storage keys and soft-deleted secrets are among them, so a page can come back empty
   * with a next page still to read, as real vaults do (the recorded $skiptoken markers name
   * deleted secrets of other tests exactly where the recorded pages are empty).
   */
  listSecrets (fromKey: string | undefined, max: number): Page<Record<string, unknown>> {
    const keyspace = [...this.secrets.entries()]
      .map(([upper, record]) => ({ key: `secret/${upper}`, record }))
      .sort((a, b) => compareOrdinal(a.key, b.key))
    return pageOf(keyspace, fromKey, max, ({ record }) => {
      if (record.deleted !== undefined) return undefined
      return this.item(record, this.latestOf(record), false)
    })
  }

  /** GET /secrets/{name}/versions: a missing secret has no versions (200, not 404). */
  listVersions (name: string, fromKey: string | undefined, max: number): Page<Record<string, unknown>> {
    const record = this.secrets.get(keyOf(name))
    if (record === undefined || record.deleted !== undefined) return { items: [] }
    const keyspace = [...record.versions.entries()]
      .map(([upperVersion, version]) => ({ key: `secret/${keyOf(record.name)}/${upperVersion}`, version }))
      .sort((a, b) => compareOrdinal(a.key, b.key))
    return pageOf(keyspace, fromKey, max, ({ version }) => this.item(record, version, true))
  }

  /** GET /deletedsecrets. */
  listDeleted (fromKey: string | undefined, max: number): Page<Record<string, unknown>> {
    const keyspace = [...this.secrets.entries()]
      .filter(([, record]) => record.deleted !== undefined)
      .map(([upper, record]) => ({ key: `deletedsecret/${upper}`, record }))
      .sort((a, b) => compareOrdinal(a.key, b.key))
    return pageOf(keyspace, fromKey, max, ({ record }) => this.deletedBundle(record, true))
  }

  private live (name: string): SecretRecord {
    if (!isValidSecretName(name)) throw errors.invalidName(name)
    const record = this.secrets.get(keyOf(name))
    if (record === undefined || record.deleted !== undefined) throw errors.notFound(name)
    return record
  }

  private deletedRecord (name: string): SecretRecord {
    if (!isValidSecretName(name)) throw errors.invalidName(name)
    const record = this.secrets.get(keyOf(name))
    if (record?.deleted === undefined) throw errors.deletedNotFound(name)
    return record
  }

  private version (name: string, version: string): [SecretRecord, SecretVersion] {
    const record = this.live(name)
    if (version === '') return [record, this.latestOf(record)]
    const found = record.versions.get(keyOf(version))
    if (found === undefined) throw errors.notFound(`${name}/${version}`)
    return [record, found]
  }

  private latestOf (record: SecretRecord): SecretVersion {
    const latest = record.versions.get(record.latest)
    if (latest === undefined) throw new Error(`secret ${record.name} has no latest version`)
    return latest
  }

  private attributes (version: SecretVersion): Record<string, unknown> {
    return {
      enabled: version.enabled,
      ...(version.nbf === undefined ? {} : { nbf: version.nbf }),
      ...(version.exp === undefined ? {} : { exp: version.exp }),
      created: version.created,
      updated: version.updated,
      recoveryLevel,
      recoverableDays
    }
  }

  private secretId (record: SecretRecord, version?: SecretVersion): string {
    const base = `${this.vaultUrl}/secrets/${record.name}`
    return version === undefined ? base : `${base}/${version.version}`
  }

  private bundle (record: SecretRecord, version: SecretVersion, withValue: boolean): Record<string, unknown> {
    return this.fields(record, version, { withValue, versionedId: true, withKid: true })
  }

  /** SecretItem: no value and no kid; ids under /secrets carry no version. */
  private item (record: SecretRecord, version: SecretVersion, versionedId: boolean): Record<string, unknown> {
    return this.fields(record, version, { withValue: false, versionedId, withKid: false })
  }

  private deletedBundle (record: SecretRecord, asItem = false): Record<string, unknown> {
    const deleted = record.deleted
    if (deleted === undefined) throw new Error(`secret ${record.name} is not deleted`)
    return {
      recoveryId: `${this.vaultUrl}/deletedsecrets/${record.name}`,
      deletedDate: deleted.deletedDate,
      scheduledPurgeDate: deleted.scheduledPurgeDate,
      ...this.fields(record, this.latestOf(record), { withValue: false, versionedId: !asItem, withKid: !asItem })
    }
  }

  private fields (record: SecretRecord, version: SecretVersion,
    options: { withValue: boolean, versionedId: boolean, withKid: boolean }): Record<string, unknown> {
    return {
      ...(options.withValue ? { value: version.value } : {}),
      ...(version.contentType === undefined ? {} : { contentType: version.contentType }),
      id: this.secretId(record, options.versionedId ? version : undefined),
      ...(version.managed ? { managed: true } : {}),
      attributes: this.attributes(version),
      ...(version.tags === undefined ? {} : { tags: { ...version.tags } }),
      // A certificate-backed secret names the key of its certificate.
      ...(options.withKid && version.managed ? { kid: `${this.vaultUrl}/keys/${record.name}/${version.version}` } : {})
    }
  }
}

/** Storage keys compare by UTF-16 code unit, like the service's table storage (all ASCII here). */
function compareOrdinal (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function pageOf<E extends { key: string }, T> (keyspace: E[], fromKey: string | undefined, max: number,
  toItem: (entry: E) => T | undefined): Page<T> {
  // A marker whose key has gone (purged meanwhile) resumes at the next key, as storage does.
  let start = fromKey === undefined ? 0 : keyspace.findIndex(e => e.key >= fromKey)
  if (start < 0) start = keyspace.length
  const window = keyspace.slice(start, start + max)
  const items = window.map(toItem).filter((item): item is T => item !== undefined)
  const next = keyspace[start + max]
  return next === undefined ? { items } : { items, nextKey: next.key }
}
