// Rotating the JWT secret without a restart: `auth.secrets` entries written as `${file:PATH}` are
// re-read every auth.reloadIntervalSeconds (a mounted Kubernetes Secret changes when the kubelet
// swaps its ..data link; polling sees that where file watches on links do not). A new list that
// reads and validates applies to the next request; one that does not keeps the old list and says
// why. Never an empty list, never a secret in a log line or a metric: secrets are shown by index
// and a short fingerprint.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Gauge, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import { secretLines } from './config/load.js'

/** The secrets in force, replaced as a whole on rotation. */
export interface SecretSet {
  current: () => readonly string[]
  /** Called with the new list after each change (the verifiers are rebuilt from it). */
  onChange: (listener: (secrets: readonly string[]) => void) => void
  close: () => void
}

/** Where each configured secret came from: a file to watch, or a literal value (never re-read). */
export type SecretSource = { file: string } | { value: string }

/** RFC 7518 3.2, as the config schema says: an HS256 key at least as long as the hash. */
const MIN_SECRET_LENGTH = 32

/** A short, stable name for a secret in logs and metrics: not the secret, not enough to guess it. */
export function secretFingerprint (secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8)
}

function describe (secrets: readonly string[]): Array<{ index: number, fingerprint: string }> {
  return secrets.map((s, index) => ({ index, fingerprint: secretFingerprint(s) }))
}

/** Reads every source (a file: one secret per line); a string says why the list cannot be used. */
export function readSecrets (sources: readonly SecretSource[]): string[] | string {
  const secrets: string[] = []
  for (const [index, source] of sources.entries()) {
    let found: string[]
    if ('value' in source) found = [source.value]
    else {
      try {
        found = secretLines(readFileSync(source.file, 'utf8'))
      } catch (err) {
        return `auth.secrets[${index}]: cannot read ${source.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`
      }
      if (found.length === 0) return `auth.secrets[${index}]: ${source.file} holds no secret`
    }
    if (found.some(s => s.length < MIN_SECRET_LENGTH)) return `auth.secrets[${index}]: a secret shorter than ${MIN_SECRET_LENGTH} characters`
    secrets.push(...found)
  }
  return secrets.length === 0 ? 'auth.secrets: no secret' : secrets
}

export interface RotationOptions {
  sources: readonly SecretSource[]
  /** The list the config loader read at start-up. */
  initial: readonly string[]
  intervalMs: number
  logger: Logger
  registry: Registry
}

export function watchSecrets ({ sources, initial, intervalMs, logger, registry }: RotationOptions): SecretSet {
  let secrets: readonly string[] = [...initial]
  const listeners: Array<(secrets: readonly string[]) => void> = []
  const active = new Gauge({ name: 'nf_secret_source_auth_secret_active', help: 'the JWT secrets in force, by index and fingerprint (never the secret)', labelNames: ['index', 'fingerprint'], registers: [registry] })
  const reloads = new Gauge({ name: 'nf_secret_source_auth_secrets_reload_failed', help: '1 while the last re-read of auth.secrets failed (the previous list stays in force)', registers: [registry] })
  const publish = (): void => {
    active.reset()
    for (const { index, fingerprint } of describe(secrets)) active.set({ index: String(index), fingerprint }, 1)
  }
  publish()
  reloads.set(0)
  logger.info({ secrets: describe(secrets) }, 'auth secrets active')

  let lastProblem: string | undefined
  const check = (): void => {
    const read = readSecrets(sources)
    if (typeof read === 'string') {
      // Once per distinct problem, not once per poll.
      if (read !== lastProblem) logger.error({ problem: read, kept: describe(secrets) }, 'auth secrets not reloaded: the previous list stays in force')
      lastProblem = read
      reloads.set(1)
      return
    }
    lastProblem = undefined
    reloads.set(0)
    if (read.length === secrets.length && read.every((s, i) => s === secrets[i])) return
    secrets = read
    publish()
    logger.info({ secrets: describe(secrets) }, 'auth secrets reloaded')
    for (const listener of listeners) listener(secrets)
  }

  const watched = sources.some(s => 'file' in s)
  const timer = watched ? setInterval(check, intervalMs) : undefined
  timer?.unref()
  return {
    current: () => secrets,
    onChange: listener => { listeners.push(listener) },
    close: () => { if (timer !== undefined) clearInterval(timer) }
  }
}
