// Gradients of the kernels Weft's models use. tfjs-core's Node bundle ships no gradients (the union package
// @tensorflow/tfjs registers them); these follow tfjs-core's own definitions and are registered only when absent.
import * as tf from '@tensorflow/tfjs-core'
import type { GradConfig, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core'

const { broadcast_util: bu } = tf

/** Sums `dy` over the axes `shape` was broadcast along, then reshapes it to `shape`. */
function unbroadcast(dy: Tensor, shape: number[]): Tensor {
  const outShape = bu.assertAndGetBroadcastShape(shape, dy.shape)
  const axes = bu.getReductionAxes(shape, outShape)
  return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, shape)
}

/** `t` as float32: itself when it already is (a Cast kernel would copy it). */
const asFloat = (t: Tensor): Tensor => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'))

const attr = <T>(attrs: NamedAttrMap, key: string): T => attrs[key] as unknown as T

const configs: GradConfig[] = [
  {
    kernelName: tf.Add,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({ a: () => unbroadcast(dy as Tensor, a!.shape), b: () => unbroadcast(dy as Tensor, b!.shape) }),
  },
  {
    kernelName: tf.Sub,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({ a: () => unbroadcast(dy as Tensor, a!.shape), b: () => tf.neg(unbroadcast(dy as Tensor, b!.shape)) }),
  },
  {
    kernelName: tf.Multiply,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({
      a: () => unbroadcast(tf.mul(dy as Tensor, asFloat(b!)), a!.shape),
      b: () => unbroadcast(tf.mul(dy as Tensor, asFloat(a!)), b!.shape),
    }),
  },
  {
    kernelName: tf.SquaredDifference,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => {
      const two = tf.scalar(2)
      return {
        a: () => unbroadcast(tf.mul(dy as Tensor, tf.mul(two, tf.sub(a!, b!))), a!.shape),
        b: () => unbroadcast(tf.mul(dy as Tensor, tf.mul(two, tf.sub(b!, a!))), b!.shape),
      }
    },
  },
  {
    kernelName: tf.Square,
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as Tensor, tf.mul(asFloat(x!), 2)) }),
  },
  { kernelName: tf.Neg, gradFunc: (dy) => ({ x: () => tf.neg(dy as Tensor) }) },
  { kernelName: tf.Cast, gradFunc: (dy) => ({ x: () => (dy as Tensor).clone() }) },
  { kernelName: tf.Identity, gradFunc: (dy) => ({ x: () => (dy as Tensor).clone() }) },
  {
    kernelName: tf.AddN,
    saveAllInputs: true,
    gradFunc: (dy, saved) => Object.fromEntries(saved.map((_, i) => [i, () => (dy as Tensor).clone()])),
  },
  {
    kernelName: tf.Reshape,
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as Tensor, x!.shape) }),
  },
  {
    kernelName: tf.Sum,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const shape = x!.shape.slice()
      for (const ax of tf.util.parseAxisParam(attr<number | number[]>(attrs, 'axis'), x!.shape)) shape[ax] = 1
      return { x: () => tf.mul(tf.reshape(dy as Tensor, shape), tf.ones(x!.shape, 'float32')) }
    },
  },
  {
    kernelName: tf.Mean,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const shape = x!.shape.slice()
      const axes = tf.util.parseAxisParam(attr<number | number[]>(attrs, 'axis'), x!.shape)
      let n = 1
      for (const ax of axes) {
        n *= shape[ax]!
        shape[ax] = 1
      }
      return { x: () => tf.mul(tf.reshape(dy as Tensor, shape), tf.fill(x!.shape, 1 / n, 'float32')) }
    },
  },
  // Transformer training (transformer-train.ts): heads are transposed, attention is a softmax, SwiGLU's gate a
  // sigmoid, RMSNorm an rsqrt.
  {
    kernelName: tf.Transpose,
    gradFunc: (dy, _saved, attrs) => {
      const perm = attr<number[]>(attrs, 'perm')
      const undo = new Array<number>(perm.length)
      perm.forEach((p, i) => {
        undo[p] = i
      })
      return { x: () => tf.transpose(dy as Tensor, undo) }
    },
  },
  {
    kernelName: tf.Softmax,
    outputsToSave: [true],
    gradFunc: (dy, [y], attrs) => {
      const dim = attr<number>(attrs, 'dim')
      const dyTimesY = tf.mul(dy as Tensor, y!)
      return { logits: () => tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y!)) }
    },
  },
  {
    kernelName: tf.Sigmoid,
    outputsToSave: [true],
    gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy as Tensor, tf.mul(y!, tf.sub(tf.scalar(1), y!))) }),
  },
  {
    kernelName: tf.Rsqrt,
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.div(dy as Tensor, tf.mul(tf.pow(x!, 1.5), -2)) }),
  },
  {
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as Tensor, asFloat(tf.step(asFloat(x!)))) }),
  },
  {
    kernelName: tf.BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b], attrs) => {
      const ta = attr<boolean>(attrs, 'transposeA')
      const tb = attr<boolean>(attrs, 'transposeB')
      const g = dy as Tensor
      // The wasm backend multiplies untransposed operands with XNNPACK but transposed ones with a slow loop,
      // so rank-2 products transpose explicitly (a cheap copy) and multiply plainly.
      const mm = (x: Tensor, y: Tensor, tx: boolean, ty: boolean): Tensor =>
        x.rank === 2 && y.rank === 2
          ? tf.matMul(tx ? tf.transpose(x) : x, ty ? tf.transpose(y) : y)
          : tf.matMul(x, y, tx, ty)
      if (!ta && !tb) return { a: () => mm(g, b!, false, true), b: () => mm(a!, g, true, false) }
      if (!ta && tb) return { a: () => mm(g, b!, false, false), b: () => mm(g, a!, true, false) }
      if (ta && !tb) return { a: () => mm(b!, g, false, true), b: () => mm(a!, g, false, false) }
      return { a: () => mm(b!, g, true, true), b: () => mm(g, a!, true, true) }
    },
  },
  {
    kernelName: tf.Conv2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      const dilations = attr<number | [number, number]>(attrs, 'dilations') ?? 1
      if (!tf.backend_util.tupleValuesAreOne(dilations)) throw new Error('Conv2D gradient supports dilation 1 only')
      const common = {
        strides: attrs['strides'],
        pad: attrs['pad'],
        dataFormat: attrs['dataFormat'],
        dimRoundingMode: attrs['dimRoundingMode'],
      } as unknown as NamedAttrMap
      return {
        x: () =>
          tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: dy as Tensor, filter: filter! }, {
            ...common,
            inputShape: x!.shape,
          } as unknown as NamedAttrMap) as Tensor,
        filter: () =>
          tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: x!, dy: dy as Tensor }, {
            ...common,
            filterShape: filter!.shape,
          } as unknown as NamedAttrMap) as Tensor,
      }
    },
  },
  {
    kernelName: tf.MaxPool,
    inputsToSave: ['x'],
    outputsToSave: [true],
    gradFunc: (dy, [x, y], attrs) => ({
      x: () =>
        tf.engine().runKernel(tf.MaxPoolGrad, { dy: dy as Tensor, input: x!, output: y! }, {
          filterSize: attrs['filterSize'],
          strides: attrs['strides'],
          pad: attrs['pad'],
          dimRoundingMode: attrs['dimRoundingMode'],
        } as unknown as NamedAttrMap) as Tensor,
    }),
  },
]

/** Registers the gradients above for kernels that have none yet; returns the kernel names registered. */
export function registerWeftGradients(): string[] {
  const added: string[] = []
  for (const c of configs) {
    if (tf.getGradient(c.kernelName) === undefined) {
      tf.registerGradient(c)
      added.push(c.kernelName)
    }
  }
  return added
}
