// Loads the config: YAML -> NFSS__ env overrides -> ${env:}/${file:} references -> schema.
// Every problem is collected and reported with its config path before start-up fails.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Type, type TObject } from '@sinclair/typebox'
import { Ajv, type ErrorObject } from 'ajv'
import { parse, YAMLParseError } from 'yaml'
import { backendDefinitions } from '../../backends/registry.js'
import { definitionFor } from '../create-backends.js'
import type { BackendDefinition } from '../store/port.js'
import { compileLocators, locatorKeyProblems } from '../store/templates.js'
import { ConfigInvalid } from '../errors.js'
import type { SecretSource } from '../secret-rotation.js'
import { BackendBaseSchema, ConfigSchema, type Config } from './schema.js'

export interface LoadedConfig {
  config: Config
  /** Folder of the config file: relative paths in it resolve from here. */
  baseDir: string
  /**
   * Where each configured auth.secrets entry came from: one that is exactly `${file:PATH}` is that
   * file (one secret per line), re-read at run time (rotation without restart,
   * src/secret-rotation.ts); any other is its value.
   */
  secretSources: SecretSource[]
}

export interface LoadOptions {
  /** Config file; omit to build from `document` alone (tests, the demo). */
  file?: string
  document?: unknown
  env?: NodeJS.ProcessEnv
  baseDir?: string
  definitions?: readonly BackendDefinition<any>[]
}

// strictNumbers: .inf and 1e400 (Infinity) are not numbers a timeout or an age can use.
const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false, strictNumbers: true })
const validateBase = ajv.compile(ConfigSchema)
const backendValidators = new WeakMap<TObject, ReturnType<typeof ajv.compile>>()

type Path = Array<string | number>

/** `backends[0].root` style, as users write it. */
export function formatPath (path: Path): string {
  return path.reduce<string>((out, seg) => typeof seg === 'number' ? `${out}[${seg}]` : out === '' ? seg : `${out}.${seg}`, '') || '(root)'
}

function pointerPath (pointer: string): Path {
  return pointer.split('/').slice(1).map(s => /^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function ajvProblems (errors: ErrorObject[] | null | undefined, prefix: Path): string[] {
  return (errors ?? []).map(e => {
    const path = [...prefix, ...pointerPath(e.instancePath)]
    if (e.keyword === 'additionalProperties') return `${formatPath([...path, e.params.additionalProperty as string])}: unknown key`
    if (e.keyword === 'required') return `${formatPath([...path, e.params.missingProperty as string])}: is required`
    if (e.keyword === 'enum' || e.keyword === 'anyOf') return `${formatPath(path)}: must be one of the allowed values`
    return `${formatPath(path)}: ${e.message ?? 'is invalid'}`
  })
}

export function loadConfig (options: LoadOptions): LoadedConfig {
  const env = options.env ?? process.env
  const problems: string[] = []
  let document = options.document
  let baseDir = options.baseDir ?? process.cwd()
  if (options.file !== undefined) {
    baseDir = dirname(resolve(options.file))
    document = readYaml(options.file)
  }
  document ??= {}
  if (typeof document !== 'object' || Array.isArray(document)) throw new ConfigInvalid('(root): must be a map')
  const definitions = options.definitions ?? backendDefinitions

  document = structuredClone(document)
  problems.push(...applyEnvOverrides(document as Record<string, unknown>, env, knownKeys(definitions)))
  const rawSecrets = (document as { auth?: { secrets?: unknown } }).auth?.secrets
  const resolved = resolveReferences(document, [], env, baseDir, problems)
  // A whole `${file:PATH}` entry of auth.secrets holds one secret per line (a mounted Secret can
  // then gain and lose secrets: rotation without restart).
  const secretsOf = (resolved as { auth?: { secrets?: unknown } }).auth
  const resolvedSecrets: unknown[] = Array.isArray(secretsOf?.secrets) ? [...secretsOf.secrets] : []
  if (Array.isArray(rawSecrets) && secretsOf !== undefined && Array.isArray(secretsOf.secrets)) {
    secretsOf.secrets = secretsOf.secrets.flatMap((value: unknown, index) => {
      const raw = rawSecrets[index]
      return typeof raw === 'string' && typeof value === 'string' && WHOLE_FILE_REFERENCE.test(raw) ? secretLines(value) : [value]
    })
  }

  if (!validateBase(resolved)) problems.push(...ajvProblems(validateBase.errors, []))
  const config = resolved as Config
  if (Array.isArray(config.backends)) problems.push(...backendProblems(config, definitions))
  if (problems.length > 0) throw new ConfigInvalid(problems.map(p => `  - ${p}`).join('\n'))
  // One source per configured entry (a file entry may hold several secrets).
  const secretSources: SecretSource[] = (Array.isArray(rawSecrets) ? rawSecrets : []).map((raw: unknown, index) => {
    const file = typeof raw === 'string' ? WHOLE_FILE_REFERENCE.exec(raw)?.[1] : undefined
    return file === undefined ? { value: resolvedSecrets[index] as string } : { file: resolve(baseDir, file) }
  })
  return { config, baseDir, secretSources }
}

function readYaml (file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigInvalid(`  - cannot read config file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  try {
    return parse(text, { uniqueKeys: true })
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos !== undefined ? ` at line ${err.linePos[0].line}` : ''
    throw new ConfigInvalid(`  - ${file} is not valid YAML${where}`)
  }
}

function backendProblems (config: Config, definitions: readonly BackendDefinition<any>[]): string[] {
  const problems: string[] = []
  const names = new Set<string>()
  config.backends.forEach((backend, index) => {
    const at = (key: string, problem: string): string => `${formatPath(['backends', index, key])}: ${problem}`
    if (typeof backend !== 'object' || backend === null) return
    const problemsBefore = problems.length
    if (names.has(backend.name)) problems.push(at('name', `"${backend.name}" is used twice`))
    names.add(backend.name)
    let definition: BackendDefinition<any>
    try {
      definition = definitionFor(backend.type, index, definitions)
    } catch {
      problems.push(at('type', `unknown type "${String(backend.type)}" (known: ${definitions.map(d => d.type).join(', ')})`))
      return
    }
    let validate = backendValidators.get(definition.options)
    if (validate === undefined) {
      validate = ajv.compile(Type.Object({ ...BackendBaseSchema.properties, ...definition.options.properties }, { additionalProperties: false }))
      backendValidators.set(definition.options, validate)
    }
    if (!validate(backend)) problems.push(...ajvProblems(validate.errors, ['backends', index]).filter(p => !problems.includes(p)))
    // A call that may outlast the request is cut by the deadline first, and then a stale copy
    // can never be served for a hung store.
    const deadline = config.server?.requestTimeoutSeconds
    if (typeof backend.timeoutSeconds === 'number' && typeof deadline === 'number' && backend.timeoutSeconds >= deadline) {
      problems.push(at('timeoutSeconds', `must be below server.requestTimeoutSeconds (${deadline})`))
    }
    if (!Array.isArray(config.layers)) return
    // Templates are parsed and proven isolated only for a backend whose other keys are valid.
    if (problems.length > problemsBefore) problems.push(...locatorKeyProblems(backend, index, config.layers))
    else {
      const compiled = compileLocators(definition, backend, index, config.layers)
      if ('problems' in compiled) problems.push(...compiled.problems)
    }
  })
  return problems
}

const REFERENCE = /\$\{(env|file):([^}]+)\}/g
const WHOLE_FILE_REFERENCE = /^\$\{file:([^}]+)\}$/

/** The secrets a file holds: one per non-empty line, surrounding whitespace dropped. */
export function secretLines (text: string): string[] {
  return text.split(/\r?\n/).map(line => line.trim()).filter(line => line !== '')
}

/** Replaces ${env:NAME} and ${file:PATH} inside string values; a missing one is a problem at that path. */
function resolveReferences (value: unknown, path: Path, env: NodeJS.ProcessEnv, baseDir: string, problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (_, kind: string, name: string) => {
      if (kind === 'env') {
        const found = env[name]
        if (found === undefined || found === '') problems.push(`${formatPath(path)}: environment variable ${name} is not set`)
        return found ?? ''
      }
      try {
        return readFileSync(resolve(baseDir, name), 'utf8').replace(/\r?\n$/, '')
      } catch (err) {
        problems.push(`${formatPath(path)}: cannot read file ${name} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
        return ''
      }
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveReferences(v, [...path, i], env, baseDir, problems))
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveReferences(v, [...path, k], env, baseDir, problems)]))
  }
  return value
}

