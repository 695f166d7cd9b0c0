// A TCP proxy on 127.0.0.1 that puts faults between the service and a real test store:
// latency, reset, blackhole (accept, never answer) and slow-drip (one byte at a time).
// Changing the fault drops live connections, so keep-alive clients meet the new one.
import { createServer, connect, type Socket } from 'node:net'

export type Fault =
  | { kind: 'none' }
  | { kind: 'latency', ms: number }
  | { kind: 'reset' }
  | { kind: 'blackhole' }
  | { kind: 'slow-drip', msPerByte: number }

export interface FaultProxy {
  /** http://127.0.0.1:<port> */
  url: string
  set: (fault: Fault) => void
  /** Connections accepted so far. */
  connections: () => number
  close: () => Promise<void>
}

export async function startFaultProxy (targetPort: number): Promise<FaultProxy> {
  let fault: Fault = { kind: 'none' }
  let accepted = 0
  const live = new Set<Socket>()
  const track = (socket: Socket): Socket => {
    live.add(socket)
    socket.on('close', () => live.delete(socket))
    socket.on('error', () => socket.destroy())
    return socket
  }

  const server = createServer(client => {
    accepted++
    track(client)
    const current = fault
    if (current.kind === 'reset') { client.resetAndDestroy(); return }
    if (current.kind === 'blackhole') { client.resume(); return } // read and drop, answer nothing
    const open = (): void => {
      if (client.destroyed) return
      const upstream = track(connect(targetPort, '127.0.0.1'))
      client.pipe(upstream)
      upstream.on('close', () => client.destroy())
      client.on('close', () => upstream.destroy())
      if (current.kind !== 'slow-drip') {
        upstream.pipe(client)
        return
      }
      // One byte per msPerByte: a store that answers, but too slowly to be useful.
      const queue: number[] = []
      let timer: NodeJS.Timeout | undefined
      upstream.on('data', (chunk: Buffer) => {
        queue.push(...chunk)
        timer ??= setInterval(() => {
          const byte = queue.shift()
          if (byte === undefined) { clearInterval(timer); timer = undefined; return }
          client.write(Buffer.of(byte))
        }, current.msPerByte)
      })
      client.on('close', () => clearInterval(timer))
    }
    if (current.kind === 'latency') setTimeout(open, current.ms)
    else open()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    set (next) {
      fault = next
      for (const socket of live) socket.destroy()
    },
    connections: () => accepted,
    async close () {
      for (const socket of live) socket.destroy()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
