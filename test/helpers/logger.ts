import { Writable } from 'node:stream'
import type { Logger } from 'pino'
import { createLogger } from '../../src/logger.js'

export function silentLogger (): Logger {
  return createLogger('silent')
}

/** A logger whose every line is kept, to search the output for leaks. */
export function capturingLogger (level = 'trace'): { logger: Logger, lines: () => string } {
  const chunks: string[] = []
  const sink = new Writable({ write (chunk, _enc, done) { chunks.push(String(chunk)); done() } })
  return { logger: createLogger(level, sink), lines: () => chunks.join('') }
}

/** A JSON log line without its time: two loggers' lines compared as written. */
export function withoutTime (line: string): unknown {
  const { time: _time, ...rest } = JSON.parse(line) as Record<string, unknown>
  return rest
}
