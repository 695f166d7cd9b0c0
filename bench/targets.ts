// The two servers the benchmark compares, each run in its own process:
//   service: nf-secret-source on examples/secrets (file backend), logging at info like production
//   bare:    a Fastify route that only verifies the same JWT with fast-jwt and returns a fixed body
//   soak:    nf-secret-source on the file backend and Secrets Manager (moto), small churning caches
import { join } from 'node:path'
import { createVerifier } from 'fast-jwt'
import Fastify from 'fastify'
import { loadConfig } from '../src/config/load.js'
import { createLogger } from '../src/logger.js'
import { packageRoot } from '../src/package-root.js'
import { startService } from '../src/server.js'

const [target, secret, fixedBody] = process.argv.slice(2) as [string, string, string]
// Exit (not die) on SIGTERM, so --cpu-prof can write its profile.
process.on('SIGTERM', () => process.exit(0))

if (target === 'service' || target === 'soak') {
  // soak: the file backend plus Secrets Manager on moto, with small caches that churn.
  const backends = target === 'service'
    ? [{ name: 'examples', type: 'file', root: './secrets' }]
    : [
        { name: 'examples', type: 'file', root: './secrets', cache: { ttl: 5, maxEntries: 2000 } },
        { name: 'sm', type: 'aws-secrets-manager', region: 'us-east-1', endpoint: process.env.SOAK_SM_ENDPOINT, cache: { ttl: 5, maxEntries: 2000 } }
      ]
  const loaded = loadConfig({
    env: {},
    baseDir: join(packageRoot(), 'examples'),
    document: {
      server: { host: '127.0.0.1', port: 0 },
      ops: { host: '127.0.0.1', port: 0 },
      auth: { secrets: [secret] },
      backends
    }
  })
  // The audit line goes to stdout as in production; the parent sends it to /dev/null.
  const service = await startService(loaded, createLogger('info'))
  process.send?.({ url: service.url, ops: service.opsUrl })
  // soak: on request, the heap after a full GC (run with --expose-gc), to tell a leak from a lazy GC.
  process.on('message', message => {
    if (message !== 'heap-after-gc') return
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    process.send?.({ heapAfterGc: gc === undefined ? undefined : process.memoryUsage().heapUsed })
  })
} else {
  const verify = createVerifier({ key: secret, algorithms: ['HS256'] })
  const app = Fastify({ logger: false })
  app.get('/', async (request, reply) => {
    try {
      verify((request.headers.authorization ?? '').slice('Bearer '.length))
    } catch {
      return await reply.code(401).send({ error: 'Unauthorized' })
    }
    return await reply.header('content-type', 'application/json; charset=utf-8').send(fixedBody)
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  process.send?.({ url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/` })
}
