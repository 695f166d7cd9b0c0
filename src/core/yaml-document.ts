// A YAML secret document keeps what was written. YAML 1.2 reads `PIN: 0123` as the number 123,
// a 23-digit token as 1.2e+22 and `mode: 0o400` as 256; a secret must not change on the way
// through, so a plain scalar that YAML would read as a number or boolean keeps its source text.
// The one place a number means a number is Northflank's own `permissions.mode` (decimal), where a
// leading-zero octal spelling (`0644`) is kept as the octal string people mean.
import { isMap, isPair, isScalar, parseDocument, visit } from 'yaml'

export type YamlRead = { ok: true, value: unknown } | { ok: false, line?: number }

const OCTAL_SPELLING = /^0[0-7]{3,4}$/

export function readYamlDocument (text: string): YamlRead {
  const doc = parseDocument(text, { uniqueKeys: true })
  const [error] = doc.errors
  // The error's own message quotes the offending line, which may hold a secret: only its line.
  if (error !== undefined) return { ok: false, line: error.linePos?.[0].line }
  visit(doc, {
    Scalar (_key, node, path) {
      if (typeof node.value !== 'number' && typeof node.value !== 'bigint' && typeof node.value !== 'boolean') return
      if (node.source === undefined) return
      if (isPermissionsMode(path)) {
        if (OCTAL_SPELLING.test(node.source)) node.value = node.source
        return
      }
      node.value = node.source
    }
  })
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) }
  } catch {
    return { ok: false } // alias bombs (more than 100 alias expansions)
  }
}

/** Is this scalar the value of `permissions: { mode: ... }`? */
function isPermissionsMode (path: readonly unknown[]): boolean {
  const [permissionsPair, map, modePair] = path.slice(-3)
  return isPair(modePair) && isScalar(modePair.key) && modePair.key.value === 'mode' &&
    isMap(map) &&
    isPair(permissionsPair) && isScalar(permissionsPair.key) && permissionsPair.key.value === 'permissions'
}
