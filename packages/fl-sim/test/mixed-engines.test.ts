// Mixed federations: clients training on PyTorch and on tfjs-wasm in one job converge like a single-engine job,
// because both engines compute the same steps from the same weights and batches.
import { inMemoryDataset } from '@weft/data'
import { parseJobSpec } from '@weft/fl'
import { runSimulation, type SimulationResult } from '@weft/fl-sim'
import { mulberry32, type TrainingPool } from '@weft/runtime'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { createTorchPool } from '@weft/runtime-torch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { torchAvailable } from '../../runtime-torch/test/available.js'

/** 16×16 images of 4 classes: class k brightens row band k; pixel noise on top. */
function bands(name: string, n: number, seed: number) {
  const rng = mulberry32(seed)
  const data = new Uint8Array(n * 256)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const k = Math.floor(rng.next() * 4)
    labels[i] = k
    for (let j = 0; j < 256; j++) {
      const band = Math.floor(j / 64)
      data[i * 256 + j] = Math.min(255, (band === k ? 60 : 0) + Math.floor(rng.next() * 160))
    }
  }
  return inMemoryDataset({ name, featureShape: [16, 16, 1], numClasses: 4, features: { dtype: 'uint8', data, scale: 1 / 255 }, labels })
}

const train = bands('train', 1600, 1)
const test = bands('test', 400, 2)
let tfjs: TrainingPool
let torch: TrainingPool

beforeAll(async () => {
  if (!torchAvailable) return
  tfjs = createWorkerPool({ size: 1 })
  torch = await createTorchPool({ size: 1, device: 'cpu', threads: 1 })
})
afterAll(async () => {
  await tfjs?.close()
  await torch?.close()
})

const spec = parseJobSpec({
  model: { architecture: 'cnn-lenet', inputShape: [16, 16, 1], numClasses: 4 },
  dataset: 'bands',
  rounds: 5,
  clients: { fraction: 1, min: 8 },
  train: { epochs: 1, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 } },
  evaluation: { centralized: { dataset: 'bands-test', every: 1 } },
  timeouts: { roundSeconds: 600, waitSeconds: 30 },
  seed: 3,
})

const curve = (r: SimulationResult): number[] => r.rounds.map((x) => x.metrics?.evaluation?.centralized?.accuracy ?? Number.NaN)

describe.skipIf(!torchAvailable)('a federation whose clients run different engines', () => {
  it('converges like the single-engine federations, round by round', async () => {
    const run = (clientPools: TrainingPool[]) =>
      runSimulation({ spec, clients: 8, partition: { scheme: 'dirichlet', alpha: 0.5 }, train, test, pool: tfjs, clientPools })
    const onTfjs = await run([tfjs])
    const onTorch = await run([torch])
    const mixed = await run([torch, tfjs])
    for (const r of [onTfjs, onTorch, mixed]) expect(r.job.status).toBe('finished')
    const [a, b, c] = [curve(onTfjs), curve(onTorch), curve(mixed)]
    // It learns: from chance (25%) to well above.
    expect(a.at(-1)).toBeGreaterThan(0.8)
    // The same trajectory within float noise: every round's test accuracy within 2 points of the tfjs-only job.
    for (let i = 0; i < a.length; i++) {
      expect(Math.abs(b[i]! - a[i]!)).toBeLessThan(0.02)
      expect(Math.abs(c[i]! - a[i]!)).toBeLessThan(0.02)
    }
    const loss = (r: SimulationResult) => r.rounds.at(-1)?.metrics?.trainLoss ?? Number.NaN
    expect(Math.abs(loss(mixed) - loss(onTfjs))).toBeLessThan(0.02 * Math.max(1, loss(onTfjs)))
  })
})
