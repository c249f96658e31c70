// Model specifications: architecture name plus hyper-parameters, JSON-serializable, validated once at the edge.
import { InvalidModelSpecError, UnknownArchitectureError } from './errors.js'

/** Names of the built-in architectures. */
export const ARCHITECTURES = Object.freeze(['logreg', 'mlp', 'cnn-lenet', 'cnn-mcmahan'] as const)
export type ArchitectureName = (typeof ARCHITECTURES)[number]

interface SpecBase {
  /** Shape of one example's features, e.g. `[28, 28, 1]` (CNNs need rank 3: height, width, channels). */
  readonly inputShape: readonly number[]
  readonly numClasses: number
}

/** Multinomial logistic regression: one dense layer. */
export interface LogregSpec extends SpecBase {
  readonly architecture: 'logreg'
}

/** Fully connected network with ReLU hidden layers; default hidden `[200, 200]` ("2NN" of McMahan et al.). */
export interface MlpSpec extends SpecBase {
  readonly architecture: 'mlp'
  readonly hidden?: readonly number[]
}

/** LeNet-5 style: conv 6@5x5 valid, maxpool 2, conv 16@5x5 valid, maxpool 2, fc 120, 84, classes; ReLU. */
export interface LenetSpec extends SpecBase {
  readonly architecture: 'cnn-lenet'
}

/** CNN of McMahan et al. (2017): conv 32@5x5 same, pool 2, conv 64@5x5 same, pool 2, fc 512, classes. */
export interface McmahanSpec extends SpecBase {
  readonly architecture: 'cnn-mcmahan'
}

/** A model: architecture and hyper-parameters. Parameters are described by `paramInfo(spec)`. */
export type ModelSpec = LogregSpec | MlpSpec | LenetSpec | McmahanSpec

/** The default hidden layers of `mlp`. */
export const DEFAULT_MLP_HIDDEN: readonly number[] = Object.freeze([200, 200])

const MAX_DIM = 1 << 24

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= MAX_DIM
}

function checkDims(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every(isPositiveInt)) {
    throw new InvalidModelSpecError(`${what} must be a non-empty array of positive integers, got ${JSON.stringify(v)}`)
  }
  return [...v]
}

/**
 * Validates untrusted input as a `ModelSpec` and returns a frozen, normalized copy.
 * @throws UnknownArchitectureError for an unknown `architecture`.
 * @throws InvalidModelSpecError naming the field that is wrong.
 */
export function parseModelSpec(input: unknown): ModelSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidModelSpecError(`spec must be an object, got ${input === null ? 'null' : typeof input}`)
  }
  const o = input as Record<string, unknown>
  const arch = o['architecture']
  if (typeof arch !== 'string') throw new InvalidModelSpecError('spec.architecture must be a string')
  if (!(ARCHITECTURES as readonly string[]).includes(arch)) throw new UnknownArchitectureError(arch, ARCHITECTURES)
  const inputShape = checkDims(o['inputShape'], 'spec.inputShape')
  const numClasses = o['numClasses']
  if (!isPositiveInt(numClasses) || numClasses < 2) {
    throw new InvalidModelSpecError(`spec.numClasses must be an integer ≥ 2, got ${JSON.stringify(numClasses)}`)
  }
  const known = new Set(['architecture', 'inputShape', 'numClasses', ...(arch === 'mlp' ? ['hidden'] : [])])
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new InvalidModelSpecError(`spec.${k} is not a field of a ${arch} spec`)
  }
  const a = arch as ArchitectureName
  switch (a) {
    case 'logreg':
      return Object.freeze({ architecture: a, inputShape: Object.freeze(inputShape), numClasses })
    case 'mlp': {
      const hidden = o['hidden'] === undefined ? [...DEFAULT_MLP_HIDDEN] : checkDims(o['hidden'], 'spec.hidden')
      return Object.freeze({
        architecture: a,
        inputShape: Object.freeze(inputShape),
        numClasses,
        hidden: Object.freeze(hidden),
      })
    }
    case 'cnn-lenet':
    case 'cnn-mcmahan': {
      if (inputShape.length !== 3) {
        throw new InvalidModelSpecError(
          `spec.inputShape of ${a} must be [height, width, channels], got ${JSON.stringify(inputShape)}`,
        )
      }
      const spec = Object.freeze({ architecture: a, inputShape: Object.freeze(inputShape), numClasses })
      if (a === 'cnn-lenet') {
        const [h, w] = inputShape as [number, number, number]
        const out = (d: number): number => Math.floor((Math.floor((d - 4) / 2) - 4) / 2)
        if (out(h) < 1 || out(w) < 1) {
          throw new InvalidModelSpecError(`spec.inputShape ${JSON.stringify(inputShape)} is too small for cnn-lenet (needs ≥ 16x16)`)
        }
      } else {
        const [h, w] = inputShape as [number, number, number]
        if (h < 4 || w < 4) {
          throw new InvalidModelSpecError(`spec.inputShape ${JSON.stringify(inputShape)} is too small for cnn-mcmahan (needs ≥ 4x4)`)
        }
      }
      return spec
    }
    default: {
      const never: never = a
      throw new UnknownArchitectureError(never, ARCHITECTURES)
    }
  }
}
