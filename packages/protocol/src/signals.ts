// Deadlines as abort signals, safe against garbage collection. Browser-safe.

/**
 * A signal that aborts after `ms` with a TimeoutError (as AbortSignal.timeout's) or as soon as any of `parents` does,
 * with that parent's reason.
 *
 * Not `AbortSignal.any([AbortSignal.timeout(ms), …])`: Node 20 holds a composite signal's sources weakly, and a timeout
 * signal that nothing else holds is collected with its timer, so after a garbage collection the composite never
 * times out (seen on Node 20.20: a site member waited for its secure-aggregation shares past any deadline). Here the
 * timer itself holds the controller it aborts. The timer does not keep a Node process alive.
 * @throws RangeError when ms is not a finite number ≥ 0
 */
export function abortAfter(ms: number, ...parents: readonly (AbortSignal | undefined)[]): AbortSignal {
  if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError(`a deadline must be a finite number of ms ≥ 0, got ${ms}`)
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms)
  ;(timer as { unref?: () => void }).unref?.()
  const live = parents.filter((p): p is AbortSignal => p !== undefined)
  const signal = live.length === 0 ? controller.signal : AbortSignal.any([controller.signal, ...live])
  if (signal.aborted) clearTimeout(timer)
  else signal.addEventListener('abort', () => clearTimeout(timer), { once: true })
  return signal
}
