// Seeded parameter initialization: Glorot/He uniform from Weft's mulberry32, identical on every backend.
import { deriveSeed, mulberry32, type ParamInfo, shapeSize } from '@weft/runtime'

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
