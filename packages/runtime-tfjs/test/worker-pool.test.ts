// The worker pool trains in parallel threads, returns the same parameters as in-process training, survives crashes.
import { afterAll, describe, expect, it } from 'vitest'
import { inMemoryDataset } from '@weft/data'
import type { ModelSpec } from '@weft/runtime'
import { createInThreadPool, tfjsRuntime } from '@weft/runtime-tfjs'
import { createWorkerPool } from '@weft/runtime-tfjs/node'

function quadrants(side: number, perClass: number) {
  const n = perClass * 4
  const x = new Float32Array(n * side * side)
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const k = i % 4
    y[i] = k
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        const inside = (r < side / 2) === k < 2 && (c < side / 2) === (k % 2 === 0)
        x[(i * side + r) * side + c] = (inside ? 0.7 : 0) + 0.3 * (((i * 31 + r * 7 + c * 13) % 17) / 17)
      }
    }
  }
  return inMemoryDataset({ name: 'quadrants', featureShape: [side, side, 1], numClasses: 4, features: { dtype: 'float32', data: x }, labels: y })
}

const spec: ModelSpec = { architecture: 'mlp', inputShape: [8, 8, 1], numClasses: 4, hidden: [16] }
const options = { epochs: 2, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 }, seed: 4 } as const

describe('worker pool', () => {
  const pool = createWorkerPool({ size: 2, backend: 'wasm', resolver: new URL('./fixtures/resolver.mjs', import.meta.url) })
  afterAll(() => pool.close())

  it('runs two tasks in parallel with the same results as in-process training', async () => {
    const data = quadrants(8, 16)
    const halves = [data.subset(Array.from({ length: 32 }, (_, i) => i)), data.subset(Array.from({ length: 32 }, (_, i) => 32 + i))]
    const rt = await tfjsRuntime({ backend: 'wasm' })
    const model = await rt.createModel(spec, { seed: 9 })
    const initial = model.getParams()
    const expected: Float32Array[] = []
    for (const h of halves) {
      model.setParams(initial)
      await model.train(h, options)
      expected.push(model.getParams())
    }
    const results = await Promise.all(
      halves.map((h) => pool.train({ spec, params: initial, copyParams: true, dataset: h.toShared(), options, evaluate: true })),
    )
    expect(initial.length).toBe(model.paramCount)
    results.forEach((r, i) => {
      expect(r.params).toEqual(expected[i])
      expect(r.result.steps).toBe(8)
      expect(r.evaluation?.examples).toBe(32)
    })
    expect(results[0]!.params).not.toEqual(results[1]!.params)
    await rt.dispose()
  })

  it('transfers the parameter buffer unless asked to copy', async () => {
    const params = new Float32Array(16 * 64 + 16 + 16 * 4 + 4)
    const r = await pool.train({ spec, params, dataset: quadrants(8, 2).toShared(), options: { steps: 1, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1 } } })
    expect(params.length).toBe(0)
    expect(r.params.length).toBe(16 * 64 + 16 + 16 * 4 + 4)
  })

  it('fails a task whose worker crashes with a clear error, and replaces the worker', async () => {
    const params = new Float32Array(16 * 64 + 16 + 16 * 4 + 4)
    await expect(pool.train({ spec, params, copyParams: true, dataset: { kind: 'crash' }, options })).rejects.toThrow(
      expect.objectContaining({ name: 'WorkerCrashedError', message: expect.stringContaining('exited with code 3') }),
    )
    await expect(pool.train({ spec, params, copyParams: true, dataset: { kind: 'nowhere' }, options })).rejects.toThrow(
      expect.objectContaining({ name: 'WorkerTaskError', message: expect.stringContaining('DatasetSourceError') }),
    )
    // Both workers still serve tasks afterwards.
    const data = quadrants(8, 4).toShared()
    const ok = await Promise.all([0, 1, 2].map(() => pool.train({ spec, params, copyParams: true, dataset: data, options })))
    expect(ok).toHaveLength(3)
  })

  it('rejects tasks after close', async () => {
    const p = createWorkerPool({ size: 1, backend: 'cpu' })
    await p.close()
    await expect(p.train({ spec, params: new Float32Array(4), dataset: { kind: 'x' }, options })).rejects.toThrow(
      expect.objectContaining({ name: 'WorkerPoolClosedError' }),
    )
  })
})

describe('in-thread pool (a node in low-memory mode)', () => {
  it('trains and evaluates in the calling thread with the same results as the worker pool, one task at a time', async () => {
    const data = quadrants(8, 16)
    const rt = await tfjsRuntime({ backend: 'wasm' })
    const initial = (await rt.createModel(spec, { seed: 9 })).getParams()
    const workers = createWorkerPool({ size: 1, backend: 'wasm' })
    const inThread = createInThreadPool()
    try {
      const task = { spec, params: initial, copyParams: true, dataset: data.toShared(), options, evaluate: true }
      const [a, b] = [await workers.train(task), await inThread.train(task)]
      expect(b.params).toEqual(a.params)
      expect(b.evaluation?.accuracy).toBe(a.evaluation?.accuracy)
      expect(b.evaluation?.loss).toBeCloseTo(a.evaluation?.loss as number, 5)
      expect(initial.length).toBe(a.params.length)
      // Two tasks at once run one after the other and both finish with their own results.
      const [c, d] = await Promise.all([inThread.train(task), inThread.train({ ...task, options: { ...options, seed: 5 } })])
      expect(c.params).toEqual(a.params)
      expect(d.params).not.toEqual(a.params)
      // Evaluation in small batches gives the worker pool's figures (up to float summation order).
      const e1 = await workers.evaluate({ spec, params: a.params, dataset: data.toShared() })
      const e2 = await inThread.evaluate({ spec, params: a.params, dataset: data.toShared() })
      expect(e2.accuracy).toBe(e1.accuracy)
      expect(e2.loss).toBeCloseTo(e1.loss, 5)
    } finally {
      await workers.close()
      await inThread.close()
      await rt.dispose()
    }
    await expect(inThread.train({ spec, params: initial, copyParams: true, dataset: data.toShared(), options })).rejects.toThrow(/closed/)
  })
})
