// type: file — one secret document per locator at <root>/<locator>.yaml.
// For small setups, local trials and the demo; reads are plain file reads.
import { access, constants, readFile } from 'node:fs/promises'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { Type } from '@sinclair/typebox'
import { parseDocument } from '../../src/core/document.js'
import { DEFAULT_TEMPLATES } from '../../src/core/locator.js'
import { readYamlDocument } from '../../src/core/yaml-document.js'
import { storeError } from '../../src/store/errors.js'
import type { BackendDefinition, ReadResult } from '../../src/store/port.js'
import { relativePathProblem } from '../../src/store/templates.js'

const options = Type.Object({
  root: Type.String({ minLength: 1, default: './secrets', description: 'folder holding <locator>.yaml files; relative to the config file' })
})

export const fileDefinition: BackendDefinition<typeof options> = {
  type: 'file',
  options,
  // Relative paths of plain segments keep every locator inside root; ids cannot hold "/" or "..".
  locators: { defaults: DEFAULT_TEMPLATES, check: relativePathProblem },
  create (config, { baseDir, locate }) {
    const root = resolve(baseDir, config.root)

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
      locate,
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
