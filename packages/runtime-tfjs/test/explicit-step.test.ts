// The explicit training step trains every architecture exactly as the gradient tape does, on wasm and cpu.
import * as tf from '@tensorflow/tfjs-core'
import { type ModelSpec, mulberry32, type OptimizerConfig } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { describe, expect, it } from 'vitest'
import { arrayDataset } from '../../runtime/test/synthetic.js'

/** `n` random examples in [0, 1) with random labels. */
function randomSet(spec: ModelSpec, n: number, seed: number) {
  const rng = mulberry32(seed)
  const fs = spec.inputShape.reduce((a, d) => a * d, 1)
  const x = Float32Array.from({ length: n * fs }, () => rng.next())
  const y = Int32Array.from({ length: n }, () => rng.nextUint32() % spec.numClasses)
  return arrayDataset('random', spec.inputShape, spec.numClasses, x, y)
}

/** Largest |a − b| relative to the largest |b| (at least 1e-3). */
function relMaxDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0
  let scale = 1e-3
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(b[i]!))
  }
  return diff / scale
}

const specs: ModelSpec[] = [
  { architecture: 'mlp', inputShape: [12, 12, 1], numClasses: 5, hidden: [32, 16] },
  { architecture: 'mlp', inputShape: [6, 6, 2], numClasses: 3, hidden: [20] },
  { architecture: 'logreg', inputShape: [8, 8, 1], numClasses: 4 },
  { architecture: 'cnn-lenet', inputShape: [16, 16, 1], numClasses: 4 },
  // Two channels, and 'same' pooling of an odd size (6 → 3 → 2).
  { architecture: 'cnn-mcmahan', inputShape: [6, 6, 2], numClasses: 3 },
]
const optimizers: OptimizerConfig[] = [
  { kind: 'sgd', lr: 0.05, momentum: 0.9 },
  { kind: 'adamw', lr: 0.003, weightDecay: 0.01 },
]

describe.each(['wasm', 'cpu'] as const)('explicit training step on %s', (backend) => {
  for (const spec of specs) {
    for (const optimizer of optimizers) {
      it(`${spec.architecture} ${spec.inputShape.join('x')}, ${optimizer.kind}: same losses and weights as the tape`, async () => {
        const explicit = await tfjsRuntime({ backend })
        const tape = await tfjsRuntime({ backend, trainingStep: 'tape' })
        const ds = randomSet(spec, 50, 3)
        const a = await explicit.createModel(spec, { seed: 4 })
        const b = await tape.createModel(spec, { seed: 4 })
        const start = a.getParams()
        // Batches of 16, 16, 16 and 2: the last, short batch checks the 1/n scaling.
        const opts = { epochs: 3, batchSize: 16, optimizer, seed: 7 }
        const ra = await a.train(ds, opts)
        const rb = await b.train(ds, opts)
        expect(ra.steps).toBe(rb.steps)
        expect(Math.abs(ra.meanLoss - rb.meanLoss)).toBeLessThan(1e-5 * Math.max(1, rb.meanLoss))
        expect(Math.abs(ra.finalLoss - rb.finalLoss)).toBeLessThan(1e-5 * Math.max(1, rb.finalLoss))
        // Training moved the weights, and both steps moved them to the same place.
        expect(relMaxDiff(a.getParams(), start)).toBeGreaterThan(1e-2)
        // The loss gradient is computed in double precision here, in float32 on the tape; Adam divides by √v, which
        // magnifies that last-bit difference where a gradient is near zero.
        expect(relMaxDiff(a.getParams(), b.getParams())).toBeLessThan(optimizer.kind === 'sgd' ? 1e-5 : 1e-3)
        a.dispose()
        b.dispose()
      })
    }
  }

  it.each(specs.slice(0, 3))('$architecture $inputShape with a FedProx term: same losses and weights as the tape', async (spec) => {
    const explicit = await tfjsRuntime({ backend })
    const tape = await tfjsRuntime({ backend, trainingStep: 'tape' })
    const ds = randomSet(spec, 48, 5)
    const reference = (await explicit.createModel(spec, { seed: 9 })).getParams()
    const a = await explicit.createModel(spec, { seed: 4 })
    const b = await tape.createModel(spec, { seed: 4 })
    const opts = { steps: 6, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.5 }, seed: 1, proximal: { mu: 0.5, reference } } as const
    const ra = await a.train(ds, opts)
    const rb = await b.train(ds, opts)
    // The proximal term is part of the reported loss: it differs from the plain cross-entropy.
    const plain = await (await explicit.createModel(spec, { seed: 4 })).train(ds, { ...opts, proximal: { mu: 0, reference } })
    expect(Math.abs(ra.meanLoss - plain.meanLoss)).toBeGreaterThan(1e-3)
    expect(Math.abs(ra.meanLoss - rb.meanLoss)).toBeLessThan(1e-5 * Math.max(1, rb.meanLoss))
    expect(relMaxDiff(a.getParams(), b.getParams())).toBeLessThan(1e-5)
  })

  it('leaves the tensor count unchanged, and a diverging step leaves the weights as they were', async () => {
    const rt = await tfjsRuntime({ backend })
    const spec = specs[0]!
    const m = await rt.createModel(spec, { seed: 1 })
    const ds = randomSet(spec, 32, 1)
    await m.train(ds, { steps: 1, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1 } })
    const before = tf.memory().numTensors
    await m.train(ds, { steps: 4, batchSize: 8, optimizer: { kind: 'adam', lr: 0.01 } })
    await m.train(ds, { steps: 2, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1 }, proximal: { mu: 0.1, reference: m.getParams() } })
    expect(tf.memory().numTensors).toBe(before)
    const weights = m.getParams()
    m.setParams(weights.map(() => 1e30))
    const huge = m.getParams()
    await expect(m.train(ds, { steps: 1, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1 } })).rejects.toThrow(/loss/i)
    expect(m.getParams()).toEqual(huge)
    expect(tf.memory().numTensors).toBe(before)
    m.dispose()
  })
})

it('refuses an unknown training step', async () => {
  await expect(tfjsRuntime({ trainingStep: 'fast' as 'tape' })).rejects.toThrow(TypeError)
})
