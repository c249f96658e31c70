// Forward passes of the built-in architectures written with tfjs-core ops, over parameters in registry order.
import * as tf from '@tensorflow/tfjs-core'
import type { ModelSpec } from '@weft/runtime'

type Params = readonly tf.Tensor[]

function denseLayer(x: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x, kernel as tf.Tensor2D), bias)
}

function convLayer(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor, pad: 'same' | 'valid'): tf.Tensor4D {
  return tf.relu(tf.add(tf.conv2d(x, kernel as tf.Tensor4D, 1, pad), bias)) as tf.Tensor4D
}

/**
 * Logits `[n, numClasses]` for a batch `x` of shape `[n, featureSize]`.
 * Call inside `tf.tidy`; `p` holds the parameters in `paramInfo(spec)` order.
 */
export function forward(spec: ModelSpec, p: Params, x: tf.Tensor2D): tf.Tensor2D {
  const at = (i: number): tf.Tensor => p[i]!
  switch (spec.architecture) {
    case 'logreg':
      return denseLayer(x, at(0), at(1))
    case 'mlp': {
      let h = x
      const layers = p.length / 2
      for (let l = 0; l < layers; l++) {
        h = denseLayer(h, at(2 * l), at(2 * l + 1))
        if (l < layers - 1) h = tf.relu(h)
      }
      return h
    }
    case 'cnn-lenet': {
      const [hh, ww, cc] = spec.inputShape as [number, number, number]
      let h: tf.Tensor4D = tf.reshape(x, [-1, hh, ww, cc])
      h = tf.maxPool(convLayer(h, at(0), at(1), 'valid'), 2, 2, 'valid')
      h = tf.maxPool(convLayer(h, at(2), at(3), 'valid'), 2, 2, 'valid')
      let f: tf.Tensor2D = tf.reshape(h, [h.shape[0], -1])
      f = tf.relu(denseLayer(f, at(4), at(5)))
      f = tf.relu(denseLayer(f, at(6), at(7)))
      return denseLayer(f, at(8), at(9))
    }
    case 'cnn-mcmahan': {
      const [hh, ww, cc] = spec.inputShape as [number, number, number]
      let h: tf.Tensor4D = tf.reshape(x, [-1, hh, ww, cc])
      h = tf.maxPool(convLayer(h, at(0), at(1), 'same'), 2, 2, 'same')
      h = tf.maxPool(convLayer(h, at(2), at(3), 'same'), 2, 2, 'same')
      let f: tf.Tensor2D = tf.reshape(h, [h.shape[0], -1])
      f = tf.relu(denseLayer(f, at(4), at(5)))
      return denseLayer(f, at(6), at(7))
    }
    default: {
      const never: never = spec
      throw new TypeError(`unhandled architecture ${JSON.stringify(never)}`)
    }
  }
}

/** Sum (not mean) of softmax cross-entropy over the batch, and the number of correct predictions. */
export function crossEntropySum(logits: tf.Tensor2D, labels: tf.Tensor1D, numClasses: number): tf.Scalar {
  const oneHot = tf.oneHot(labels, numClasses)
  return tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)))) as tf.Scalar
}
