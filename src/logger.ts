// pino with redaction: the Authorization header and anything shaped like a secret value
// is censored even if some code path logs it by mistake.
import { pino, type DestinationStream, type Logger } from 'pino'

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'value',
  '*.value',
  'data',
  '*.data',
  'secrets',
  '*.secrets'
]

export function createLogger (level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'nf-secret-source' } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
