// What the simulator's tests share: a small synthetic data set that a model learns in a few rounds.
import { inMemoryDataset } from '@weft/data'

/** A separable two-class task of `n` examples: label = [x0 + x1 − x2 > 0], features uniform in [−1, 1), seeded. */
export function synthetic(name: string, n: number, seed: number) {
  let s = seed * 2654435761
  const rand = () => {
    s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0
    return s / 2 ** 32
  }
  const features = new Float32Array(n * 4)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 4; j++) features[i * 4 + j] = rand() * 2 - 1
    labels[i] = (features[i * 4] as number) + (features[i * 4 + 1] as number) - (features[i * 4 + 2] as number) > 0 ? 1 : 0
  }
  return inMemoryDataset({ name, featureShape: [4], numClasses: 2, features: { dtype: 'float32', data: features }, labels })
}