/** Every key name the schema knows, by lower case: env names cannot carry camelCase. */
function knownKeys (definitions: readonly BackendDefinition<any>[]): Map<string, string> {
  const keys = new Map<string, string>()
  const walk = (schema: unknown): void => {
    if (typeof schema !== 'object' || schema === null) return
    const s = schema as { properties?: Record<string, unknown>, items?: unknown, additionalProperties?: unknown, anyOf?: unknown[] }
    for (const [name, sub] of Object.entries(s.properties ?? {})) {
      keys.set(name.toLowerCase(), name)
      walk(sub)
    }
    walk(s.items)
    walk(s.additionalProperties)
    s.anyOf?.forEach(walk)
  }
  walk(ConfigSchema)
  definitions.forEach(d => walk(d.options))
  return keys
}

/**
 * NFSS__SERVER__PORT=8081 sets server.port; NFSS__BACKENDS__0__ROOT sets backends[0].root.
 * Values stay strings; the schema coerces numbers and booleans. Returns the overrides that
 * cannot apply (a name under a list that is not an index, an index past the end + 1).
 */
export function applyEnvOverrides (document: Record<string, unknown>, env: NodeJS.ProcessEnv, keys: Map<string, string>): string[] {
  const problems: string[] = []
  // Numeric order for indexes (__2 before __10), so items append in turn.
  const overrides = Object.entries(env).filter(([name]) => name.startsWith('NFSS__')).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
  for (const [name, value] of overrides) {
    const segments = name.slice('NFSS__'.length).split('__').filter(s => s !== '')
    if (segments.length === 0 || value === undefined) continue
    let node: Record<string, unknown> | unknown[] = document
    const path: Path = []
    for (const [i, segment] of segments.entries()) {
      let key: string | number
      if (Array.isArray(node)) {
        if (!/^\d+$/.test(segment) || Number(segment) > node.length) {
          problems.push(`${name}: ${formatPath(path)} is a list of ${node.length}; "${segment}" is not an index in 0..${node.length}`)
          break
        }
        key = Number(segment)
      } else {
        key = Object.keys(node).find(k => k.toLowerCase() === segment.toLowerCase()) ?? keys.get(segment.toLowerCase()) ?? segment.toLowerCase()
      }
      path.push(key)
      const container = node as Record<string | number, unknown>
      if (i === segments.length - 1) {
        container[key] = value
        break
      }
      if (typeof container[key] !== 'object' || container[key] === null) {
        container[key] = /^\d+$/.test(segments[i + 1] ?? '') ? [] : {}
      }
      node = container[key] as Record<string, unknown> | unknown[]
    }
  }
  return problems
}
