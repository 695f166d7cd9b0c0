// type: aws-ssm — one SSM parameter per entry under a path per layer (docs/backends/aws.md).
// <path>/NAME is the ENV entry NAME; <path>/_files/etc/app/key.pem is the FILE /etc/app/key.pem,
// with its attributes in parameter tags. A read is one recursive GetParametersByPath walk of the
// layer path, all pages, when no identity's layer path can lie below another's (the default
// templates); otherwise two, of its direct children and of its _files folder.
import {
  GetParametersByPathCommand,
  ListTagsForResourceCommand,
  SSMClient,
  type Parameter
} from '@aws-sdk/client-ssm'
import { Type } from '@sinclair/typebox'
import { LRUCache } from 'lru-cache'
import { isBase64, metadataAttributes, normaliseEncoding } from '../../src/core/document.js'
import { mayNestLocators } from '../../src/core/nested-locators.js'
import { ENV_NAME, type Entry, type FileEntry, type InvalidEntry } from '../../src/core/entries.js'
import { DEFAULT_TEMPLATES } from '../../src/core/locator.js'
import { isStoreError, storeError } from '../../src/store/errors.js'
import { alphabetProblem, segmentProblem } from '../../src/store/templates.js'
import { awsClientConfig, awsOptions, awsStoreError, type AwsSeam } from '../aws/client.js'
import type { Backend, BackendContext, BackendDefinition, ReadResult } from '../../src/store/port.js'

const options = Type.Object({
  ...awsOptions,
  tagCacheSeconds: Type.Number({ minimum: 0, default: 600, description: 'how long file tags are reused for an unchanged parameter version; 0 reads them on every read' }),
  emptyValue: Type.Optional(Type.String({ minLength: 1, description: 'a parameter holding exactly this value is served as empty (SSM refuses empty values)' }))
})

/** The PRODUCT.md defaults as SSM paths. */
export const SSM_DEFAULT_TEMPLATES: Readonly<Record<string, string>> =
  Object.fromEntries(Object.entries(DEFAULT_TEMPLATES).map(([layer, template]) => [layer, `/${template}`]))

/** The folder under a layer path whose parameters are files. Object ids cannot start with "_". */
export const FILES_FOLDER = '_files'

/** Tag names that carry file attributes; each of mode, owner, group may have a *-policy tag (AlwaysSet or KeepOrSet). */
export const FILE_TAGS = {
  mode: 'nf-mode', modePolicy: 'nf-mode-policy',
  owner: 'nf-owner', ownerPolicy: 'nf-owner-policy',
  group: 'nf-group', groupPolicy: 'nf-group-policy',
  encoding: 'nf-encoding'
} as const
const KNOWN_TAGS = new Set<string>(Object.values(FILE_TAGS))

// SSM parameter names: a-zA-Z0-9_.-/ and at most 15 levels; a layer path needs room for
// NAME below it, and for _files/<path> (so keep layer paths short).
const SSM_NAME_ALPHABET = /^[A-Za-z0-9_./-]+$/
const MAX_LAYER_LEVELS = 14
const PAGE_SIZE = 10 // the API maximum for GetParametersByPath
const MAX_PAGES = 1000 // a runaway NextToken loop is an outage, not an endless read
const TAG_READS_IN_PARALLEL = 4 // ListTagsForResource has a low per-account rate limit

function ssmTemplateProblem (template: string): string | undefined {
  if (!template.startsWith('/') || template.endsWith('/')) return 'must start with "/" and not end with "/"'
  const segments = segmentProblem(template.slice(1))
  if (segments !== undefined) return segments
  if (/^\/(aws|ssm)(\/|$)/i.test(template)) return 'must not use the reserved /aws or /ssm prefixes'
  if (template.split('/').length - 1 > MAX_LAYER_LEVELS) return `must have at most ${MAX_LAYER_LEVELS} levels`
  return alphabetProblem(template, SSM_NAME_ALPHABET)
}

type Tags = Record<string, string>

/** Attributes of a file parameter from its tags; a string says why the entry cannot be served. */
export function fileFromTags (path: string, data: string, tags: Tags): FileEntry | string {
  const unknown = Object.keys(tags).filter(k => k.startsWith('nf-') && !KNOWN_TAGS.has(k))
  if (unknown.length > 0) return `unknown file attribute tag ${unknown.join(', ')}`
  const encoding = normaliseEncoding(tags[FILE_TAGS.encoding])
  if (encoding === undefined) return `tag ${FILE_TAGS.encoding} is neither utf-8 nor base64`
  if (encoding === 'base64' && !isBase64(data)) return 'data is not valid base64'
  const attributes = metadataAttributes(name => tags[name], FILE_TAGS, 'tag')
  if (typeof attributes === 'string') return attributes
  return { type: 'FILE', path, data, encoding, ...attributes }
}

