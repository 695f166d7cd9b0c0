// Numbers the config schema and the stores share, in one place.

/** setTimeout's limit: a longer delay fires at once, with only a warning. */
export const MAX_TIMER_MS = 2 ** 31 - 1
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000)

/** The default of a store call's timeout (backends[].timeoutSeconds). */
export const DEFAULT_CALL_TIMEOUT_SECONDS = 5
