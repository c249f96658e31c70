// Clocks: the system's, and a manual one on which tests run round deadlines in virtual time; timeouts on either.
import { abortAfter } from '@weft/protocol'
import type { Clock, TimerHandle } from './contracts/clock.js'

/** Wall-clock time and the platform's timers. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer: (fn: () => void, ms: number): TimerHandle => setTimeout(fn, Math.max(0, ms)),
  clearTimer: (handle: TimerHandle): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
})

/**
 * An AbortSignal that aborts `ms` from now on `clock`'s time (with a TimeoutError), or when `parent` aborts.
 * @param clock the clock to time it on
 * @param ms the timeout
 * @param parent a signal to follow as well
 */
export function timeoutSignal(clock: Clock, ms: number, parent?: AbortSignal): AbortSignal {
  if (clock === systemClock) return abortAfter(ms, parent)
  const controller = new AbortController()
  const timer = clock.setTimer(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms)
  controller.signal.addEventListener('abort', () => clock.clearTimer(timer), { once: true })
  return parent === undefined ? controller.signal : AbortSignal.any([parent, controller.signal])
}

const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate

/** Lets work that is already running (promise chains, I/O callbacks) settle: one turn of the real event loop. */
export function settle(): Promise<void> {
  return new Promise((resolve) => (immediate === undefined ? setTimeout(resolve, 0) : immediate(resolve)))
}

interface ManualTimer {
  readonly at: number
  readonly seq: number
  readonly fn: () => void
}

/**
 * A clock that moves only when told to: `advance(ms)` fires the timers due in order, letting pending work settle
 * between them; `autoAdvance()` jumps to the next timer whenever nothing else is pending, so a test runs a round's
 * 30-second deadline in milliseconds.
 */
export class ManualClock implements Clock {
  #now: number
  #seq = 0
  readonly #timers = new Map<number, ManualTimer>()

  constructor(start = 1_700_000_000_000) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const seq = ++this.#seq
    this.#timers.set(seq, { at: this.#now + Math.max(0, ms), seq, fn })
    return seq
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.size
  }

  #next(): ManualTimer | undefined {
    let best: ManualTimer | undefined
    for (const t of this.#timers.values()) if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    return best
  }

  /** Fires the earliest timer (moving time to it). @returns false when none is set */
  fireNext(): boolean {
    const t = this.#next()
    if (t === undefined) return false
    this.#timers.delete(t.seq)
    this.#now = Math.max(this.#now, t.at)
    t.fn()
    return true
  }

  /** Moves time `ms` forward, firing the timers due on the way in order; pending work settles after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms
    await settle()
    for (let t = this.#next(); t !== undefined && t.at <= target; t = this.#next()) {
      this.fireNext()
      await settle()
    }
    this.#now = target
  }

  /**
   * Runs time forward by itself: each time pending work has settled, jumps to the next timer.
   * @returns a function that stops it
   */
  autoAdvance(): () => void {
    let running = true
    const loop = async (): Promise<void> => {
      while (running) {
        await settle()
        await settle()
        if (running) this.fireNext()
      }
    }
    void loop()
    return () => {
      running = false
    }
  }
}
