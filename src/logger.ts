// pino with redaction of the Authorization header and of fields that could carry a secret,
// in case some code path logs one by mistake (the tests search captured logs for every value).
// Exact paths only: wildcard paths made pino clone every line, 160 µs per request (measured).
import { pino, type DestinationStream, type Logger } from 'pino'
import { logDestination } from './log-stream.js'

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  'value',
  'data',
  'secrets',
  // node's clientError (malformed or oversized request, logged by Fastify at trace) carries
  // the raw request bytes, Authorization header included.
  'err.rawPacket',
  'err.config',
  'err.request',
  'err.response'
]

/**
 * Without a destination, logs go to stdout asynchronously: a synchronous write per audit line
 * was the largest cost of a warm request. The lines of one event-loop turn are written together
 * (src/log-stream.ts), and what is pending is written out on exit.
 */
export function createLogger (level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'nf-secret-source' } }
  return pino(options, destination ?? logDestination(1))
}
