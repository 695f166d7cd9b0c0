// A store call's signal: aborted when `parent` is (the store closes) or after `ms`, with the
// TimeoutError reason AbortSignal.timeout gives. It is AbortSignal.any([parent,
// AbortSignal.timeout(ms)]) without Node 20's flaw (nodejs/node#57736, fixed in 22): there the
// timeout signal inside any() is held weakly, a garbage collection can take it before it fires,
// and a call to a store that never answers then never times out. Here the timer holds the
// controller; the listener on the long-lived parent is removed when either side fires.
export function timeoutSignal (parent: AbortSignal, ms: number): AbortSignal {
  const controller = new AbortController()
  if (parent.aborted) {
    controller.abort(parent.reason)
    return controller.signal
  }
  const onParentAbort = (): void => {
    clearTimeout(timer)
    controller.abort(parent.reason)
  }
  const timer = setTimeout(() => {
    parent.removeEventListener('abort', onParentAbort)
    controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))
  }, ms)
  timer.unref()
  parent.addEventListener('abort', onParentAbort, { once: true })
  return controller.signal
}
