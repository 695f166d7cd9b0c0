// The log destination batches the lines of the last BATCH_MS into one sonic-boom write
// (src/log-stream.ts): lines must stay whole and in order, and none may be lost on flush or exit.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { logDestination } from '../src/log-stream.js'
import { packageRoot } from '../src/package-root.js'

/** What the stream hands to sonic-boom, one string per write, from now on. */
function handedOver (stream: ReturnType<typeof logDestination>): string[] {
  const writes: string[] = []
  const write = stream.sonic.write.bind(stream.sonic)
  stream.sonic.write = (data: string) => { writes.push(data); return write(data) }
  return writes
}

/** A log file in a folder of its own, removed after the test. */
function tempLogFile (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'nfss-log-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'out.log')
}

t.test('the lines of one batch reach sonic-boom as one write, in order; a later batch is another write', async t => {
  const file = tempLogFile(t)
  const stream = logDestination(file, 30)
  const writes = handedOver(stream)
  for (let i = 0; i < 100; i++) stream.write(`line ${i}\n`)
  await nextTurn()
  t.equal(writes.length, 0, 'nothing is handed over before the batch time')
  await sleep(60)
  t.equal(writes.length, 1, '100 lines of one batch: one write')
  stream.write('next turn\n')
  await sleep(60)
  t.equal(writes.length, 2, 'a later batch: another write')
  const expected = [...Array.from({ length: 100 }, (_, i) => `line ${i}`), 'next turn']
  t.same(await linesOnceWritten(file, expected.length), expected, 'every line, whole and in order')
})

/** The file's lines once it has `count` of them (sonic-boom writes asynchronously). */
async function linesOnceWritten (file: string, count: number): Promise<string[]> {
  for (let waited = 0; ; waited += 10) {
    const lines = readFileSync(file, 'utf8').split('\n').slice(0, -1)
    if (lines.length >= count || waited > 5000) return lines
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

t.test('flush and flushSync hand over what is pending at once', async t => {
  const file = tempLogFile(t)
  const stream = logDestination(file)
  await new Promise(resolve => stream.on('ready', resolve))
  stream.write('a\n')
  stream.flushSync()
  t.equal(readFileSync(file, 'utf8'), 'a\n', 'flushSync: written before the turn ends')
  stream.write('b\n')
  const writes = handedOver(stream)
  stream.flush()
  t.same(writes, ['b\n'], 'flush: handed to sonic-boom before the turn ends')
  t.same(await linesOnceWritten(file, 2), ['a', 'b'])
})

t.test('lines logged just before process.exit() in the same turn are not lost', async t => {
  const script = `
    import { createLogger } from './src/logger.ts'
    const log = createLogger('info')
    for (let i = 0; i < 500; i++) log.info({ i }, 'line')
    process.exit(0)
  `
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: packageRoot(), encoding: 'utf8' })
  const lines = out.trimEnd().split('\n').map(l => (JSON.parse(l) as { i: number }).i)
  t.same(lines, Array.from({ length: 500 }, (_, i) => i), 'all 500 lines, in order')
})

t.test('lines of any size and alphabet stay whole and in order: multi-byte characters, a full batch, a line longer than a batch', async t => {
  const file = tempLogFile(t)
  const stream = logDestination(file, 30)
  const writes = handedOver(stream)
  const expected: string[] = []
  const add = (line: string): void => { expected.push(line); stream.write(`${line}\n`) }
  add('é ü ß — 日本語 🙂')
  for (let i = 0; i < 3000; i++) add(`${i} ${'x'.repeat(100)} 🙂`) // about 320,000 characters: more than one batch
  const handedEarly = writes.length
  add('y'.repeat(300_000)) // longer than a batch on its own
  add('after the long one')
  await sleep(60)
  t.ok(handedEarly >= 1, 'a full batch is handed over before the timer')
  t.same(await linesOnceWritten(file, expected.length), expected, 'every line, byte for byte, in order')
})
