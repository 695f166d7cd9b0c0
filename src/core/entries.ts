// Northflank's answer format: one ENV or FILE entry per secret.

export type OwnerPolicy =
  | { policy: 'AlwaysSetExplicit' | 'KeepOrSetExplicit'; value: string }
  | { policy: 'AlwaysSetInherited' | 'KeepOrSetInherited' }

export interface Permissions {
  policy: 'AlwaysSet' | 'KeepOrSet'
  mode: string | number
}

export interface EnvEntry {
  type: 'ENV'
  key: string
  value: string
}

export interface FileEntry {
  type: 'FILE'
  path: string
  data: string
  encoding: 'utf-8' | 'base64'
  owner?: OwnerPolicy
  group?: OwnerPolicy
  permissions?: Permissions
}

export type Entry = EnvEntry | FileEntry

/** An entry a store held that cannot be served; skipped with a warning, or a 502 in strict mode. */
export interface InvalidEntry {
  key: string
  reason: string
  /**
   * What is wrong, for the bounded metric label: the name (not an ENV name, not an absolute
   * normalised path) or the value (or its attributes). When absent it is read from `key`: a key
   * that is a valid ENV name or file path has a bad value. Stores whose keys are not entry names
   * (Kubernetes: `<secret>/<key>`) say it.
   */
  kind?: 'name' | 'value'
}

/** Where an entry came from: shown by `resolve`, used in logs and metrics. */
export interface Source {
  layer: string
  backend: string
  locator: string
}

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** The name an entry is merged under: later layers override the same name. */
export function entryName (entry: Entry): string {
  return entry.type === 'ENV' ? entry.key : entry.path
}
