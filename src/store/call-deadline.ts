// A store call's deadline: its signal aborts when `parent` does (the store closes) or after `ms`,
// with the TimeoutError reason AbortSignal.timeout gives. It is AbortSignal.any([parent,
// AbortSignal.timeout(ms)]) without Node 20's flaw (nodejs/node#57736, fixed in 22): there the
// timeout signal inside any() is held weakly, a garbage collection can take it before it fires,
// and a call to a store that never answers then never times out. Here the timer holds the
// controller. `release` (the call is over) clears the timer and the listener on the long-lived
// parent at once, so a store making many quick calls holds none of them until their deadlines.
export interface CallDeadline {
  readonly signal: AbortSignal
  /** The call is over: drop the timer and the listener on the parent (the signal stays as it is). */
  release: () => void
}

export function callDeadline (parent: AbortSignal, ms: number): CallDeadline {
  const controller = new AbortController()
  if (parent.aborted) {
    controller.abort(parent.reason)
    return { signal: controller.signal, release: () => {} }
  }
  const release = (): void => {
    clearTimeout(timer)
    parent.removeEventListener('abort', onParentAbort)
  }
  const onParentAbort = (): void => {
    release()
    controller.abort(parent.reason)
  }
  const timer = setTimeout(() => {
    release()
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }, ms)
  timer.unref()
  parent.addEventListener('abort', onParentAbort, { once: true })
  return { signal: controller.signal, release }
}

/** `call` with a deadline of `ms` under `parent`, released as soon as it settles. */
export async function withTimeout<T> (parent: AbortSignal, ms: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = callDeadline(parent, ms)
  try {
    return await call(deadline.signal)
  } finally {
    deadline.release()
  }
}
