// A tiny in-test Dataset (no @weft/data dependency) and a separable synthetic image task for runtime tests.
import { type Batch, type BatchOptions, type Dataset, deriveSeed, featureSize, mulberry32, permutation } from '@weft/runtime'

/** A Dataset over float32 arrays, shuffled with Weft's seeded permutation. */
export function arrayDataset(name: string, featureShape: readonly number[], numClasses: number, x: Float32Array, y: Int32Array): Dataset {
  const fs = featureSize(featureShape)
  return {
    name,
    size: y.length,
    featureShape,
    numClasses,
    labels: () => y.slice(),
    *batches(o: BatchOptions): Iterable<Batch> {
      const order =
        o.shuffle === false
          ? Int32Array.from({ length: y.length }, (_, i) => i)
          : permutation(y.length, mulberry32(deriveSeed(o.seed ?? 0, o.epoch ?? 0)))
      for (let s = 0; s < order.length; s += o.batchSize) {
        const n = Math.min(o.batchSize, order.length - s)
        if (n < o.batchSize && o.dropLast === true) return
        const bx = new Float32Array(n * fs)
        const by = new Int32Array(n)
        for (let i = 0; i < n; i++) {
          const j = order[s + i]!
          bx.set(x.subarray(j * fs, (j + 1) * fs), i * fs)
          by[i] = y[j]!
        }
        yield { x: bx, y: by, size: n }
      }
    },
    subset(indices: ArrayLike<number>, sub?: string): Dataset {
      const idx = Array.from(indices)
      const sx = new Float32Array(idx.length * fs)
      for (const [i, j] of idx.entries()) sx.set(x.subarray(j * fs, (j + 1) * fs), i * fs)
      return arrayDataset(sub ?? `${name}[subset]`, featureShape, numClasses, sx, Int32Array.from(idx, (j) => y[j]!))
    },
  }
}

/**
 * Images `[side, side, 1]` of 4 classes: class k has a bright square in quadrant k, plus uniform noise.
 * Linearly separable, so every architecture learns it in a few epochs.
 */
export function quadrantImages(side: number, perClass: number, seed = 1): Dataset {
  const rng = mulberry32(seed)
  const n = 4 * perClass
  const fs = side * side
  const x = new Float32Array(n * fs)
  const y = new Int32Array(n)
  const half = side / 2
  for (let i = 0; i < n; i++) {
    const k = i % 4
    y[i] = k
    const r0 = k < 2 ? 0 : half
    const c0 = k % 2 === 0 ? 0 : half
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        const inside = r >= r0 && r < r0 + half && c >= c0 && c < c0 + half
        x[i * fs + r * side + c] = (inside ? 0.7 : 0) + 0.3 * rng.next()
      }
    }
  }
  return arrayDataset(`quadrants-${side}`, [side, side, 1], 4, x, y)
}
