// Raw TCP clients for transport tests: what a slow or hostile client does, byte by byte.
import { connect, type Socket } from 'node:net'

export interface RawConnection {
  socket: Socket
  /** Everything the server sent so far. */
  received: () => string
  /** Settles when the server (or the network) closed the connection. */
  closed: Promise<{ afterMs: number, received: string }>
  /** Writes `text` one byte every `everyMs` until the connection closes; returns a stop function. */
  drip: (text: string, everyMs: number) => () => void
}

export async function openRaw (url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  let data = ''
  socket.on('data', chunk => { data += String(chunk) })
  socket.on('error', () => {}) // a reset is one way to be closed
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  const openedAt = performance.now()
  const closed = new Promise<{ afterMs: number, received: string }>(resolve => {
    socket.once('close', () => { resolve({ afterMs: performance.now() - openedAt, received: data }) })
  })
  const drip = (text: string, everyMs: number): (() => void) => {
    let i = 0
    const timer = setInterval(() => {
      if (socket.destroyed || socket.writableEnded || i >= text.length) { clearInterval(timer); return }
      socket.write(text[i++] as string)
    }, everyMs)
    socket.once('close', () => { clearInterval(timer) })
    return () => { clearInterval(timer) }
  }
  return { socket, received: () => data, closed, drip }
}

/** Resolves with `promise`'s value, or with `fallback` after `ms`. */
export async function within<T, F> (promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<F>(resolve => { timer = setTimeout(() => { resolve(fallback) }, ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}
