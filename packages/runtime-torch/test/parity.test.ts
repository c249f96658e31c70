// Engine parity: the PyTorch and tfjs-wasm engines compute the same losses, gradients and training steps from the
// same weights and batches, and a model trained on one evaluates the same on the other.
import { inMemoryDataset } from '@weft/data'
import { type Dataset, type Model, type ModelSpec, mulberry32, type Runtime } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { torchRuntime } from '@weft/runtime-torch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { torchAvailable, torchTestDevice } from './available.js'

let torch: Runtime
let tfjs: Runtime

beforeAll(async () => {
  if (!torchAvailable) return
  torch = await torchRuntime({ device: torchTestDevice, threads: 1 })
  tfjs = await tfjsRuntime({ backend: 'wasm' })
})

afterAll(async () => {
  await torch?.dispose()
  await tfjs?.dispose()
})

/** A batch of `n` random examples in [0, 1) with random labels. */
function batch(spec: ModelSpec, n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = mulberry32(seed)
  const fs = spec.inputShape.reduce((a, d) => a * d, 1)
  return { x: Float32Array.from({ length: n * fs }, () => rng.next()), y: Int32Array.from({ length: n }, () => rng.nextUint32() % spec.numClasses) }
}

/** Largest |a − b| relative to the largest |b| (at least 1e-3, so near-zero vectors compare absolutely). */
function relMaxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length)
  let diff = 0
  let scale = 1e-3
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(b[i]!))
  }
  return diff / scale
}

/** A synthetic image data set held by @weft/data (the PyTorch engine caches it and walks it by index). */
function pixels(spec: ModelSpec, n: number, seed: number) {
  const rng = mulberry32(seed)
  const [h, w, c] = spec.inputShape as [number, number, number]
  const data = new Uint8Array(n * h * w * c)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const k = i % spec.numClasses
    labels[i] = k
    for (let j = 0; j < h * w * c; j++) {
      // Class k brightens band k of the rows, plus noise.
      const row = Math.floor(j / (w * c))
      const band = Math.floor((row * spec.numClasses) / h)
      data[i * h * w * c + j] = Math.min(255, (band === k ? 150 : 0) + Math.floor(rng.next() * 100))
    }
  }
  return inMemoryDataset({ name: `bands-${h}x${w}x${c}`, featureShape: [h, w, c], numClasses: spec.numClasses, features: { dtype: 'uint8', data, scale: 1 / 255 }, labels })
}

const specs: ModelSpec[] = [
  { architecture: 'logreg', inputShape: [8, 8, 1], numClasses: 4 },
  { architecture: 'mlp', inputShape: [12, 12, 1], numClasses: 5, hidden: [32, 16] },
  { architecture: 'cnn-lenet', inputShape: [20, 20, 1], numClasses: 4 },
  // Three channels: the engines lay images out differently (NHWC and NCHW), the parameters must not.
  { architecture: 'cnn-lenet', inputShape: [16, 16, 3], numClasses: 3 },
  // 14x14 pools to 7 then 4: TensorFlow's 'same' pooling pads at the end, PyTorch's ceil mode must match it.
  { architecture: 'cnn-mcmahan', inputShape: [14, 14, 1], numClasses: 4 },
  { architecture: 'cnn-mcmahan', inputShape: [8, 8, 2], numClasses: 3 },
]

const label = (s: ModelSpec) => `${s.architecture} ${s.inputShape.join('x')}`

