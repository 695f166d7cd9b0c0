// Runs the service until SIGTERM/SIGINT, then drains: readiness fails, the listener stops
// accepting, in-flight requests finish, backends close, exit 0 (close-with-grace).
import closeWithGrace from 'close-with-grace'
import type { Logger } from 'pino'
import type { LoadedConfig } from './config/load.js'
import { startService, type Service, type ServiceOptions } from './server.js'
import { SHUTDOWN_MS, startTracing, tracingFromEnv } from './tracing.js'

export async function serveUntilSignal (loaded: LoadedConfig, logger: Logger, options: ServiceOptions = {}): Promise<Service> {
  // OpenTelemetry traces from OTEL_* (src/tracing.ts); off unless OTEL_TRACES_EXPORTER names an exporter.
  const traces = tracingFromEnv(process.env)
  if (traces.note !== undefined) logger.warn(traces.note)
  const tracing = traces.settings === undefined ? undefined : await startTracing(traces.settings, logger)
  if (tracing !== undefined) logger.info({ exporters: tracing.settings.exporters, identifiers: tracing.settings.identifiers }, 'tracing on')
  const service = await startService(loaded, logger, options).catch(async (err: unknown) => { await tracing?.shutdown(); throw err })
  logger.info({ url: service.url, ops: service.opsUrl, backends: service.backends.map(b => `${b.name}:${b.type}`), layers: loaded.config.layers }, 'nf-secret-source listening')
  // The grace delay must cover the drain delay plus the slowest request: its headers may take
  // up to headersTimeoutSeconds to arrive, its answer up to requestTimeoutSeconds.
  const { server, log } = loaded.config
  const delay = (server.shutdownDelaySeconds + server.headersTimeoutSeconds + server.requestTimeoutSeconds + 5) * 1000 + (tracing === undefined ? 0 : SHUTDOWN_MS)
  // With an audit log file, SIGHUP reopens it (logrotate) instead of shutting down.
  const auditFile = !['log', 'stdout', 'stderr'].includes(log.audit.destination)
  if (auditFile) {
    process.on('SIGHUP', () => {
      service.reopenAuditLog()
      logger.info('audit log reopened')
    })
  }
  closeWithGrace({ delay, skip: auditFile ? ['SIGHUP'] : [] }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'shutting down after an error')
    else logger.info({ signal }, 'shutting down: draining')
    await service.close()
    await tracing?.shutdown() // the last spans (in-flight requests ended during close) are exported
    logger.info('stopped')
  })
  return service
}
