// Starts the real service (config loader, registry, Fastify, listener) on 127.0.0.1:<free port>.
import type { Logger } from 'pino'
import type { BackendDefinition } from '../../src/store/port.js'
import { loadConfig } from '../../src/config/load.js'
import type { Identity } from '../../src/core/identity.js'
import { startService, type Service } from '../../src/server.js'
import { signToken, type SignOptions } from '../../src/token.js'
import { silentLogger } from './logger.js'

export const TEST_SECRET = 'test-secret-0123456789abcdef-0123456789abcdef'

export interface TestService {
  service: Service
  url: string
  token: (identity: Identity, options?: Partial<SignOptions>) => string
  /** GET the secret route as `identity` over real HTTP. */
  fetchAs: (identity: Identity) => Promise<Response>
  close: () => Promise<void>
}

/** `document` is merged over a loopback-only base config with TEST_SECRET. */
export async function startTestService (document: Record<string, unknown>, options: { logger?: Logger, baseDir?: string, definitions?: readonly BackendDefinition<any>[] } = {}): Promise<TestService> {
  const base = {
    server: { host: '127.0.0.1', port: 0 },
    ops: { host: '127.0.0.1', port: 0 },
    auth: { secrets: [TEST_SECRET] }
  }
  const loaded = loadConfig({ document: { ...base, ...document }, env: {}, baseDir: options.baseDir, definitions: options.definitions })
  const service = await startService(loaded, options.logger ?? silentLogger(), { definitions: options.definitions })
  const token = (identity: Identity, signOptions: Partial<SignOptions> = {}): string => signToken(identity, { secret: TEST_SECRET, ...signOptions })
  return {
    service,
    url: service.url,
    token,
    fetchAs: async identity => await fetch(service.url, { headers: { authorization: `Bearer ${token(identity)}` } }),
    close: async () => { await service.close() }
  }
}
