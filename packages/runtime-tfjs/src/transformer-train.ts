// Training a whole Llama-style transformer on tfjs: next-token cross-entropy over batches of sequences, gradients by
// tfjs autodiff, AdamW with global-norm clipping written out in tfjs ops. Linear weights are held transposed ([in,
// out]) and products are plain: the wasm backend multiplies untransposed operands with XNNPACK and transposed ones
// with a slow loop. Tokens are embedded as one-hot products (wasm has no kernel for gather's gradient).
import * as tf from '@tensorflow/tfjs-core'
import {
  checkTrainingBatch,
  checkTransformerWeights,
  headSize,
  type NamedTensor,
  type NamedTensors,
  type TransformerConfig,
  type TransformerTrainer,
  type TransformerTrainOptions,
  transformerTensorShapes,
} from '@weft/runtime'
import { type BackendName, useBackend } from './backend.js'
import { causalMask, rmsNorm, rotaryTables } from './transformer.js'

/**
 * Starts training a transformer from whole-model weights on the active backend.
 * @throws InvalidModelSpecError naming a missing, extra or misshapen tensor; RangeError for bad options
 */
export function createTfjsTransformerTrainer(config: TransformerConfig, weights: NamedTensors, options: TransformerTrainOptions, backend: BackendName): TransformerTrainer {
  const span = { embed: true, blocks: [0, config.numLayers] as const, head: true }
  checkTransformerWeights(config, span, weights)
  if (!(options.learningRate > 0)) throw new RangeError(`learningRate must be positive, got ${options.learningRate}`)
  useBackend(backend)
  return new TfjsTransformerTrainer(config, weights, options, backend)
}

interface Slot {
  readonly name: string
  readonly variable: tf.Variable
  readonly m: tf.Variable
  readonly v: tf.Variable
  /** Matrices are decayed; norm weights are not. */
  readonly decay: boolean
  /** Held [in, out]: transposed back for `weights()`. */
  readonly transposed: boolean
}

/** Linear weights (Hugging Face [out, in]); the embedding is a lookup table [vocab, hidden] and stays. */
const isLinear = (name: string): boolean => name.endsWith('_proj.weight') || name === 'lm_head.weight'

class TfjsTransformerTrainer implements TransformerTrainer {
  readonly #slots = new Map<string, Slot>()
  readonly #options: Required<TransformerTrainOptions>
  readonly #backend: BackendName
  readonly #cos: tf.Tensor2D
  readonly #sin: tf.Tensor2D
  readonly #rot: tf.Tensor2D
  #steps = 0
  #disposed = false

  constructor(
    readonly config: TransformerConfig,
    weights: NamedTensors,
    options: TransformerTrainOptions,
    backend: BackendName,
  ) {
    this.#backend = backend
    this.#options = { weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clipNorm: 1, ...options }
    for (const [name, shape] of transformerTensorShapes(config)) {
      const t = weights.get(name) as NamedTensor
      const transposed = isLinear(name)
      const variable = tf.variable(tf.tidy(() => (transposed ? tf.transpose(tf.tensor2d(t.data, [shape[0] as number, shape[1] as number])) : tf.tensor(t.data.slice(), [...shape]))), true)
      this.#slots.set(name, { name, variable, m: tf.variable(tf.zerosLike(variable), false), v: tf.variable(tf.zerosLike(variable), false), decay: shape.length > 1, transposed })
    }
    const { cos, sin } = rotaryTables(config)
    this.#cos = cos
    this.#sin = sin
    this.#rot = rotateHalfMatrix(headSize(config))
  }

  get steps(): number {
    return this.#steps
  }

