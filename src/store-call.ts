// One call to a store: bounded by the backend's timeout, every failure a typed store error.
import type { CallBudget, CallPriority } from './call-budget.js'
import type { Backend, ReadResult } from './store/port.js'
import { partitionValid } from './core/validate.js'
import { isStoreError, storeError, type StoreError } from './store/errors.js'

/**
 * Anything a backend throws that is not already a store error becomes "unavailable".
 * Only the error's name and code survive: SDK messages can carry URLs, headers or tokens.
 */
export function asStoreError (err: unknown): StoreError {
  if (isStoreError(err)) return err
  const { name, code } = err as { name?: string, code?: unknown }
  return storeError('unavailable', `${name ?? 'Error'}${typeof code === 'string' ? ` ${code}` : ''}`)
}

/**
 * One validated read of one locator, within timeoutMs. With a call budget, waiting for a slot
 * counts against the same timeout: a call that cannot start in time is unavailable, and a
 * throttled call is retried under the budget only while the same timeout allows.
 */
export async function callStore (backend: Backend, locator: string, timeoutMs: number, budget?: CallBudget, priority?: CallPriority): Promise<ReadResult> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let started = budget === undefined
  let throttledAnswers = 0
  const expired = (): StoreError => {
    if (started) return storeError('unavailable', `no answer within ${timeoutMs} ms`)
    const after = throttledAnswers === 0 ? '' : ` to retry after ${throttledAnswers} throttled answer(s)`
    return storeError('unavailable', `call budget: no slot${after} within the call timeout of ${timeoutMs} ms`)
  }
  // Race the read against the timer too: a backend that ignores its signal still cannot hang a request.
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort()
      reject(expired())
    }, timeoutMs)
  })
  try {
    const read = budget === undefined
      ? backend.read(locator, controller.signal)
      : budget.run(controller.signal, async () => { started = true; return await backend.read(locator, controller.signal) }, priority, {
        timeoutMs,
        onRetry: n => { started = false; throttledAnswers = n }
      })
    return validated(await Promise.race([read, timedOut]))
  } catch (err) {
    throw asStoreError(err)
  } finally {
    clearTimeout(timer)
  }
}

/** Names and paths are checked once per store read (then cached), not once per request. */
function validated (result: ReadResult): ReadResult {
  if (!result.found) return result
  const { valid, invalid } = partitionValid(result.entries)
  return { found: true, entries: valid, invalid: [...result.invalid, ...invalid] }
}
