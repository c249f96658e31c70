// Weft's wasm convolution-gradient kernels agree with the tfjs cpu backend; training steps leak no tensors.
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { mulberry32 } from '@weft/runtime'
import { tfjsRuntime } from '@weft/runtime-tfjs'
import { quadrantImages } from '../../runtime/test/synthetic.js'

type Case = [xShape: [number, number, number, number], filter: [number, number, number, number], stride: number | [number, number], pad: 'same' | 'valid']

const cases: Case[] = [
  [[2, 9, 9, 3], [3, 3, 3, 4], 1, 'same'],
  [[2, 9, 9, 3], [3, 3, 3, 4], 1, 'valid'],
  [[2, 10, 11, 2], [5, 5, 2, 3], 2, 'valid'],
  [[2, 10, 11, 2], [5, 5, 2, 3], 2, 'same'],
  [[1, 8, 8, 1], [4, 4, 1, 2], 2, 'same'],
  [[3, 7, 6, 4], [2, 3, 4, 5], [1, 2], 'same'],
  [[2, 12, 12, 1], [5, 5, 1, 6], 1, 'valid'],
  [[2, 7, 7, 8], [5, 5, 8, 16], 1, 'same'],
  // Stride 1 (a convolution of x with dy) at a larger size, 'same' padding.
  [[16, 32, 32, 16], [5, 5, 16, 8], 1, 'same'],
  // Stride 2: X_colᵀ of 200 × 24,576 floats, over the kernel's 4 Mi-float block, so built and multiplied in two chunks.
  [[24, 64, 64, 8], [5, 5, 8, 8], 2, 'same'],
]

function random(n: number, seed: number): Float32Array {
  const r = mulberry32(seed)
  return Float32Array.from({ length: n }, () => r.next() - 0.5)
}

function convGrads(backend: 'cpu' | 'wasm', c: Case, x: Float32Array, w: Float32Array, dy: Float32Array): Float32Array[] {
  void tf.setBackend(backend)
  // Both backends are initialized, so the switch happens synchronously.
  expect(tf.getBackend()).toBe(backend)
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c[0])
    const wt = tf.tensor4d(w, c[1])
    const f = (a: tf.Tensor4D, k: tf.Tensor4D) => tf.conv2d(a, k, c[2], c[3])
    const out = f(xt, wt)
    const dyt = tf.tensor(dy.subarray(0, out.size), out.shape)
    const g = tf.grads((a: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, k as tf.Tensor4D), dyt)))([xt, wt])
    return g.map((t) => t.dataSync() as Float32Array)
  })
}

describe('wasm convolution gradients', () => {
  beforeAll(async () => {
    await tfjsRuntime({ backend: 'cpu' })
    const rt = await tfjsRuntime({ backend: 'wasm' })
    expect(rt.backend).toBe('wasm')
  })

  it.each(cases)('x %j, filter %j, stride %j, %s: dx and dW match cpu within 1e-4 (relative above 1)', (...c) => {
    const [xs, fs] = c
    const x = random(xs.reduce((a, b) => a * b), 1)
    const w = random(fs.reduce((a, b) => a * b), 2)
    const dy = random(xs[0] * xs[1] * xs[2] * fs[3], 3)
    const [dxCpu, dwCpu] = convGrads('cpu', c, x, w, dy)
    const [dxWasm, dwWasm] = convGrads('wasm', c, x, w, dy)
    // Largest difference, relative to the largest |value| where that exceeds 1 (long float32 sums round further).
    const maxDiff = (a: Float32Array, b: Float32Array) =>
      a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0) / Math.max(1, a.reduce((m, v) => Math.max(m, Math.abs(v)), 0))
    expect(dxWasm!.length).toBe(dxCpu!.length)
    expect(dwWasm!.length).toBe(dwCpu!.length)
    expect(maxDiff(dxCpu!, dxWasm!)).toBeLessThan(1e-4)
    expect(maxDiff(dwCpu!, dwWasm!)).toBeLessThan(1e-4)
    expect(dwCpu!.some((v) => Math.abs(v) > 1e-3)).toBe(true)
  })

  it('registers Conv2DBackpropFilter for wasm', () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined()
  })
})

describe('tensor hygiene', () => {
  it.each(['wasm', 'cpu'] as const)('training and evaluation on %s leave the tensor count unchanged', async (backend) => {
    const rt = await tfjsRuntime({ backend })
    const m = await rt.createModel({ architecture: 'cnn-mcmahan', inputShape: [4, 4, 1], numClasses: 4 })
    const ds = quadrantImages(4, 4)
    const opts = { steps: 2, batchSize: 4, optimizer: { kind: 'adamw', lr: 0.001 } } as const
    await m.train(ds, opts)
    const before = tf.memory().numTensors
    await m.train(ds, { ...opts, steps: 6, proximal: { mu: 0.1, reference: m.getParams() } })
    await m.evaluate(ds)
    m.setParams(m.getParams())
    await m.predict(new Float32Array(16), 1)
    await m.gradients(new Float32Array(16), Int32Array.of(1), 1)
    expect(tf.memory().numTensors).toBe(before)
    m.dispose()
    await rt.dispose()
  })
})

describe('wasm max-pool gradient', () => {
  // The last value quantizes x to {-1, 0, 1}: many ties, which go to the first maximum in window order.
  const poolCases: Array<[[number, number, number, number], number, number, 'same' | 'valid', boolean]> = [
    [[2, 8, 8, 6], 2, 2, 'valid', false],
    [[2, 8, 8, 6], 2, 2, 'valid', true],
    [[2, 7, 7, 3], 2, 1, 'valid', true],
    [[2, 8, 8, 3], 2, 2, 'same', false],
    [[2, 7, 9, 4], 2, 2, 'same', false],
    [[2, 7, 9, 4], 2, 2, 'same', true],
    [[1, 9, 9, 2], 3, 2, 'valid', false],
    [[2, 6, 6, 5], 3, 1, 'same', true],
  ]
  it.each(poolCases)('x %j, window %i, stride %i, %s, ties %s matches cpu', async (xs, size, stride, pad, ties) => {
    await tfjsRuntime({ backend: 'cpu' })
    await tfjsRuntime({ backend: 'wasm' })
    const x = random(xs.reduce((a, b) => a * b), 4).map((v) => (ties ? Math.round(2 * v) : v))
    const grad = (backend: 'cpu' | 'wasm') => {
      void tf.setBackend(backend)
      expect(tf.getBackend()).toBe(backend)
      return tf.tidy(() => {
        const xt = tf.tensor4d(x, xs)
        const w = tf.tensor(random(tf.maxPool(xt, size, stride, pad).size, 5), tf.maxPool(xt, size, stride, pad).shape)
        return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, size, stride, pad), w)))(xt).dataSync() as Float32Array
      })
    }
    const cpu = grad('cpu')
    const wasm = grad('wasm')
    expect(cpu.reduce((m, v, i) => Math.max(m, Math.abs(v - wasm[i]!)), 0)).toBeLessThan(1e-6)
    expect(cpu.some((v) => v !== 0)).toBe(true)
  })
})
