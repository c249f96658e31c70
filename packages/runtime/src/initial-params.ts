// Seeded parameter initialization: Glorot/He uniform from Weft's mulberry32, identical on every engine and backend.
import type { ModelSpec } from './model-spec.js'
import { deriveSeed, mulberry32 } from './prng.js'
import { type ParamInfo, paramInfo, shapeSize } from './registry.js'

/**
 * Initial values for every parameter: kernels of ReLU layers He-uniform, the output layer Glorot-uniform,
 * biases zero. Each parameter draws from its own stream `deriveSeed(seed, index)`, so values do not depend on
 * other parameters' sizes.
 */
export function initialParams(info: readonly ParamInfo[], seed: number): Float32Array[] {
  const lastKernel = info.map((p) => p.name.endsWith('/kernel')).lastIndexOf(true)
  return info.map((p, i) => {
    const n = shapeSize(p.shape)
    const out = new Float32Array(n)
    if (!p.name.endsWith('/kernel')) return out
    const shape = p.shape
    const receptive = shape.length === 4 ? shape[0]! * shape[1]! : 1
    const fanIn = receptive * shape[shape.length - 2]!
    const fanOut = receptive * shape[shape.length - 1]!
    const limit = i === lastKernel ? Math.sqrt(6 / (fanIn + fanOut)) : Math.sqrt(6 / fanIn)
    const rng = mulberry32(deriveSeed(seed, i))
    for (let j = 0; j < n; j++) out[j] = (rng.next() * 2 - 1) * limit
    return out
  })
}

/**
 * The initial flat parameter vector of a model: `initialParams(paramInfo(spec), seed)` concatenated in order.
 * Every engine starts from these values, so a federation's round 0 is the same whoever computes it.
 */
export function initialFlatParams(spec: ModelSpec, seed: number): Float32Array {
  const parts = initialParams(paramInfo(spec), seed)
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}
