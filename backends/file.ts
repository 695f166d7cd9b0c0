// type: file — one secret document per locator at <root>/<locator>.yaml.
// For small setups, local trials and the demo; reads are plain file reads.
import { access, constants, readFile } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { Type } from '@sinclair/typebox'
import { parseDocument } from '../src/core/document.js'
import { DEFAULT_TEMPLATES, layerTemplates, templateLocator } from '../src/core/locator.js'
import { readYamlDocument } from '../src/core/yaml-document.js'
import { storeError } from '../src/errors.js'
import type { BackendDefinition, ReadResult } from './port.js'

const options = Type.Object({
  root: Type.String({ minLength: 1, default: './secrets', description: 'folder holding <locator>.yaml files; relative to the config file' })
})

/** Keeps a locator template from escaping the root; ids themselves cannot contain "/" or "..". */
function templateProblem (template: string): string | undefined {
  if (template.startsWith('/')) return 'must be relative to root'
  if (template.split('/').some(s => s === '..' || s === '.' || s === '')) return 'must not contain empty, . or .. segments'
  return undefined
}

export const fileBackend: BackendDefinition<typeof options> = {
  type: 'file',
  options,
  create (config, { baseDir }) {
    const root = resolve(baseDir, config.root)
    const templates = layerTemplates(config.locators, DEFAULT_TEMPLATES)
    for (const [layer, template] of Object.entries(templates)) {
      const problem = templateProblem(template)
      if (problem !== undefined) throw new Error(`backend ${config.name}: locators.${layer} ${problem}`)
    }

    function pathOf (locator: string): string {
      const path = resolve(root, `${locator}.yaml`)
      const inside = relative(root, path)
      // Defence in depth: validated ids and templates already keep paths inside root.
      if (inside.startsWith(`..${sep}`) || isAbsolute(inside)) throw storeError('malformed', `locator ${locator} leaves the root folder`)
      return path
    }

    return {
      name: config.name,
      type: 'file',
      locate: templateLocator(templates),
      async read (locator, signal): Promise<ReadResult> {
        const path = pathOf(locator)
        let text: string
        try {
          text = await readFile(path, { encoding: 'utf8', signal })
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code
          if (code === 'ENOENT') return { found: false }
          if (code === 'EACCES' || code === 'EPERM') throw storeError('denied', `cannot read ${locator}.yaml (${code})`)
          throw storeError('unavailable', `cannot read ${locator}.yaml (${code ?? (err as Error).name})`)
        }
        const yaml = readYamlDocument(text)
        if (!yaml.ok) throw storeError('malformed', `${locator}.yaml is not valid YAML${yaml.line === undefined ? '' : ` at line ${yaml.line}`}`)
        const parsed = parseDocument(yaml.value)
        if (!parsed.ok) throw storeError('malformed', `${locator}.yaml: ${parsed.reason}`)
        return { found: true, entries: parsed.entries, invalid: parsed.invalid }
      },
      async ready () {
        try {
          await access(root, constants.R_OK | constants.X_OK)
        } catch (err) {
          throw storeError('unavailable', `root folder ${config.root} is not readable (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
        }
      },
      async close () {}
    }
  }
}