describe.skipIf(!torchAvailable)('torch and tfjs-wasm compute the same thing', () => {
  for (const spec of specs) {
    it(`${label(spec)}: same loss, gradients and logits from the same weights and batch`, async () => {
      const a = await torch.createModel(spec, { seed: 11 })
      const b = await tfjs.createModel(spec, { seed: 11 })
      // Both start from Weft's seeded initialization.
      expect(a.getParams()).toEqual(b.getParams())
      const { x, y } = batch(spec, 16, 5)
      const [ga, gb] = await Promise.all([a.gradients(x, y, 16), b.gradients(x, y, 16)])
      expect(Math.abs(ga.loss - gb.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(gb.loss)))
      expect(relMaxDiff(ga.gradients, gb.gradients)).toBeLessThan(1e-4)
      // Not trivially equal: the gradient is far from zero.
      expect(gb.gradients.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeGreaterThan(1e-3)
      expect(relMaxDiff(await a.predict(x, 16), await b.predict(x, 16))).toBeLessThan(1e-5)
      a.dispose()
      b.dispose()
    })
  }

  it('a wrong gradient would be caught: a different batch gives a different gradient', async () => {
    const spec = specs[2]!
    const a = await torch.createModel(spec, { seed: 11 })
    const b = await tfjs.createModel(spec, { seed: 11 })
    const one = batch(spec, 16, 5)
    const two = batch(spec, 16, 6)
    const [ga, gb] = await Promise.all([a.gradients(one.x, one.y, 16), b.gradients(two.x, two.y, 16)])
    expect(relMaxDiff(ga.gradients, gb.gradients)).toBeGreaterThan(1e-2)
    a.dispose()
    b.dispose()
  })

  for (const [spec, optimizer] of [
    [specs[1]!, { kind: 'sgd', lr: 0.05, momentum: 0.9 }],
    [specs[2]!, { kind: 'adam', lr: 0.002 }],
    [specs[5]!, { kind: 'adamw', lr: 0.002, weightDecay: 0.05 }],
  ] as const) {
    it(`${label(spec)}: ${optimizer.kind} training walks the same batches to the same weights`, async () => {
      const ds = pixels(spec, 96, 3)
      const a = await torch.createModel(spec, { seed: 2 })
      const b = await tfjs.createModel(spec, { seed: 2 })
      const opts = { epochs: 2, batchSize: 16, optimizer, seed: 9 }
      const [ra, rb] = await Promise.all([a.train(ds, opts), b.train(ds, opts)])
      expect(ra.steps).toBe(rb.steps)
      expect(ra.examples).toBe(rb.examples)
      expect(Math.abs(ra.meanLoss - rb.meanLoss)).toBeLessThan(1e-3 * Math.max(1, rb.meanLoss))
      expect(Math.abs(ra.finalLoss - rb.finalLoss)).toBeLessThan(2e-3 * Math.max(1, rb.finalLoss))
      const pa = a.getParams()
      const start = (await torch.createModel(spec, { seed: 2 })).getParams()
      // Training moved the weights, and both engines moved them to the same place.
      expect(relMaxDiff(pa, start)).toBeGreaterThan(1e-2)
      expect(relMaxDiff(pa, b.getParams())).toBeLessThan(2e-3)
      a.dispose()
      b.dispose()
    })
  }

  it('a FedProx proximal term pulls the same way on both engines', async () => {
    const spec = specs[1]!
    const ds = pixels(spec, 64, 4)
    const reference = (await tfjs.createModel(spec, { seed: 8 })).getParams()
    const a = await torch.createModel(spec, { seed: 2 })
    const b = await tfjs.createModel(spec, { seed: 2 })
    const opts = { steps: 6, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.05 }, seed: 1, proximal: { mu: 0.5, reference } } as const
    const [ra, rb] = await Promise.all([a.train(ds, opts), b.train(ds, opts)])
    expect(Math.abs(ra.meanLoss - rb.meanLoss)).toBeLessThan(1e-3 * Math.max(1, rb.meanLoss))
    expect(relMaxDiff(a.getParams(), b.getParams())).toBeLessThan(2e-3)
    a.dispose()
    b.dispose()
  })
})

describe.skipIf(!torchAvailable)('a model moves between engines', () => {
  async function trainedOn(rt: Runtime, spec: ModelSpec, ds: Dataset): Promise<Model> {
    const m = await rt.createModel(spec, { seed: 1 })
    await m.train(ds, { epochs: 3, batchSize: 16, optimizer: { kind: 'adam', lr: 0.003 }, seed: 2 })
    return m
  }

  for (const [from, to] of [
    ['torch', 'tfjs'],
    ['tfjs', 'torch'],
  ] as const) {
    it(`trained on ${from}, it evaluates the same on ${to}`, async () => {
      const spec: ModelSpec = { architecture: 'cnn-lenet', inputShape: [20, 20, 1], numClasses: 4 }
      const train = pixels(spec, 128, 1)
      const test = pixels(spec, 64, 2)
      const rts = { torch, tfjs }
      const source = await trainedOn(rts[from], spec, train)
      const target = await rts[to].createModel(spec)
      target.setParams(source.getParams())
      const [es, et] = await Promise.all([source.evaluate(test), target.evaluate(test)])
      // It learnt something, and the other engine sees exactly that.
      expect(es.accuracy).toBeGreaterThan(0.9)
      expect(et.examples).toBe(es.examples)
      expect(et.accuracy).toBe(es.accuracy)
      expect(Math.abs(et.loss - es.loss)).toBeLessThan(1e-4 * Math.max(1, es.loss))
      // Training continues on the other engine from where it stopped.
      await target.train(train, { epochs: 1, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.01 } })
      expect((await target.evaluate(test)).accuracy).toBeGreaterThan(0.9)
      source.dispose()
      target.dispose()
    })
  }
})
