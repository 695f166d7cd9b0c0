// Starts nf-secret-source from a loaded config: backends, the public app and its listener.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Backend, BackendDefinition } from '../backends/port.js'
import { backendDefinitions, createBackends } from '../backends/registry.js'
import { buildApp } from './app.js'
import type { LoadedConfig } from './config/load.js'
import type { StoreReader } from './resolver.js'
import { callStore } from './store-call.js'

export interface Service {
  app: FastifyInstance
  backends: Backend[]
  /** The public URL the secret route answers on. */
  url: string
  close: () => Promise<void>
}

export function directReader (timeoutMsOf: (backend: Backend) => number): StoreReader {
  return async (backend, locator) => ({ result: await callStore(backend, locator, timeoutMsOf(backend)), cache: 'off' })
}

export interface ServiceOptions {
  /** The store types to build from; tests add in-process test backends here. */
  definitions?: readonly BackendDefinition<any>[]
}

export async function startService ({ config, baseDir }: LoadedConfig, logger: Logger, { definitions = backendDefinitions }: ServiceOptions = {}): Promise<Service> {
  const backends = await createBackends(config.backends, { logger, baseDir, layers: config.layers }, definitions)
  const timeouts = new Map(config.backends.map(b => [b.name, b.timeoutSeconds * 1000]))
  const app = await buildApp({ config, backends, logger, read: directReader(b => timeouts.get(b.name) ?? 5000) })
  await app.listen({ host: config.server.host, port: config.server.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : config.server.port
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host
  return {
    app,
    backends,
    url: `http://${host}:${port}${config.server.path}`,
    async close () {
      await app.close()
      await Promise.allSettled(backends.map(b => b.close()))
    }
  }
}
