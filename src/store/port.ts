// The port every secret store implements, kept with its consumer (the resolver and the config
// loader). One store = one folder in backends/, registered in backends/registry.ts; stores
// import only src/core and src/store.
import type { Static, TObject } from '@sinclair/typebox'
import type { Logger } from 'pino'
import type { Entry, InvalidEntry } from '../core/entries.js'
import type { IdForm, LayerTemplate, Locate } from '../core/locator.js'

/**
 * A read of one locator. A missing locator is `found: false` (an empty layer).
 * Denied / unavailable / malformed are thrown as StoreError (src/store/errors.ts);
 * anything else thrown counts as unavailable.
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
  locate: Locate
  /** API calls one read makes when it depends on this backend's templates; default: the definition's budget.callsPerRead. */
  readonly callsPerRead?: number
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
  /** This backend's templates of the configured layers: syntax-checked and proven isolated at start-up. */
  templates: readonly LayerTemplate[]
  /** locate() built from `templates`; a backend normally exposes it as it is. */
  locate: Locate
}

/** Config every backend has; its own keys come from its `options` schema. */
export interface BackendBaseConfig {
  name: string
  type: string
  locators?: Record<string, string>
  [key: string]: unknown
}

/** A problem with one config key of a backend: `key` is relative to the backend (e.g. "locators.object"). */
export interface KeyProblem {
  key: string
  problem: string
}

/**
 * How a store writes locators. The config loader fills the defaults with `locators` from config,
 * runs `check` on each, parses them with `form` and proves isolation over the result; `create()`
 * then gets a ready `locate`.
 */
export interface LocatorScheme<Config = BackendBaseConfig> {
  /** Template per layer, in the store's syntax (PRODUCT.md's defaults written its way). */
  defaults: Readonly<Record<string, string>>
  /** How an id is written into a locator; ids as they are when absent. */
  form?: IdForm
  /** The store compares names ignoring case (Key Vault): the proof compares lower-cased locators. */
  caseInsensitive?: boolean
  /** Why a template (placeholders still in) is not a valid locator of this store, or undefined. */
  check?: (template: string) => string | undefined
  /**
   * For stores whose locator is made of several config keys (Kubernetes: namespace + selector):
   * builds the layer templates itself, or says what is wrong with which key.
   */
  compile?: (config: Config, layers: readonly string[]) => { templates: LayerTemplate[] } | { problems: KeyProblem[] }
}

export interface BackendDefinition<Options extends TObject = TObject> {
  type: string
  /** JSON Schema (TypeBox) of the backend's own config keys; validated at start-up with paths. */
  options: Options
  locators: LocatorScheme<BackendBaseConfig & Static<Options>>
  /**
   * Store calls per second, burst, concurrency and queue this store type allows by default, from
   * its published quota with headroom for other clients of the same account (src/call-budget.ts).
   * Absent: no budget (a local store).
   */
  budget?: { callsPerSecond: number, burst: number, concurrency: number, maxQueue: number, /** API calls one read makes (tokens it takes); default 1 */ callsPerRead?: number }
  /** Builds the backend. Config has already been validated against `options`, templates proven. */
  create: (config: BackendBaseConfig & Static<Options>, context: BackendContext) => Backend | Promise<Backend>
}