  async step(tokens: Int32Array, batch: number, learningRate?: number): Promise<number> {
    this.#check()
    const length = checkTrainingBatch(this.config, tokens, batch)
    const lr = learningRate ?? this.#options.learningRate
    if (!(lr >= 0)) throw new RangeError(`learningRate must be 0 or more, got ${lr}`)
    useBackend(this.#backend)
    const { beta1, beta2, weightDecay, clipNorm } = this.#options
    this.#steps++
    const t = this.#steps
    const lossValue = tf.tidy(() => {
      const vars = [...this.#slots.values()].map((s) => s.variable)
      const { value, grads } = tf.variableGrads(() => this.#loss(tokens, batch, length), vars)
      let scale: tf.Scalar = tf.scalar(1)
      if (clipNorm > 0) {
        const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))))
        scale = tf.minimum(tf.scalar(1), tf.div(tf.scalar(clipNorm), tf.add(norm, tf.scalar(1e-6))))
      }
      const c1 = 1 - beta1 ** t
      const c2 = 1 - beta2 ** t
      for (const s of this.#slots.values()) {
        const g = tf.mul(grads[s.variable.name] as tf.Tensor, scale)
        s.m.assign(tf.add(tf.mul(s.m, beta1), tf.mul(g, 1 - beta1)))
        s.v.assign(tf.add(tf.mul(s.v, beta2), tf.mul(tf.square(g), 1 - beta2)))
        const update = tf.div(tf.div(s.m, c1), tf.add(tf.sqrt(tf.div(s.v, c2)), tf.scalar(1e-8)))
        const decayed = s.decay && weightDecay > 0 ? tf.mul(s.variable, 1 - lr * weightDecay) : s.variable
        s.variable.assign(tf.sub(decayed, tf.mul(update, lr)))
      }
      return value.dataSync()[0] as number
    })
    return lossValue
  }

  async evaluate(tokens: Int32Array, batch: number): Promise<number> {
    this.#check()
    const length = checkTrainingBatch(this.config, tokens, batch)
    useBackend(this.#backend)
    return tf.tidy(() => this.#loss(tokens, batch, length).dataSync()[0] as number)
  }

  async weights(): Promise<Map<string, NamedTensor>> {
    this.#check()
    const out = new Map<string, NamedTensor>()
    for (const s of this.#slots.values()) {
      const t = s.transposed ? tf.transpose(s.variable) : s.variable
      out.set(s.name, { shape: t.shape, data: (await t.data()) as Float32Array })
      if (t !== s.variable) t.dispose()
    }
    return out
  }

  async setWeights(weights: NamedTensors): Promise<void> {
    this.#check()
    checkTransformerWeights(this.config, { embed: true, blocks: [0, this.config.numLayers], head: true }, weights)
    useBackend(this.#backend)
    for (const s of this.#slots.values()) {
      const t = weights.get(s.name) as NamedTensor
      tf.tidy(() => {
        const shape = s.variable.shape
        s.variable.assign(s.transposed ? tf.transpose(tf.tensor2d(t.data, [shape[1] as number, shape[0] as number])) : tf.tensor(t.data.slice(), shape))
      })
    }
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    for (const s of this.#slots.values()) for (const t of [s.variable, s.m, s.v]) t.dispose()
    this.#cos.dispose()
    this.#sin.dispose()
    this.#rot.dispose()
  }

  #check(): void {
    if (this.#disposed) throw new Error('the trainer is disposed')
  }

  #w(name: string): tf.Variable {
    return (this.#slots.get(name) as Slot).variable
  }

  /** Mean cross-entropy of predicting ids 1..L-1 of each sequence from those before. */
  #loss(tokens: Int32Array, batch: number, length: number): tf.Scalar {
    const c = this.config
    const T = length - 1
    const inputs = new Int32Array(batch * T)
    const targets = new Int32Array(batch * T)
    for (let b = 0; b < batch; b++) {
      inputs.set(tokens.subarray(b * length, b * length + T), b * T)
      targets.set(tokens.subarray(b * length + 1, (b + 1) * length), b * T)
    }
    const embed = this.#w('model.embed_tokens.weight')
    let x: tf.Tensor2D = tf.matMul(tf.oneHot(tf.tensor1d(inputs, 'int32'), c.vocabSize), embed as tf.Tensor2D)
    const cos = tf.slice(this.#cos, [0, 0], [T, -1])
    const sin = tf.slice(this.#sin, [0, 0], [T, -1])
    const mask = causalMask(0, T)
    for (let i = 0; i < c.numLayers; i++) {
      const w = (n: string) => this.#w(`model.layers.${i}.${n}.weight`) as tf.Tensor
      const attn = attention(c, rmsNorm(x, w('input_layernorm'), c.rmsNormEps), batch, T, w, cos, sin, mask, this.#rot)
      x = tf.add(x, tf.matMul(attn, w('self_attn.o_proj') as tf.Tensor2D))
      const m = rmsNorm(x, w('post_attention_layernorm'), c.rmsNormEps)
      const gate = tf.matMul(m, w('mlp.gate_proj') as tf.Tensor2D)
      const up = tf.matMul(m, w('mlp.up_proj') as tf.Tensor2D)
      x = tf.add(x, tf.matMul(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), w('mlp.down_proj') as tf.Tensor2D))
    }
    // [hidden, vocab]: the tied embedding transposed (a copy, so the product is plain), or the held lm_head.
    const head = c.tieEmbeddings ? tf.transpose(embed) : this.#w('lm_head.weight')
    const logits = tf.matMul(rmsNorm(x, this.#w('model.norm.weight'), c.rmsNormEps), head as tf.Tensor2D)
    const logProbs = tf.logSoftmax(logits)
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(tf.tensor1d(targets, 'int32'), c.vocabSize)), 1)
    return tf.neg(tf.mean(picked)) as tf.Scalar
  }
}

/** Causal grouped-query attention over `batch` sequences of `T` positions; x is [batch·T, hidden]. */
function attention(
  c: TransformerConfig,
  x: tf.Tensor2D,
  batch: number,
  T: number,
  w: (n: string) => tf.Tensor,
  cos: tf.Tensor2D,
  sin: tf.Tensor2D,
  mask: tf.Tensor2D,
  rot: tf.Tensor2D,
): tf.Tensor2D {
  const d = headSize(c)
  const group = c.numHeads / c.numKvHeads
  // [batch·T, heads·d] → [batch, heads, T, d]
  const heads = (t: tf.Tensor2D, n: number): tf.Tensor4D => tf.transpose(tf.reshape(t, [batch, T, n, d]), [0, 2, 1, 3])
  const q = rotary(heads(tf.matMul(x, w('self_attn.q_proj') as tf.Tensor2D), c.numHeads), cos, sin, rot)
  const k = rotary(heads(tf.matMul(x, w('self_attn.k_proj') as tf.Tensor2D), c.numKvHeads), cos, sin, rot)
  const v = heads(tf.matMul(x, w('self_attn.v_proj') as tf.Tensor2D), c.numKvHeads)
  // Query head h reads KV head ⌊h / group⌋: the group's heads line up as [group·T] rows against their KV head.
  const qg = tf.reshape(q, [batch * c.numKvHeads, group * T, d])
  const k3 = tf.reshape(k, [batch * c.numKvHeads, T, d])
  const v3 = tf.reshape(v, [batch * c.numKvHeads, T, d])
  const scores = tf.reshape(tf.mul(tf.matMul(qg, tf.transpose(k3, [0, 2, 1])), 1 / Math.sqrt(d)), [batch * c.numKvHeads, group, T, T])
  const probs = tf.reshape(tf.softmax(tf.add(scores, mask)), [batch * c.numKvHeads, group * T, T])
  const out = tf.reshape(tf.matMul(probs, v3), [batch, c.numHeads, T, d])
  return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [batch * T, c.hiddenSize])
}

/** Rotary positions on [..., T, d]: x·cos + rotateHalf(x)·sin, rotateHalf as a product with `rot` (no split/concat). */
function rotary(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D, rot: tf.Tensor2D): tf.Tensor4D {
  const d = rot.shape[0]
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [-1, d]), rot), x.shape)
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin))
}

/** [d, d] with x·R = rotateHalf(x) = [-x[d/2:], x[:d/2]]. */
function rotateHalfMatrix(d: number): tf.Tensor2D {
  const half = d / 2
  const r = new Float32Array(d * d)
  for (let i = 0; i < half; i++) {
    r[(i + half) * d + i] = -1
    r[i * d + i + half] = 1
  }
  return tf.tensor2d(r, [d, d])
}
