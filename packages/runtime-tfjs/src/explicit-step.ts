// An explicit training step for the built-in models: forward activations kept, the softmax cross-entropy and its
// gradient in JS, and hand-written backward kernels, instead of tf.variableGrads' gradient tape (~2-4x fewer kernels).

import type { NamedAttrMap } from '@tensorflow/tfjs-core'
import * as tf from '@tensorflow/tfjs-core'
import type { ModelSpec } from '@weft/runtime'

/** Loss and gradients of one batch, the gradients in parameter order (tensors owned by the enclosing `tf.tidy`). */
export interface ExplicitStep {
  /** Mean softmax cross-entropy over the batch. */
  readonly loss: number
  readonly grads: tf.Tensor[]
}

/** One convolution block of the CNNs: relu(conv2d(x, W, stride 1) + b), then a 2×2 max pool of stride 2. */
interface ConvBlock {
  readonly input: tf.Tensor4D
  readonly act: tf.Tensor4D
  readonly pooled: tf.Tensor4D
}

/**
 * Mean softmax cross-entropy and its exact gradient for the model `forward` in architectures.ts computes (the
 * same convolutions and pools; dense layers computed transposed), differentiated by hand:
 * - dense layers, on transposed activations (see below): zᵀ = Wᵀ·hᵀ + b, dW = hᵀ·dz, db = Σ dzᵀ over the batch,
 *   dhᵀ = W·dzᵀ; transposes are explicit kernels, as the wasm backend multiplies transposed operands with a slow
 *   loop; no gradient for the model's input;
 * - ReLU: dz = dh masked by act > 0 (0 at 0, as tfjs's gradient);
 * - convolutions and pools: the Conv2DBackpropFilter / Conv2DBackpropInput / MaxPoolGrad kernels the tape's
 *   gradients call, with the same attributes;
 * - loss: logitsᵀ ([classes, n], small) read once, log-sum-exp and (softmax − onehot)/n in JS, in double precision.
 * Call inside `tf.tidy`.
 * @param p parameters in `paramInfo(spec)` order.
 * @param labels class indices in [0, numClasses) (checked by the data set).
 */
