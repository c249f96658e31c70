// Model registry and spec validation: parameter lists and counts computed without an engine.
import { describe, expect, it } from 'vitest'
import { type ModelSpec, modelRegistry, paramCount, paramInfo, parseModelSpec } from '@weft/runtime'

const fmnist = { inputShape: [28, 28, 1], numClasses: 10 } as const

describe('model registry', () => {
  it('counts parameters of every built-in architecture for 28x28x1 → 10', () => {
    expect(paramCount({ architecture: 'cnn-mcmahan', ...fmnist })).toBe(1_663_370)
    expect(paramCount({ architecture: 'mlp', ...fmnist })).toBe(199_210)
    expect(paramCount({ architecture: 'cnn-lenet', ...fmnist })).toBe(44_426)
    expect(paramCount({ architecture: 'logreg', ...fmnist })).toBe(7_850)
    expect(Object.fromEntries(modelRegistry.map((r) => [r.name, r.paramCount]))).toEqual({
      logreg: 7_850,
      mlp: 199_210,
      'cnn-lenet': 44_426,
      'cnn-mcmahan': 1_663_370,
    })
    expect(Object.isFrozen(modelRegistry)).toBe(true)
  })

  it('lists parameters in a fixed named order', () => {
    expect(paramInfo({ architecture: 'cnn-mcmahan', ...fmnist })).toEqual([
      { name: 'conv1/kernel', shape: [5, 5, 1, 32] },
      { name: 'conv1/bias', shape: [32] },
      { name: 'conv2/kernel', shape: [5, 5, 32, 64] },
      { name: 'conv2/bias', shape: [64] },
      { name: 'fc1/kernel', shape: [3136, 512] },
      { name: 'fc1/bias', shape: [512] },
      { name: 'fc2/kernel', shape: [512, 10] },
      { name: 'fc2/bias', shape: [10] },
    ])
    expect(paramInfo({ architecture: 'cnn-lenet', ...fmnist }).map((p) => `${p.name}:${p.shape.join('x')}`)).toEqual([
      'conv1/kernel:5x5x1x6',
      'conv1/bias:6',
      'conv2/kernel:5x5x6x16',
      'conv2/bias:16',
      'fc1/kernel:256x120',
      'fc1/bias:120',
      'fc2/kernel:120x84',
      'fc2/bias:84',
      'fc3/kernel:84x10',
      'fc3/bias:10',
    ])
    expect(paramInfo({ architecture: 'mlp', inputShape: [13], numClasses: 3, hidden: [8] }).map((p) => p.name)).toEqual([
      'fc1/kernel',
      'fc1/bias',
      'fc2/kernel',
      'fc2/bias',
    ])
  })

  it('handles odd input sizes (same pooling rounds up, valid pooling down)', () => {
    expect(paramInfo({ architecture: 'cnn-mcmahan', inputShape: [15, 15, 3], numClasses: 2 })[4]?.shape).toEqual([4 * 4 * 64, 512])
    expect(paramInfo({ architecture: 'cnn-lenet', inputShape: [32, 32, 3], numClasses: 10 })[4]?.shape).toEqual([5 * 5 * 16, 120])
  })
})

describe('parseModelSpec', () => {
  it('fills defaults and freezes', () => {
    const s = parseModelSpec({ architecture: 'mlp', inputShape: [784], numClasses: 10 })
    expect(s).toEqual({ architecture: 'mlp', inputShape: [784], numClasses: 10, hidden: [200, 200] })
    expect(Object.isFrozen(s)).toBe(true)
    expect(JSON.parse(JSON.stringify(s))).toEqual(s)
  })

  it.each([
    [null, 'InvalidModelSpecError', /must be an object/],
    [{ architecture: 'vgg', inputShape: [4], numClasses: 2 }, 'UnknownArchitectureError', /vgg.*logreg, mlp, cnn-lenet, cnn-mcmahan/],
    [{ architecture: 'logreg', inputShape: [], numClasses: 2 }, 'InvalidModelSpecError', /spec\.inputShape/],
    [{ architecture: 'logreg', inputShape: [4], numClasses: 1 }, 'InvalidModelSpecError', /spec\.numClasses/],
    [{ architecture: 'logreg', inputShape: [4.5], numClasses: 2 }, 'InvalidModelSpecError', /spec\.inputShape/],
    [{ architecture: 'mlp', inputShape: [4], numClasses: 2, hidden: [-1] }, 'InvalidModelSpecError', /spec\.hidden/],
    [{ architecture: 'logreg', inputShape: [4], numClasses: 2, hidden: [3] }, 'InvalidModelSpecError', /spec\.hidden is not a field/],
    [{ architecture: 'cnn-mcmahan', inputShape: [784], numClasses: 10 }, 'InvalidModelSpecError', /\[height, width, channels\]/],
    [{ architecture: 'cnn-lenet', inputShape: [8, 8, 1], numClasses: 10 }, 'InvalidModelSpecError', /too small/],
  ])('rejects %j with %s', (input, name, message) => {
    expect(() => parseModelSpec(input as ModelSpec)).toThrow(expect.objectContaining({ name, message: expect.stringMatching(message) }))
  })
})
