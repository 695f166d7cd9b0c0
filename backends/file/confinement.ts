// Where a file store read may go, decided on every read (docs: README "file").
// 1. The store is there: root exists and is a folder nf-secret-source can read, and so is the top
//    folder of every template (its literal folders before the first placeholder: northflank/ for
//    the defaults). Otherwise NFSS_STORE_UNAVAILABLE (a volume that did not mount), or
//    NFSS_STORE_DENIED when permissions refuse it; never an empty layer. Below a top folder, a
//    missing folder or file is an empty layer (a project or object with nothing stored).
// 2. Confinement: the real path of a locator's file (and of each folder on the way to it) must be
//    inside the real path of root AND be that locator's own path there, except for leading folders
//    whose names start with ".." (the data folders of a Kubernetes Secret or ConfigMap volume:
//    root/..data -> ..2024_06_01_..., root/northflank -> ..data/northflank). A symbolic link that
//    leads outside root, or to another locator's file or folder, is NFSS_STORE_MALFORMED: not served.
//    Hard links cannot be told apart from files and are not detected.
import { access, constants, lstat, realpath, stat } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import type { LayerTemplate } from '../../src/core/locator.js'
import { storeError, type StoreError } from '../../src/store/errors.js'

/** "northflank/{projectId}/_shared" -> "northflank"; "northflank/_global" -> "northflank"; "{projectId}/x" -> "" (root). */
export function topFolderOf (template: Pick<LayerTemplate, 'text'>): string {
  const folders = template.text.split('/').slice(0, -1)
  const placeholder = folders.findIndex(s => s.includes('{'))
  return (placeholder < 0 ? folders : folders.slice(0, placeholder)).join('/')
}

function errno (err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).name ?? 'Error'
}

/** A failed file system call -> the store error for it; `what` names the call and the path relative to root. */
export function ioError (err: unknown, what: string): StoreError {
  const code = errno(err)
  return storeError(code === 'EACCES' || code === 'EPERM' ? 'denied' : 'unavailable', `${what} (${code})`)
}

export interface FileStore {
  /** Resolves with the real path of root when the store is there (root and every top folder); throws otherwise. */
  there: () => Promise<string>
  /**
   * The real path to read for `name` (a "/"-separated path relative to root), checked against the
   * confinement rule; undefined when it does not exist and the store is there (an empty layer).
   */
  resolve: (name: string) => Promise<string | undefined>
}

export function fileStore (baseDir: string, configuredRoot: string, topFolders: readonly string[]): FileStore {
  const root = resolve(baseDir, configuredRoot)
  const tops = [...new Set(topFolders)].filter(f => f !== '')

  function rootProblem (err: unknown): StoreError {
    const code = errno(err)
    const what = `root folder ${configuredRoot} is not readable (${code})`
    if (code === 'EACCES' || code === 'EPERM') return storeError('denied', what)
    return storeError('unavailable', code === 'ENOENT' ? `${what}: it does not exist (a volume that did not mount?)` : what)
  }

  /** Root's real path: it exists, is a folder, and can be listed and searched. A cheap check on every read. */
  async function realRoot (): Promise<string> {
    let real: string
    try {
      real = await realpath(root)
      if (!(await stat(real)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' })
      await access(real, constants.R_OK | constants.X_OK)
    } catch (err) {
      throw rootProblem(err)
    }
    return real
  }

  /** Throws unless `real` is where `lexical` must be under root (see the rule at the top). */
  function confine (real: string, rootReal: string, lexical: string): void {
    const rel = relative(rootReal, real)
    const segments = rel === '' ? [] : rel.split(sep)
    if (segments[0] === '..' || isAbsolute(rel)) {
      throw storeError('malformed', `${lexical} resolves outside the root folder (a symbolic link to ${real}): not served`)
    }
    const wanted = lexical.split('/')
    const extra = segments.length - wanted.length
    const own = extra >= 0 && segments.slice(0, extra).every(s => s.startsWith('..')) && wanted.every((s, i) => segments[extra + i] === s)
    if (!own) throw storeError('malformed', `${lexical} is a symbolic link to ${segments.join('/')}, another path under root: not served`)
  }

  async function topFoldersThere (rootReal: string): Promise<void> {
    for (const top of tops) {
      let real: string
      try {
        real = await realpath(join(root, top))
      } catch (err) {
        if (errno(err) === 'ENOENT') throw storeError('unavailable', `folder ${top}/ under root folder ${configuredRoot} does not exist: the store's top folder is missing (a volume that did not mount?)`)
        throw ioError(err, `cannot resolve folder ${top}/ under root folder ${configuredRoot}`)
      }
      confine(real, rootReal, top)
      const info = await stat(real).catch((err: unknown) => { throw ioError(err, `cannot stat folder ${top}/`) })
      if (!info.isDirectory()) throw storeError('unavailable', `${top} under root folder ${configuredRoot} is not a folder`)
    }
  }

  /** realpath() failed on `name`: find the first part that is not there, and why. */
  async function walk (rootReal: string, name: string): Promise<string | undefined> {
    const segments = name.split('/')
    let real = rootReal
    for (let i = 1; i <= segments.length; i++) {
      const lexical = segments.slice(0, i).join('/')
      const path = join(root, lexical)
      try {
        real = await realpath(path)
      } catch (err) {
        const code = errno(err)
        if (code === 'ENOTDIR') throw storeError('unavailable', `${segments.slice(0, i - 1).join('/')} is not a folder`)
        if (code !== 'ENOENT') throw ioError(err, `cannot resolve ${lexical}`)
        // A link to nothing is a broken store, not "nothing stored".
        if ((await lstat(path).catch(() => undefined))?.isSymbolicLink() === true) throw storeError('unavailable', `${lexical} is a symbolic link to nothing`)
        await topFoldersThere(rootReal)
        return undefined
      }
      confine(real, rootReal, lexical)
    }
    return real // it appeared meanwhile
  }

  return {
    async there () {
      const rootReal = await realRoot()
      await topFoldersThere(rootReal)
      return rootReal
    },
    async resolve (name) {
      const rootReal = await realRoot()
      let real: string
      try {
        real = await realpath(join(root, name))
      } catch (err) {
        const code = errno(err)
        if (code === 'ENOENT' || code === 'ENOTDIR') return await walk(rootReal, name)
        throw ioError(err, `cannot resolve ${name}`)
      }
      confine(real, rootReal, name)
      return real
    }
  }
}
