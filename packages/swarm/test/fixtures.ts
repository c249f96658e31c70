// The swarm tests' synthetic task: 8×8 images of 4 classes (class k brightens row band k; pixel noise on top), and
// non-IID shares where each peer sees two of the four classes.
import { inMemoryDataset, type SharedDatasetDescriptor } from '@weft/data'
import { mulberry32 } from '@weft/runtime'
import { parseSwarmSpec, type SwarmSpec } from '@weft/swarm'

/** `n` images; with `classes`, only those classes. */
export function bands(name: string, n: number, seed: number, classes?: readonly number[]) {
  const rng = mulberry32(seed)
  const data = new Uint8Array(n * 64)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const k = classes === undefined ? Math.floor(rng.next() * 4) : (classes[Math.floor(rng.next() * classes.length)] as number)
    labels[i] = k
    for (let j = 0; j < 64; j++) data[i * 64 + j] = Math.min(255, (Math.floor(j / 16) === k ? 70 : 0) + Math.floor(rng.next() * 160))
  }
  return inMemoryDataset({ name, featureShape: [8, 8, 1], numClasses: 4, features: { dtype: 'uint8', data, scale: 1 / 255 }, labels })
}

/** Five shares of 400 images, each of two classes: (0, 1), (1, 2), (2, 3), (3, 0), (0, 2). */
export const SHARES: readonly SharedDatasetDescriptor[] = [
  [0, 1],
  [1, 2],
  [2, 3],
  [3, 0],
  [0, 2],
].map((classes, i) => bands(`share-${i}`, 400, 10 + i, classes).toShared())

/** 400 images of all four classes. */
export const TEST = bands('test', 400, 99).toShared()

/**
 * A swarm spec for the bands task: a small MLP, 4 peers, 10 inner steps of 16 each per peer and outer step, 20 outer
 * steps; `extra` adds or replaces fields.
 */
export function bandsSpec(extra: Record<string, unknown> = {}): SwarmSpec {
  return parseSwarmSpec({
    model: { architecture: 'mlp', inputShape: [8, 8, 1], numClasses: 4, hidden: [16] },
    dataset: 'bands',
    inner: { batchSize: 16, optimizer: { kind: 'adamw', lr: 0.005 } },
    targetSamples: 4 * 10 * 16,
    totalSamples: 4 * 10 * 16 * 20,
    minPeers: 4,
    seed: 5,
    ...extra,
  })
}
