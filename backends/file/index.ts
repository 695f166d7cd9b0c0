// type: file — one secret document per locator at <root>/<locator>.yaml.
// For small setups, local trials and the demo; reads are plain file reads, confined to root
// (confinement.ts), and a store that is not there is never an empty layer.
import { readFile } from 'node:fs/promises'
import { Type } from '@sinclair/typebox'
import { parseDocument } from '../../src/core/document.js'
import { DEFAULT_TEMPLATES } from '../../src/core/locator.js'
import { readYamlDocument } from '../../src/core/yaml-document.js'
import { storeError } from '../../src/store/errors.js'
import type { BackendDefinition, ReadResult } from '../../src/store/port.js'
import { relativePathProblem } from '../../src/store/templates.js'
import { fileStore, ioError, topFolderOf } from './confinement.js'

const options = Type.Object({
  root: Type.String({ minLength: 1, default: './secrets', description: 'folder holding <locator>.yaml files; relative to the config file' })
})

/** Reads of a file that vanished between resolving and reading it (a Secret volume swapping its data folder) are retried this often. */
const ATTEMPTS = 3

export const fileDefinition: BackendDefinition<typeof options> = {
  type: 'file',
  options,
  // Relative paths of plain segments keep every locator inside root; ids cannot hold "/" or "..".
  locators: { defaults: DEFAULT_TEMPLATES, check: relativePathProblem },
  create (config, { baseDir, locate, templates }) {
    const store = fileStore(baseDir, config.root, templates.map(topFolderOf))

    return {
      name: config.name,
      type: 'file',
      locate,
      async read (locator, signal): Promise<ReadResult> {
        signal.throwIfAborted()
        const name = `${locator}.yaml`
        let text: string | undefined
        for (let attempt = 1; text === undefined; attempt++) {
          const file = await store.resolve(name)
          if (file === undefined) return { found: false }
          try {
            text = await readFile(file, { encoding: 'utf8', signal })
          } catch (err) {
            // Gone since it was resolved: an atomic update replaced its folder. Resolve it again;
            // a file that keeps vanishing is an outage, never an empty layer.
            if ((err as NodeJS.ErrnoException).code === 'ENOENT' && attempt < ATTEMPTS) continue
            throw ioError(err, `cannot read ${name}`)
          }
        }
        const yaml = readYamlDocument(text)
        if (!yaml.ok) throw storeError('malformed', `${name} is not valid YAML${yaml.line === undefined ? '' : ` at line ${yaml.line}`}`)
        const parsed = parseDocument(yaml.value)
        if (!parsed.ok) throw storeError('malformed', `${name}: ${parsed.reason}`)
        return { found: true, entries: parsed.entries, invalid: parsed.invalid }
      },
      async ready () {
        await store.there()
      },
      async close () {}
    }
  }
}
