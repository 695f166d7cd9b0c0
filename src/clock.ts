// The clock of ages and deadlines (cache entries, reuse of warm reads): monotonic, so a wall-clock
// step (NTP, a VM resumed) neither keeps an entry past its ttl nor expires every entry at once.
// Wall time (Date.now) stays where a time is shown or compared with a store's own timestamps.
export const monotonicMs = (): number => performance.now()
