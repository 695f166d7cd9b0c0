// The service under test of bench/burst.ts, in its own process so the load generator and the
// proxies cannot starve it: nf-secret-source from the compiled build (dist/), as production runs
// it, logging at info to stdout. The parent reads the audit lines and the "store read failed"
// lines (which say why a 503 happened) from that stream. Config arrives as JSON in argv[2].
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { packageRoot } from '../src/package-root.js'

const compiled = async <T>(path: string): Promise<T> => await import(pathToFileURL(join(packageRoot(), 'dist', path)).href) as T
const { loadConfig } = await compiled<typeof import('../src/config/load.js')>('src/config/load.js')
const { startService } = await compiled<typeof import('../src/server.js')>('src/server.js')
const { createLogger } = await compiled<typeof import('../src/logger.js')>('src/logger.js')

const document = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>
const logger = createLogger('info')
const service = await startService(loadConfig({ env: {}, baseDir: packageRoot(), document }), logger)
process.send?.({ url: service.url, ops: service.opsUrl })
process.on('SIGTERM', () => {
  // Flush the log (the parent counts its lines), then go.
  logger.flush(() => process.exit(0))
})
