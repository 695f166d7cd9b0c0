// timeoutSignal (src/store/timeout-signal.ts): a store call's deadline survives garbage collection
// (Node 20's AbortSignal.any lost it: nodejs/node#57736), follows the store's closing, and leaves
// no listener on the long-lived parent signal.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { timeoutSignal } from '../src/store/timeout-signal.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
/** Listeners on `signal` for 'abort', counted through a wrapped addEventListener/removeEventListener. */
const counted = (signal: AbortSignal): { listeners: () => number } => {
  let n = 0
  const add = signal.addEventListener.bind(signal)
  const remove = signal.removeEventListener.bind(signal)
  signal.addEventListener = ((...args: Parameters<AbortSignal['addEventListener']>) => { n++; add(...args) }) as AbortSignal['addEventListener']
  signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => { n--; remove(...args) }) as AbortSignal['removeEventListener']
  return { listeners: () => n }
}

t.test('lost-timeout: garbage collections before the deadline do not cancel it', async t => {
  const signal = timeoutSignal(new AbortController().signal, 200)
  let reason: unknown
  signal.addEventListener('abort', () => { reason = signal.reason })
  for (let i = 0; i < 5; i++) { gc(); await sleep(20) }
  await sleep(300)
  t.ok(signal.aborted, 'aborted after 200 ms')
  t.match(reason, { name: 'TimeoutError' }, 'with the reason AbortSignal.timeout gives')
})

t.test('the parent aborting (the store closes) aborts at once, with its reason, and stops the timer', async t => {
  const parent = new AbortController()
  const listening = counted(parent.signal)
  const timers = new Set<unknown>()
  const { setTimeout: realSet, clearTimeout: realClear } = globalThis
  globalThis.setTimeout = ((...args: Parameters<typeof realSet>) => { const timer = realSet(...args); timers.add(timer); return timer }) as typeof realSet
  globalThis.clearTimeout = ((timer?: Parameters<typeof realClear>[0]) => { timers.delete(timer); realClear(timer) }) as typeof realClear
  t.teardown(() => { globalThis.setTimeout = realSet; globalThis.clearTimeout = realClear })
  const signal = timeoutSignal(parent.signal, 60_000)
  t.equal(listening.listeners(), 1)
  t.equal(timers.size, 1, 'one timer pending')
  parent.abort(new Error('closed'))
  t.ok(signal.aborted)
  t.match(signal.reason, { message: 'closed' })
  t.equal(timers.size, 0, 'the timer is cleared')
  const already = timeoutSignal(parent.signal, 60_000)
  t.ok(already.aborted, 'a parent already aborted: aborted from the start')
})

t.test('no listener left on the parent once the timeout fired (a store makes many calls in its lifetime)', async t => {
  const parent = new AbortController()
  const listening = counted(parent.signal)
  const signals = Array.from({ length: 20 }, () => timeoutSignal(parent.signal, 10))
  t.equal(listening.listeners(), 20)
  await sleep(100)
  t.ok(signals.every(s => s.aborted && (s.reason as Error).name === 'TimeoutError'), 'every call timed out')
  t.equal(listening.listeners(), 0, 'every listener removed')
})