type SsmOptions = typeof options

/**
 * SSM has no folders: a path with no parameters is an empty layer, never "not there". What is not
 * there is the service: an answer without a Parameters list (SSM always sends one, empty or not)
 * comes from an endpoint that is not SSM (a wrong endpoint override, a proxy): unavailable, never
 * an empty layer. A region without SSM does not resolve (unavailable), a disabled region or a
 * refused path prefix is AccessDenied / UnrecognizedClient (denied).
 */
function parametersOf (page: { Parameters?: Parameter[] }, what: string): Parameter[] {
  if (!Array.isArray(page.Parameters)) throw storeError('unavailable', `${what}: the answer has no Parameters list (is the endpoint SSM?)`)
  return page.Parameters
}

/** Runs both walks; when one fails the other is aborted instead of retrying on in the background. */
async function bothOrNone<A, B> (signal: AbortSignal, start: (inner: AbortSignal) => [Promise<A>, Promise<B>]): Promise<[A, B]> {
  const failed = new AbortController()
  const [a, b] = start(AbortSignal.any([signal, failed.signal]))
  const abortOnFailure = (err: unknown): never => { failed.abort(); throw err }
  return await Promise.all([a.catch(abortOnFailure), b.catch(abortOnFailure)])
}

/** The part of a template before its first placeholder's folder: "/nf/{projectId}/x" -> "/nf". */
function fixedFolder (template: string): string {
  const placeholder = template.indexOf('{')
  if (placeholder < 0) return template
  const cut = template.lastIndexOf('/', placeholder)
  return cut <= 0 ? '/' : template.slice(0, cut)
}

