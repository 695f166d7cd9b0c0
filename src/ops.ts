// The ops listener, on its own port: /healthz, /readyz, /stores, /metrics. Never the secret route.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { Gauge } from 'prom-client'
import type { Metrics } from './metrics.js'
import type { StoreHealth } from './store-health.js'

export interface OpsOptions {
  health: StoreHealth
  metrics: Metrics
  logger: Logger
  /** True once shutdown began: readiness fails so load balancers stop sending traffic. */
  draining: () => boolean
}

export async function buildOpsApp ({ health, metrics, logger, draining }: OpsOptions): Promise<FastifyInstance> {
  const ops = Fastify({ loggerInstance: logger.child({ listener: 'ops' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) })

  const ready = (): boolean => !draining() && health.allCheckedOnce()
  // Read at scrape time: the readiness alert counts ready replicas from the replicas' own metrics.
  new Gauge({ // eslint-disable-line no-new
    name: 'nf_secret_source_ready',
    help: '1 when /readyz answers 200 (every store passed a check since start, not draining)',
    registers: [metrics.registry],
    collect () { this.set(ready() ? 1 : 0) }
  })

  ops.get('/healthz', async () => ({ status: 'ok' }))

  // Ready = this replica can answer: not draining, and every store has passed a check once since
  // start. A store that fails later keeps the replica in service (stale copies, then 503s with the
  // reason); its state is in /stores and nf_secret_source_store_up. Answered from the background
  // checks: a probe never calls a store.
  ops.get('/readyz', async (_request, reply) => {
    if (draining()) return await reply.code(503).send({ status: 'draining' })
    const backends = Object.fromEntries(Object.entries(health.states()).map(([name, s]) => [name, s.detail]))
    const isReady = ready()
    return await reply.code(isReady ? 200 : 503).send({ status: isReady ? 'ready' : 'not ready', backends })
  })

  ops.get('/stores', async () => ({ stores: health.states() }))

  ops.get('/metrics', async (_request, reply) => {
    return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })

  return ops
}
