// The ops listener, on its own port: /healthz, /readyz, /metrics. Never the secret route.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Backend } from './store/port.js'
import type { Metrics } from './metrics.js'

export interface OpsOptions {
  backends: readonly Backend[]
  metrics: Metrics
  logger: Logger
  readyTimeoutMs: number
  /** True once shutdown began: readiness fails so load balancers stop sending traffic. */
  draining: () => boolean
}

export async function buildOpsApp ({ backends, metrics, logger, readyTimeoutMs, draining }: OpsOptions): Promise<FastifyInstance> {
  const ops = Fastify({ loggerInstance: logger.child({ listener: 'ops' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) })

  ops.get('/healthz', async () => ({ status: 'ok' }))

  ops.get('/readyz', async (request, reply) => {
    if (draining()) return await reply.code(503).send({ status: 'draining' })
    const checks = await Promise.all(backends.map(async backend => {
      try {
        await backend.ready(AbortSignal.timeout(readyTimeoutMs))
        return [backend.name, 'ok'] as const
      } catch (err) {
        const detail = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${readyTimeoutMs} ms` : (err as Error).message
        request.log.warn({ backend: backend.name, detail }, 'backend not ready')
        return [backend.name, detail] as const
      }
    }))
    const ready = checks.every(([, state]) => state === 'ok')
    return await reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', backends: Object.fromEntries(checks) })
  })

  ops.get('/metrics', async (_request, reply) => {
    return await reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  })

  return ops
}
