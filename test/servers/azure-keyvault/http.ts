// Request/response plumbing shared by the vault and identity routes.
import type { IncomingMessage, ServerResponse } from 'node:http'

/** One logged exchange (see KeyVaultTestServer.requests). */
export interface LoggedRequest {
  method: string
  path: string
  query: Record<string, string>
  status: number
  clientId?: string
  kind: 'vault' | 'token'
}

/** What a route handler learns about the caller, for the request log. */
export interface Caller {
  clientId?: string
}

const maxBodyBytes = 1024 * 1024

export async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buffer = chunk as Buffer
    size += buffer.length
    if (size > maxBodyBytes) throw new Error('request body too large')
    chunks.push(buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Writes `body` as compact JSON (what the recordings' Content-Length values count), or nothing. */
export function send (res: ServerResponse, status: number, headers: Record<string, string>, body?: unknown): void {
  const text = body === undefined ? undefined : JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    ...(text === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text).toString() })
  })
  res.end(text)
}