export function explicitStep(spec: ModelSpec, p: readonly tf.Tensor[], x: tf.Tensor2D, labels: Int32Array): ExplicitStep {
  const grads = new Array<tf.Tensor>(p.length)
  const n = x.shape[0]
  const convs: ConvBlock[] = []
  let pad: 'same' | 'valid' = 'valid'
  let flat: tf.Tensor2D = x
  let firstDense = 0
  switch (spec.architecture) {
    case 'logreg':
    case 'mlp':
      break
    case 'cnn-lenet':
    case 'cnn-mcmahan': {
      pad = spec.architecture === 'cnn-lenet' ? 'valid' : 'same'
      const [hh, ww, cc] = spec.inputShape as [number, number, number]
      let h: tf.Tensor4D = tf.reshape(x, [-1, hh, ww, cc])
      for (let i = 0; i < 2; i++) {
        const act = tf.relu(tf.add(tf.conv2d(h, p[2 * i] as tf.Tensor4D, 1, pad), p[2 * i + 1]!)) as tf.Tensor4D
        const pooled = tf.maxPool(act, 2, 2, pad)
        convs.push({ input: h, act, pooled })
        h = pooled
      }
      flat = tf.reshape(h, [h.shape[0], -1])
      firstDense = 4
      break
    }
    default: {
      const never: never = spec
      throw new TypeError(`unhandled architecture ${JSON.stringify(never)}`)
    }
  }
  // Dense stack, feature-major: actsT[l] is the transposed input [features, n] of dense layer l. Every product
  // then has an activation-sized right operand, the one XNNPACK packs when it prepares a product (and re-packs
  // whenever it is a new tensor): x·W would re-pack each weight matrix every step, Wᵀ·xᵀ packs only xᵀ.
  const layers = (p.length - firstDense) / 2
  const actsT: tf.Tensor2D[] = [tf.transpose(flat)]
  let logitsT = actsT[0]!
  for (let l = 0; l < layers; l++) {
    const w = p[firstDense + 2 * l] as tf.Tensor2D
    const b = tf.reshape(p[firstDense + 2 * l + 1]!, [w.shape[1], 1])
    const preT: tf.Tensor2D = tf.add(tf.matMul(tf.transpose(w), actsT[l]!), b)
    if (l === layers - 1) logitsT = preT
    else actsT.push(tf.relu(preT))
  }
  const { loss, dLogits, dLogitsT } = softmaxCrossEntropy(logitsT, labels, spec.numClasses)
  let d: tf.Tensor = tf.tensor2d(dLogits, [n, spec.numClasses])
  let dT: tf.Tensor2D = tf.tensor2d(dLogitsT, [spec.numClasses, n])
  for (let l = layers - 1; l >= 0; l--) {
    const hT = actsT[l]!
    const w = p[firstDense + 2 * l] as tf.Tensor2D
    grads[firstDense + 2 * l] = tf.matMul(hT, d as tf.Tensor2D)
    grads[firstDense + 2 * l + 1] = tf.sum(dT, 1)
    if (l > 0) {
      dT = tf.mul(tf.matMul(w, dT), tf.step(hT)) as tf.Tensor2D
      d = tf.transpose(dT)
    } else if (convs.length > 0) {
      d = tf.transpose(tf.matMul(w, dT))
    }
  }
  for (let i = convs.length - 1; i >= 0; i--) {
    const { input, act, pooled } = convs[i]!
    const w = p[2 * i] as tf.Tensor4D
    const dAct = tf.engine().runKernel(tf.MaxPoolGrad, { dy: tf.reshape(d, pooled.shape), input: act, output: pooled }, {
      filterSize: 2,
      strides: 2,
      pad,
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap) as tf.Tensor4D
    const dPre = tf.mul(dAct, tf.step(act))
    const convAttrs = { strides: 1, pad, dataFormat: 'NHWC', dimRoundingMode: undefined }
    grads[2 * i] = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: input, dy: dPre }, {
      ...convAttrs,
      filterShape: w.shape,
    } as unknown as NamedAttrMap) as tf.Tensor
    grads[2 * i + 1] = tf.sum(dPre, [0, 1, 2])
    if (i > 0) {
      d = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy: dPre, filter: w }, {
        ...convAttrs,
        inputShape: input.shape,
      } as unknown as NamedAttrMap) as tf.Tensor
    }
  }
  return { loss, grads }
}

/**
 * Mean cross-entropy of softmax over the columns of `logitsT` ([classes, n]) against `labels`, and its gradient
 * (softmax − onehot)/n, as [n, classes] and [classes, n], computed in double precision.
 */
function softmaxCrossEntropy(
  logitsT: tf.Tensor2D,
  labels: Int32Array,
  numClasses: number,
): { loss: number; dLogits: Float32Array; dLogitsT: Float32Array } {
  const n = logitsT.shape[1]
  const z = logitsT.dataSync() as Float32Array
  const dLogits = new Float32Array(n * numClasses)
  const dLogitsT = new Float32Array(n * numClasses)
  let lossSum = 0
  for (let i = 0; i < n; i++) {
    let max = Number.NEGATIVE_INFINITY
    for (let j = 0; j < numClasses; j++) max = Math.max(max, z[j * n + i]!)
    let sum = 0
    for (let j = 0; j < numClasses; j++) sum += Math.exp(z[j * n + i]! - max)
    const logSum = Math.log(sum) + max
    const y = labels[i]!
    lossSum += logSum - z[y * n + i]!
    for (let j = 0; j < numClasses; j++) {
      const g = (Math.exp(z[j * n + i]! - logSum) - (j === y ? 1 : 0)) / n
      dLogits[i * numClasses + j] = g
      dLogitsT[j * n + i] = g
    }
  }
  return { loss: lossSum / n, dLogits, dLogitsT }
}