export function createSsmBackend (config: Parameters<BackendDefinition<SsmOptions>['create']>[0], { locate, templates }: BackendContext, seam: AwsSeam<SSMClient> = {}): Backend {
  const client = new SSMClient(awsClientConfig(config, seam))
  seam.observe?.(client)
  // Tags are read once per parameter version: a new value is a new version, so the key changes.
  const tagCache = config.tagCacheSeconds > 0 ? new LRUCache<string, Tags>({ max: 10_000, ttl: config.tagCacheSeconds * 1000 }) : undefined
  const served = (value: string | undefined): string => value === config.emptyValue ? '' : value ?? ''

  async function walk (path: string, recursive: boolean, signal: AbortSignal): Promise<Parameter[]> {
    const found: Parameter[] = []
    let token: string | undefined
    let pages = 0
    do {
      if (++pages > MAX_PAGES) throw awsStoreError(new Error('too many pages'), `GetParametersByPath ${path}`)
      const page = await client.send(new GetParametersByPathCommand({
        Path: path, Recursive: recursive, WithDecryption: true, MaxResults: PAGE_SIZE, NextToken: token
      }), { abortSignal: signal }).catch((err: unknown) => { throw awsStoreError(err, `GetParametersByPath ${path}`) })
      found.push(...parametersOf(page, `GetParametersByPath ${path}`))
      token = page.NextToken
    } while (token !== undefined && token !== '')
    return found
  }

  async function tagsOf (parameter: Parameter, signal: AbortSignal): Promise<Tags> {
    const name = parameter.Name ?? ''
    const key = `${name}\n${parameter.Version ?? ''}\n${parameter.LastModifiedDate?.getTime() ?? ''}`
    const cached = tagCache?.get(key)
    if (cached !== undefined) return cached
    try {
      const answer = await client.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: name }), { abortSignal: signal })
      const tags = Object.fromEntries((answer.TagList ?? []).map(t => [t.Key ?? '', t.Value ?? '']))
      tagCache?.set(key, tags)
      return tags
    } catch (err) {
      throw awsStoreError(err, `ListTagsForResource ${name}`)
    }
  }

  /** Tags of many parameters, a few calls at a time (only parameters not in the cache cost a call). */
  async function tagsOfAll (parameters: Parameter[], signal: AbortSignal): Promise<Tags[]> {
    const tags: Tags[] = new Array(parameters.length)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < parameters.length) {
        const i = next++
        tags[i] = await tagsOf(parameters[i] as Parameter, signal)
      }
    }
    await Promise.all(Array.from({ length: Math.min(TAG_READS_IN_PARALLEL, parameters.length) }, worker))
    return tags
  }

  // One walk per read when no locator can lie below another identity's (proven from the
  // templates): the walk then holds only this layer's parameters, and those below it that are
  // neither direct children nor under _files are skipped as the two walks never see them.
  // Otherwise a recursive walk of, say, a project path /nf/p1 would page through every object's
  // parameters under /nf/p1/..., so calls per read would grow with what other identities store.
  const oneWalk = !templates.some(t => mayNestLocators(t, templates, '/'))

  /** The layer's direct children and its file parameters (below _files/). */
  async function parametersOfLayer (locator: string, filesPath: string, signal: AbortSignal): Promise<[Parameter[], Parameter[]]> {
    if (!oneWalk) return await bothOrNone(signal, inner => [walk(locator, false, inner), walk(filesPath, true, inner)])
    const children: Parameter[] = []
    const files: Parameter[] = []
    for (const parameter of await walk(locator, true, signal)) {
      const name = parameter.Name ?? ''
      if (name.startsWith(`${filesPath}/`)) files.push(parameter)
      else if (name.startsWith(`${locator}/`) && !name.includes('/', locator.length + 1)) children.push(parameter)
    }
    return [children, files]
  }

  async function read (locator: string, signal: AbortSignal): Promise<ReadResult> {
    signal.throwIfAborted()
    const filesPath = `${locator}/${FILES_FOLDER}`
    const [children, files] = await parametersOfLayer(locator, filesPath, signal)
    if (children.length === 0 && files.length === 0) return { found: false }
    const entries: Entry[] = []
    const invalid: InvalidEntry[] = []
    for (const parameter of children) {
      const key = (parameter.Name ?? '').slice(locator.length + 1)
      if (key === FILES_FOLDER) invalid.push({ key, reason: `${FILES_FOLDER} is the folder of file parameters, not an ENV name` })
      else if (!ENV_NAME.test(key)) invalid.push({ key, reason: 'parameter name is not an environment variable name' })
      // StringList values arrive comma-joined: served as that text.
      else entries.push({ type: 'ENV', key, value: served(parameter.Value) })
    }
    const tags = await tagsOfAll(files, signal)
    files.forEach((parameter, i) => {
      const path = (parameter.Name ?? '').slice(filesPath.length)
      const result = fileFromTags(path, served(parameter.Value), tags[i] ?? {})
      if (typeof result === 'string') invalid.push({ key: path, reason: result })
      else entries.push(result)
    })
    return { found: true, entries, invalid }
  }

  // Readiness: the read permission itself on the global path (no account-wide list permission
  // needed); a global template with placeholders falls back to its fixed leading folder.
  const probePath = fixedFolder(templates.find(t => t.layer === 'global')?.text ?? '/')

  return {
    name: config.name,
    type: 'aws-ssm',
    locate,
    callsPerRead: oneWalk ? 1 : 2,
    async read (locator, signal) {
      try {
        return await read(locator, signal)
      } catch (err) {
        if (isStoreError(err)) throw err
        throw awsStoreError(err, `read ${locator}`) // an abort before any call
      }
    },
    async ready (signal) {
      try {
        const page = await client.send(new GetParametersByPathCommand({ Path: probePath, Recursive: false, WithDecryption: false, MaxResults: 1 }), { abortSignal: signal })
        parametersOf(page, `GetParametersByPath ${probePath} (readiness)`)
      } catch (err) {
        if (isStoreError(err)) throw err
        throw awsStoreError(err, `GetParametersByPath ${probePath} (readiness)`)
      }
    },
    async close () {
      client.destroy()
    }
  }
}

export const ssmDefinition: BackendDefinition<SsmOptions> = {
  type: 'aws-ssm',
  options,
  // SSM allows about 40 calls/s per account and region (standard throughput), shared by
  // GetParameter(s), GetParametersByPath and every other client of the account. The budget counts
  // API calls: a read is one GetParametersByPath walk with the default templates, two with
  // templates that nest (Backend.callsPerRead; more with pages or file tags, which the headroom
  // covers), so 30 calls/s is 30 or 15 reads/s and leaves a quarter of the quota to others.
  budget: { callsPerSecond: 30, burst: 20, callsPerRead: 2, concurrency: 4, maxQueue: 2000 },
  locators: { defaults: SSM_DEFAULT_TEMPLATES, check: ssmTemplateProblem },
  create: (config, context) => createSsmBackend(config, context)
}
