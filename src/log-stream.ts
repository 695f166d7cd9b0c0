// The log destinations (stdout, stderr, a file) as pino's sonic-boom, with the lines of the last
// BATCH_MS handed to it as one write. sonic-boom 4 measures its pending buffer with
// Buffer.byteLength on every write, and that buffer is every line not yet written, concatenated:
// with an audit line per request that came to about 3 µs a line; and each of its writes is a
// trip through libuv's thread pool. Each line is encoded into the batch's buffer as it comes, so
// no line waits as a JS string (a string kept for 20 ms outlives a young-generation collection
// and is copied by it; the buffer's bytes are outside the JS heap): a route writing an audit line
// per request took 2% less CPU so. Lines stay in order and reach the stream at most BATCH_MS
// late (sonic-boom writes asynchronously anyway); flush, flushSync, reopen and end hand over what
// is pending first, and so does process exit. A crash can lose what is pending, as it can lose
// what sonic-boom holds.
import { pino } from 'pino'

type SonicBoom = ReturnType<typeof pino.destination>

/** Streams with lines not yet handed to sonic-boom: written out on exit, held only until then. */
const undrained = new Set<BatchedLogStream>()
/**
 * Lines are handed over at most this long after they were logged.
 * Measured with an audit line per request: handing them over once per turn left a sonic-boom
 * write (a libuv thread and its wake-ups) per turn; a bare Fastify route that writes a small audit
 * line went from 0.69 to 0.79 of the same route without it, in requests per CPU-second, when its
 * lines were handed over every 20 ms instead.
 */
export const BATCH_MS = 20
/** Bytes of one batch: a fuller batch is handed over at once, whatever the timer says. */
const BATCH_BYTES = 256 * 1024
/** The most bytes a UTF-16 code unit becomes in UTF-8. */
const MAX_UTF8_PER_UNIT = 3
let exitHookInstalled = false

export class BatchedLogStream {
  /** The batch being filled, one buffer for the stream's life: what is handed over is a copy. */
  #batch: Buffer | undefined
  #used = 0
  #scheduled = false
  readonly #drain = (): void => { this.drain() }

  /** `sonic` takes buffers (contentMode 'buffer'). */
  constructor (readonly sonic: SonicBoom, private readonly batchMs = BATCH_MS) {}

  write (line: string): boolean {
    const worstCase = line.length * MAX_UTF8_PER_UNIT
    if (this.#batch !== undefined && this.#used + worstCase > this.#batch.length) this.drain()
    if (worstCase > BATCH_BYTES) {
      // Longer than a batch: handed over alone, after what was pending.
      this.#handOver(Buffer.from(line, 'utf8'))
      return true
    }
    this.#batch ??= Buffer.allocUnsafeSlow(BATCH_BYTES)
    this.#used += this.#batch.write(line, this.#used, 'utf8')
    if (!this.#scheduled) {
      this.#scheduled = true
      undrained.add(this)
      if (!exitHookInstalled) {
        exitHookInstalled = true
        process.once('exit', () => {
          for (const stream of undrained) {
            try { stream.flushSync() } catch { /* a file not open yet, or closed: nothing more to do at exit */ }
          }
        })
      }
      setTimeout(this.#drain, this.batchMs).unref()
    }
    return true
  }

  /** Hands the pending lines to sonic-boom (which writes them asynchronously). */
  drain (): void {
    this.#scheduled = false
    undrained.delete(this)
    if (this.#batch === undefined || this.#used === 0) return
    // A copy of the bytes used: sonic-boom keeps what it is given until it is written.
    const bytes = Buffer.from(this.#batch.subarray(0, this.#used))
    this.#used = 0
    this.#handOver(bytes)
  }

  /** In contentMode 'buffer' sonic-boom's write takes a Buffer (its types only know strings). */
  #handOver (bytes: Buffer): void {
    (this.sonic as unknown as { write: (data: Buffer) => boolean }).write(bytes)
  }

  flush (cb?: (err?: Error) => void): void {
    this.drain()
    this.sonic.flush(cb)
  }

  flushSync (): void {
    this.drain()
    this.sonic.flushSync()
  }

  reopen (file?: string | number): void {
    this.drain()
    this.sonic.reopen(file)
  }

  end (): void {
    this.drain()
    this.sonic.end()
  }

  on (event: string, listener: (...args: any[]) => void): this {
    this.sonic.on(event, listener)
    return this
  }
}

/** pino.destination (asynchronous), batched. */
export function logDestination (dest: number | string, batchMs = BATCH_MS): BatchedLogStream {
  return new BatchedLogStream(pino.destination({ dest, sync: false, contentMode: 'buffer' }), batchMs)
}
