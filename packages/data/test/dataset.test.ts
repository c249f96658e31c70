// Behaviour of the in-memory Dataset: batching, seeded shuffling, dropLast, subset views and the shared-memory hand-off.
import { Worker } from 'node:worker_threads'
import { fromShared, inMemoryDataset, isSharedDatasetDescriptor, type InMemoryDataset } from '@weft/data'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

/** n examples of shape [2, 2]: example i has pixels i*4..i*4+3 (mod 256), label i % 3. */
function bytesDataset(n: number): InMemoryDataset {
  const data = new Uint8Array(n * 4).map((_, j) => j % 256)
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3)
  return inMemoryDataset({ name: 'toy', featureShape: [2, 2], numClasses: 3, features: { dtype: 'uint8', data, scale: 1 / 255 }, labels })
}

function order(ds: InMemoryDataset, opts: Parameters<InMemoryDataset['batches']>[0]): number[] {
  // Recover each batch row's example id from its first pixel (exact for n*4 <= 256 after scaling back).
  const out: number[] = []
  for (const b of ds.batches(opts)) for (let k = 0; k < b.size; k++) out.push(Math.round((b.x[k * 4] as number) * 255) / 4)
  return out
}

describe('inMemoryDataset', () => {
  it('fills batches with scaled float32 features and labels, in order without shuffle', () => {
    const ds = bytesDataset(10)
    const batches = [...ds.batches({ batchSize: 4, shuffle: false })]
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2])
    expect(batches[0]!.x).toBeInstanceOf(Float32Array)
    expect(Array.from(batches[0]!.x.subarray(4, 8))).toEqual([4, 5, 6, 7].map((v) => Math.fround(v / 255)))
    expect(Array.from(batches[2]!.y)).toEqual([8 % 3, 9 % 3])
  })

  it('shuffled epochs cover every example once, depend only on seed and epoch, and differ between epochs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 16 }), fc.integer(), (n, batchSize, seed) => {
        const ds = bytesDataset(n)
        const a = order(ds, { batchSize, seed, epoch: 2 })
        expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i))
        expect(order(bytesDataset(n), { batchSize: 7, seed, epoch: 2 })).toEqual(a)
      }),
      { numRuns: 100 },
    )
    const ds = bytesDataset(60)
    expect(order(ds, { batchSize: 8, seed: 1, epoch: 0 })).not.toEqual(order(ds, { batchSize: 8, seed: 1, epoch: 1 }))
    expect(order(ds, { batchSize: 8, seed: 1, epoch: 0 })).not.toEqual(order(ds, { batchSize: 8, seed: 2, epoch: 0 }))
  })

  it('dropLast drops only a short final batch', () => {
    const ds = bytesDataset(10)
    expect([...ds.batches({ batchSize: 4, dropLast: true })].map((b) => b.size)).toEqual([4, 4])
    expect([...ds.batches({ batchSize: 5, dropLast: true })].map((b) => b.size)).toEqual([5, 5])
  })

  it('rejects bad batch options and bad construction, naming the argument', () => {
    const ds = bytesDataset(4)
    expect(() => [...ds.batches({ batchSize: 0 })]).toThrow(/batchSize/)
    expect(() => [...ds.batches({ batchSize: 2, seed: 0.5 })]).toThrow(/seed/)
    expect(() =>
      inMemoryDataset({ name: 'x', featureShape: [3], numClasses: 2, features: { dtype: 'float32', data: new Float32Array(5) }, labels: new Int32Array(2) }),
    ).toThrow(RangeError)
    expect(() =>
      inMemoryDataset({ name: 'x', featureShape: [1], numClasses: 2, features: { dtype: 'float32', data: new Float32Array(1) }, labels: Int32Array.of(2) }),
    ).toThrow(/labels\[0\]/)
  })

  it('subset views compose, keep labels, and share storage', () => {
    const ds = bytesDataset(12)
    const view = ds.subset([10, 2, 5, 7])
    expect(view.size).toBe(4)
    expect(Array.from(view.labels())).toEqual([10 % 3, 2 % 3, 5 % 3, 7 % 3])
    const inner = view.subset([3, 0], 'inner')
    expect(inner.name).toBe('inner')
    expect(order(inner, { batchSize: 2, shuffle: false })).toEqual([7, 10])
    expect(Array.from(inner.example(0))).toEqual(Array.from(ds.example(7)))
    expect(() => view.subset([4])).toThrow(RangeError)
  })

  it('toShared/fromShared rebuild the same data set over the same memory', () => {
    const ds = bytesDataset(20)
    const view = ds.subset([3, 4, 5, 19])
    const d = view.toShared()
    expect(isSharedDatasetDescriptor(d)).toBe(true)
    expect(d.features.buffer).toBeInstanceOf(SharedArrayBuffer)
    expect(ds.toShared().features.buffer).toBe(d.features.buffer) // converted once, views included
    const copy = fromShared(structuredClone(d))
    expect(copy.size).toBe(4)
    expect([...copy.batches({ batchSize: 3, seed: 9 })]).toEqual([...view.batches({ batchSize: 3, seed: 9 })])
    expect(() => fromShared({ ...d, kind: 'nope' } as never)).toThrow(expect.objectContaining({ name: 'SharedDescriptorError' }))
  })

  it('a worker thread reads the shared features without a copy', async () => {
    const ds = bytesDataset(16).subset([1, 2, 3])
    const d = ds.toShared()
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      import(${JSON.stringify(import.meta.resolve('@weft/data'))}).then(({ fromShared }) => {
        const ds = fromShared(workerData)
        let sum = 0
        for (const b of ds.batches({ batchSize: 2, shuffle: false })) for (const v of b.x) sum += v
        new Uint8Array(workerData.features.buffer)[0] = 123 // visible to the parent only if memory is shared
        parentPort.postMessage({ size: ds.size, sum })
      })`
    const worker = new Worker(code, { eval: true, workerData: d })
    const msg = await new Promise<{ size: number; sum: number }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    let sum = 0
    for (const b of ds.batches({ batchSize: 3 })) for (const v of b.x) sum += v
    expect(msg.size).toBe(3)
    expect(msg.sum).toBeCloseTo(sum, 4)
    expect(new Uint8Array(d.features.buffer)[0]).toBe(123)
  })
})

describe('compact', () => {
  it('holds only the view\'s examples, in the same order, in storage of its own (uint8 and float32)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.boolean(), fc.array(fc.nat(), { minLength: 1, maxLength: 30 }), (n, bytes, picks) => {
        const fs = 3
        const base = inMemoryDataset({
          name: 'base',
          featureShape: [fs],
          numClasses: 4,
          features: bytes
            ? { dtype: 'uint8', data: Uint8Array.from({ length: n * fs }, (_, i) => (i * 37) % 256), scale: 1 / 255 }
            : { dtype: 'float32', data: Float32Array.from({ length: n * fs }, (_, i) => i / 7) },
          labels: Int32Array.from({ length: n }, (_, i) => i % 4),
        })
        const view = base.subset(picks.map((p) => p % n))
        const own = view.compact()
        expect(own.size).toBe(view.size)
        expect(own.dtype).toBe(base.dtype)
        expect(Array.from(own.labels())).toEqual(Array.from(view.labels()))
        for (let i = 0; i < own.size; i++) expect(Array.from(own.example(i))).toEqual(Array.from(view.example(i)))
        // Its shared form carries only its own examples, not the base's.
        const shared = own.toShared()
        expect(shared.indices).toBeUndefined()
        expect(shared.labels.byteLength).toBe(view.size * 4)
        expect(shared.features.buffer.byteLength).toBe(view.size * fs * (bytes ? 1 : 4))
      }),
      { numRuns: 50 },
    )
  })

  it('returns a data set that is no view as it is', () => {
    const ds = inMemoryDataset({ name: 'x', featureShape: [1], numClasses: 2, features: { dtype: 'float32', data: new Float32Array([1, 2]) }, labels: new Int32Array([0, 1]) })
    expect(ds.compact()).toBe(ds)
  })
})

describe('@weft/data entry point', () => {
  it('is browser-safe: no module outside dist/node imports a node: builtin', async () => {
    const { readdir, readFile } = await import('node:fs/promises')
    const { dirname, join } = await import('node:path')
    const { fileURLToPath } = await import('node:url')
    const dist = dirname(fileURLToPath(import.meta.resolve('@weft/data')))
    const files = (await readdir(dist)).filter((f) => f.endsWith('.js'))
    expect(files).toContain('index.js')
    for (const f of files) expect(await readFile(join(dist, f), 'utf8'), f).not.toMatch(/from ['"]node:|import\(['"]node:|from ['"]\.\/node\//)
  })
})
