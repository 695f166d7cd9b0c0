// The port every secret store implements. One store = one file in backends/,
// registered in backends/registry.ts; the core knows stores only through this.
import type { Static, TObject } from '@sinclair/typebox'
import type { Logger } from 'pino'
import type { Entry, InvalidEntry } from '../src/core/entries.js'
import type { Identity } from '../src/core/identity.js'

/**
 * A read of one locator. A missing locator is `found: false` (an empty layer).
 * Denied / unavailable / malformed are thrown as the catalog's store errors
 * (storeError() in src/errors.ts); anything else thrown counts as unavailable.
 */
export type ReadResult =
  | { found: true, entries: Entry[], invalid: InvalidEntry[] }
  | { found: false }

export interface Backend {
  readonly name: string
  readonly type: string
  /**
   * Reads answer from an in-process replica that follows the store (a Kubernetes informer):
   * the service cache is bypassed, so a change is served as soon as the replica has it.
   */
  readonly servesFromMemory?: boolean
  /** The store location of a layer for an identity; undefined when this backend has no template for the layer. */
  locate: (layer: string, identity: Identity) => string | undefined
  /** Reads one locator. Must honour `signal` (the per-call timeout and the request deadline). */
  read: (locator: string, signal: AbortSignal) => Promise<ReadResult>
  /** Resolves when the store is usable (credentials valid, store reachable); throws a store error otherwise. */
  ready: (signal: AbortSignal) => Promise<void>
  close: () => Promise<void>
}

export interface BackendContext {
  logger: Logger
  /** The config file's folder: relative paths in a backend's config are resolved against it. */
  baseDir: string
  /** The configured layers, least specific first. */
  layers: readonly string[]
}

/** Config every backend has; its own keys come from its `options` schema. */
export interface BackendBaseConfig {
  name: string
  type: string
  locators?: Record<string, string>
  [key: string]: unknown
}

export interface BackendDefinition<Options extends TObject = TObject> {
  type: string
  /** JSON Schema (TypeBox) of the backend's own config keys; validated at start-up with paths. */
  options: Options
  /** Builds the backend. Config has already been validated against `options`. */
  create: (config: BackendBaseConfig & Static<Options>, context: BackendContext) => Backend | Promise<Backend>
}
