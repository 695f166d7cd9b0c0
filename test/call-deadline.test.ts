// callDeadline (src/store/call-deadline.ts): a store call's deadline survives garbage collection
// (Node 20's AbortSignal.any lost it: nodejs/node#57736), follows the store's closing, and leaves
// no listener on the long-lived parent signal, nor a pending timer, once the call is over.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t, { type Test } from 'tap'
import { callDeadline, withTimeout } from '../src/store/call-deadline.js'

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
/** Timers pending, counted through wrapped global setTimeout/clearTimeout (restored at teardown). */
const countedTimers = (t: Test): { pending: () => number } => {
  const timers = new Set<unknown>()
  const { setTimeout: realSet, clearTimeout: realClear } = globalThis
  globalThis.setTimeout = ((...args: Parameters<typeof realSet>) => {
    const [callback, ...rest] = args
    const timer = realSet((...callbackArgs: unknown[]) => { timers.delete(timer); (callback as (...a: unknown[]) => void)(...callbackArgs) }, ...rest)
    timers.add(timer)
    return timer
  }) as typeof realSet
  globalThis.clearTimeout = ((timer?: Parameters<typeof realClear>[0]) => { timers.delete(timer); realClear(timer) }) as typeof realClear
  t.teardown(() => { globalThis.setTimeout = realSet; globalThis.clearTimeout = realClear })
  return { pending: () => timers.size }
}

t.test('lost-timeout: garbage collections before the deadline do not cancel it', async t => {
  const { signal } = callDeadline(new AbortController().signal, 200)
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
  const timers = countedTimers(t)
  const { signal } = callDeadline(parent.signal, 60_000)
  t.equal(listening.listeners(), 1)
  t.equal(timers.pending(), 1, 'one timer pending')
  parent.abort(new Error('closed'))
  t.ok(signal.aborted)
  t.match(signal.reason, { message: 'closed' })
  t.equal(timers.pending(), 0, 'the timer is cleared')
  t.equal(listening.listeners(), 0, 'the listener is gone')
  const already = callDeadline(parent.signal, 60_000)
  t.ok(already.signal.aborted, 'a parent already aborted: aborted from the start')
})

t.test('no listener left on the parent once the timeout fired (a store makes many calls in its lifetime)', async t => {
  const parent = new AbortController()
  const listening = counted(parent.signal)
  const signals = Array.from({ length: 20 }, () => callDeadline(parent.signal, 10).signal)
  t.equal(listening.listeners(), 20)
  await sleep(100)
  t.ok(signals.every(s => s.aborted && (s.reason as Error).name === 'TimeoutError'), 'every call timed out')
  t.equal(listening.listeners(), 0, 'every listener removed')
})

t.test('a call that finishes early holds no timer and no listener until its deadline (release)', async t => {
  const parent = new AbortController()
  const listening = counted(parent.signal)
  const timers = countedTimers(t)
  const deadline = callDeadline(parent.signal, 60_000)
  t.equal(timers.pending(), 1)
  t.equal(listening.listeners(), 1)
  deadline.release()
  t.equal(timers.pending(), 0, 'the timer is cleared at once')
  t.equal(listening.listeners(), 0, 'the listener on the parent is removed at once')
  t.notOk(deadline.signal.aborted, 'releasing does not abort')
  parent.abort()
  t.notOk(deadline.signal.aborted, 'the parent no longer reaches a released deadline')
})

t.test('withTimeout releases the deadline whether the call resolves or rejects', async t => {
  const parent = new AbortController()
  const listening = counted(parent.signal)
  const timers = countedTimers(t)
  t.equal(await withTimeout(parent.signal, 60_000, async signal => { t.equal(timers.pending(), 1, 'a timer during the call'); return signal.aborted ? 'aborted' : 'done' }), 'done')
  t.equal(timers.pending(), 0, 'none after a resolved call')
  t.equal(listening.listeners(), 0)
  await t.rejects(withTimeout(parent.signal, 60_000, async () => { throw new Error('store said no') }), { message: 'store said no' })
  t.equal(timers.pending(), 0, 'none after a rejected call')
  t.equal(listening.listeners(), 0)
})

t.test('withTimeout: a call that outlasts its deadline sees the signal abort with TimeoutError', async t => {
  const keepAlive = setTimeout(() => {}, 1000) // the deadline's timer is unref'd; a store's socket would hold the loop
  t.teardown(() => { clearTimeout(keepAlive) })
  const reason = await withTimeout(new AbortController().signal, 20, async signal =>
    await new Promise(resolve => { signal.addEventListener('abort', () => { resolve(signal.reason) }) }))
  t.match(reason, { name: 'TimeoutError' })
})
