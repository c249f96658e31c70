// abortAfter: a deadline that still fires after a garbage collection (Node 20 collects an AbortSignal.timeout held
// only by an AbortSignal.any composite, and the composite then never times out), and follows its parents.
import v8 from 'node:v8'
import vm from 'node:vm'
import { abortAfter } from '@weft/protocol'
import { describe, expect, it } from 'vitest'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const aborted = (signal: AbortSignal, withinMs: number): Promise<unknown> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not aborted within ${withinMs} ms`)), withinMs)
    signal.addEventListener('abort', () => {
      clearTimeout(t)
      resolve(signal.reason)
    })
  })

describe('abortAfter', () => {
  it('times out after a garbage collection, with a parent and without one', async () => {
    const parent = new AbortController()
    const withParent = abortAfter(50, parent.signal)
    const alone = abortAfter(50)
    const waits = [aborted(withParent, 2_000), aborted(alone, 2_000)]
    gc()
    await new Promise((r) => setTimeout(r, 10))
    gc()
    for (const reason of await Promise.all(waits)) expect(reason).toMatchObject({ name: 'TimeoutError', message: 'timed out after 50 ms' })
  })

  it('aborts with the first parent that aborts, and at once when a parent already has', async () => {
    const a = new AbortController()
    const b = new AbortController()
    const signal = abortAfter(60_000, a.signal, undefined, b.signal)
    const waiting = aborted(signal, 1_000)
    b.abort(new Error('b left'))
    await expect(waiting).resolves.toMatchObject({ message: 'b left' })
    expect(abortAfter(60_000, b.signal).reason).toMatchObject({ message: 'b left' })
  })

  it('refuses a deadline that is not a finite number of ms ≥ 0', () => {
    for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => abortAfter(ms)).toThrow(RangeError)
  })
})
