// A FAKE: an SSM throttling proxy in front of the real moto server (moto itself never throttles).
// It enforces what AWS does to Parameter Store's standard throughput: one token bucket per
// account and region (40 calls/s, burst 40) shared by every SSM action. A call over the limit is
// answered as AWS answers it in the JSON 1.1 protocol: HTTP 400, x-amzn-ErrorType
// ThrottlingException, body {"__type":"ThrottlingException","message":"Rate exceeded"}; the
// SDK reads the error code from that header or __type and retries it as a throttle. Every other
// call is forwarded to moto unchanged. Calls forwarded and throttled are counted per action
// (the X-Amz-Target header, e.g. AmazonSSM.GetParametersByPath -> GetParametersByPath).
import { randomUUID } from 'node:crypto'
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ThrottlingProxyOptions {
  /** moto's endpoint, e.g. http://127.0.0.1:5000 */
  target: string
  callsPerSecond?: number
  burst?: number
  /** ms clock; tests may pass their own. */
  now?: () => number
}

export interface ActionCounts {
  forwarded: number
  throttled: number
}

export interface ThrottlingProxy {
  /** http://127.0.0.1:PORT: give it to the SSM client as its endpoint. */
  endpoint: string
  /** Per action: calls forwarded to moto and calls answered with ThrottlingException. */
  counts: () => Record<string, ActionCounts>
  totals: () => ActionCounts
  close: () => Promise<void>
}

export const THROTTLING_BODY = JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' })

export async function startSsmThrottlingProxy ({ target, callsPerSecond = 40, burst = 40, now = () => performance.now() }: ThrottlingProxyOptions): Promise<ThrottlingProxy> {
  let tokens = burst
  let refilledAt = now()
  const counts = new Map<string, ActionCounts>()
  const agent = new Agent({ keepAlive: true })
  const upstream = new URL(target)

  const take = (): boolean => {
    const at = now()
    tokens = Math.min(burst, tokens + (at - refilledAt) / 1000 * callsPerSecond)
    refilledAt = at
    if (tokens < 1) return false
    tokens -= 1
    return true
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const targetHeader = req.headers['x-amz-target']
    const action = (typeof targetHeader === 'string' ? targetHeader.split('.').pop() : undefined) ?? 'unknown'
    const count = counts.get(action) ?? { forwarded: 0, throttled: 0 }
    counts.set(action, count)
    if (!take()) {
      count.throttled++
      req.resume()
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.1',
        'content-length': Buffer.byteLength(THROTTLING_BODY),
        'x-amzn-requestid': randomUUID(),
        'x-amzn-errortype': 'ThrottlingException'
      })
      res.end(THROTTLING_BODY)
      return
    }
    count.forwarded++
    const forwarded = request({
      host: upstream.hostname,
      port: upstream.port,
      path: req.url,
      method: req.method,
      headers: req.headers,
      agent
    }, answer => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    forwarded.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end() })
    req.pipe(forwarded)
  })
  // The service may keep hundreds of sockets open during a burst.
  server.maxConnections = 100_000
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts: () => Object.fromEntries([...counts].map(([action, c]) => [action, { ...c }])),
    totals: () => [...counts.values()].reduce((sum, c) => ({ forwarded: sum.forwarded + c.forwarded, throttled: sum.throttled + c.throttled }), { forwarded: 0, throttled: 0 }),
    close: async () => {
      await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
      agent.destroy()
    }
  }
}
