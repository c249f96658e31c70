// Time as the coordinator sees it: a clock and a timer source, injected so that tests run rounds on virtual time.
// Types only (systemClock and a manual clock implement it).

/** A timer's handle, as `setTimer` returns it. */
export type TimerHandle = unknown

/** A clock and its timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Calls `fn` once, `ms` from now (on this clock's time). */
  setTimer(fn: () => void, ms: number): TimerHandle
  clearTimer(handle: TimerHandle): void
}
