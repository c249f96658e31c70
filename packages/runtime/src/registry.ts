// The model registry: built-in architectures and their parameter lists, computed from the spec without an engine.
import { DEFAULT_MLP_HIDDEN, type ArchitectureName, type ModelSpec, parseModelSpec } from './model-spec.js'

/** One named parameter tensor. The flat parameter vector is the concatenation, in order, of all of them. */
export interface ParamInfo {
  readonly name: string
  readonly shape: readonly number[]
}

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

function dense(name: string, inSize: number, outSize: number): ParamInfo[] {
  return [
    { name: `${name}/kernel`, shape: [inSize, outSize] },
    { name: `${name}/bias`, shape: [outSize] },
  ]
}

function conv(name: string, k: number, inC: number, outC: number): ParamInfo[] {
  return [
    { name: `${name}/kernel`, shape: [k, k, inC, outC] },
    { name: `${name}/bias`, shape: [outC] },
  ]
}

/** Spatial output size of a 'valid' convolution of kernel `k`, stride 1, then a 2x2/2 max pool. */
const validPool = (d: number, k: number): number => Math.floor((d - k + 1) / 2)
/** Spatial output size of a 'same' convolution then a 2x2/2 'same'-padded max pool (ceil). */
const samePool = (d: number): number => Math.ceil(d / 2)

/**
 * The ordered parameter list of a model. Engines must use exactly this order and these shapes.
 * @throws InvalidModelSpecError / UnknownArchitectureError when `spec` is not valid.
 */
export function paramInfo(spec: ModelSpec): readonly ParamInfo[] {
  const s = parseModelSpec(spec)
  const inSize = shapeSize(s.inputShape)
  let out: ParamInfo[]
  switch (s.architecture) {
    case 'logreg':
      out = dense('dense', inSize, s.numClasses)
      break
    case 'mlp': {
      const hidden = s.hidden ?? DEFAULT_MLP_HIDDEN
      out = []
      let prev = inSize
      hidden.forEach((h, i) => {
        out.push(...dense(`fc${i + 1}`, prev, h))
        prev = h
      })
      out.push(...dense(`fc${hidden.length + 1}`, prev, s.numClasses))
      break
    }
    case 'cnn-lenet': {
      const [h, w, c] = s.inputShape as [number, number, number]
      const fh = validPool(validPool(h, 5), 5)
      const fw = validPool(validPool(w, 5), 5)
      out = [
        ...conv('conv1', 5, c, 6),
        ...conv('conv2', 5, 6, 16),
        ...dense('fc1', fh * fw * 16, 120),
        ...dense('fc2', 120, 84),
        ...dense('fc3', 84, s.numClasses),
      ]
      break
    }
    case 'cnn-mcmahan': {
      const [h, w, c] = s.inputShape as [number, number, number]
      const fh = samePool(samePool(h))
      const fw = samePool(samePool(w))
      out = [
        ...conv('conv1', 5, c, 32),
        ...conv('conv2', 5, 32, 64),
        ...dense('fc1', fh * fw * 64, 512),
        ...dense('fc2', 512, s.numClasses),
      ]
      break
    }
    default: {
      const never: never = s
      throw new TypeError(`unhandled spec ${JSON.stringify(never)}`)
    }
  }
  return Object.freeze(out.map((p) => Object.freeze({ name: p.name, shape: Object.freeze([...p.shape]) })))
}

/** Total number of parameters of a model. */
export function paramCount(spec: ModelSpec): number {
  return paramInfo(spec).reduce((n, p) => n + shapeSize(p.shape), 0)
}

/** One row of the model registry. */
export interface ArchitectureInfo {
  readonly name: ArchitectureName
  readonly description: string
  /** The spec used for Fashion-MNIST-sized input (28x28x1 → 10 classes). */
  readonly defaultSpec: ModelSpec
  /** `paramCount(defaultSpec)`. */
  readonly paramCount: number
}

const FMNIST = { inputShape: [28, 28, 1], numClasses: 10 } as const

const rows: ReadonlyArray<Omit<ArchitectureInfo, 'paramCount'>> = [
  { name: 'logreg', description: 'multinomial logistic regression', defaultSpec: { architecture: 'logreg', ...FMNIST } },
  {
    name: 'mlp',
    description: 'fully connected ReLU network, hidden [200, 200] by default ("2NN")',
    defaultSpec: { architecture: 'mlp', ...FMNIST, hidden: DEFAULT_MLP_HIDDEN },
  },
  {
    name: 'cnn-lenet',
    description: 'LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, fc 120, 84',
    defaultSpec: { architecture: 'cnn-lenet', ...FMNIST },
  },
  {
    name: 'cnn-mcmahan',
    description: 'McMahan et al. CNN: conv 32@5x5 same, pool, conv 64@5x5 same, pool, fc 512',
    defaultSpec: { architecture: 'cnn-mcmahan', ...FMNIST },
  },
]

/** The built-in architectures, with parameter counts for 28x28x1 → 10 input. */
export const modelRegistry: readonly ArchitectureInfo[] = Object.freeze(
  rows.map((r) => Object.freeze({ ...r, defaultSpec: parseModelSpec(r.defaultSpec), paramCount: paramCount(r.defaultSpec) })),
)
