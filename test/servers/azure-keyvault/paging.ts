// $skiptoken in the recordings' format: base64 of {"NextMarker":"2!<n>!<b64>","TargetLocation":0},
// where <b64> is a table-storage continuation ("000060!secret/NAME!000028!9999-12-31T23:59:59.9999999Z!",
// base64 with '=' written as '-') and <n> its length. Clients must treat it as opaque; keeping the
// shape lets the conformance test read ours the way it reads the recorded ones.
const storageTimestamp = '9999-12-31T23:59:59.9999999Z'

const lengthPrefixed = (s: string): string => `${s.length.toString().padStart(6, '0')}!${s}`

export function encodeSkipToken (storageKey: string): string {
  const continuation = Buffer.from(`${lengthPrefixed(storageKey)}!${lengthPrefixed(storageTimestamp)}!`)
    .toString('base64').replace(/=/g, '-')
  const marker = { NextMarker: `2!${continuation.length}!${continuation}`, TargetLocation: 0 }
  return Buffer.from(JSON.stringify(marker)).toString('base64url')
}

/** The storage key a skiptoken resumes at, or undefined when it is not one of ours. */
export function decodeSkipToken (token: string): string | undefined {
  try {
    const marker: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'))
    const next = (marker as { NextMarker?: unknown }).NextMarker
    if (typeof next !== 'string') return undefined
    const [, , continuation] = next.split('!')
    if (continuation === undefined) return undefined
    const [, key] = Buffer.from(continuation.replace(/-/g, '='), 'base64').toString('utf8').split('!')
    return key === undefined || key === '' ? undefined : key
  } catch {
    return undefined
  }
}
