// A Llama-style decoder-only transformer: its configuration (Weft's and Hugging Face's `config.json` names), the
// Hugging Face tensor names and shapes of each part, and the span of it (embedding, blocks i..j, head) that one
// engine instance runs with a per-session KV cache. Engines implement `TransformerRuntime.loadTransformer`.
import { InvalidModelSpecError } from './errors.js'

/**
 * Hyper-parameters of a Llama-style decoder: token embedding, `numLayers` blocks of (RMSNorm, causal multi-head
 * attention with rotary positions and `numKvHeads` grouped KV heads, residual, RMSNorm, SwiGLU MLP, residual), a
 * final RMSNorm and a linear head (tied to the embedding when `tieEmbeddings`).
 */
export interface TransformerConfig {
  readonly vocabSize: number
  readonly hiddenSize: number
  /** Width of the SwiGLU MLP's gate and up projections. */
  readonly intermediateSize: number
  readonly numLayers: number
  readonly numHeads: number
  /** Key/value heads; `numHeads` must be a multiple (grouped-query attention). Equal to `numHeads` for plain MHA. */
  readonly numKvHeads: number
  /** Longest sequence (prompt and generated tokens) a session may hold. */
  readonly maxPositions: number
  /** Base of the rotary frequencies (Llama: 10000). */
  readonly ropeTheta: number
  readonly rmsNormEps: number
  /** The head reuses `model.embed_tokens.weight` (no `lm_head.weight`). */
  readonly tieEmbeddings: boolean
}

/** The part of a transformer one instance runs: optionally the embedding, blocks `[start, end)`, optionally the head. */
export interface TransformerSpan {
  /** Takes token ids and embeds them (else takes hidden states). */
  readonly embed: boolean
  /** First block (inclusive) and last block (exclusive); `start === end` runs no block. */
  readonly blocks: readonly [number, number]
  /** Ends with the final norm and head and returns logits (else returns hidden states). */
  readonly head: boolean
}

/** One tensor: row-major float32 data and its shape. */
export interface NamedTensor {
  readonly shape: readonly number[]
  readonly data: Float32Array
}

/** Tensors by Hugging Face name (e.g. `model.layers.0.self_attn.q_proj.weight`). */
export type NamedTensors = ReadonlyMap<string, NamedTensor>

/** What a span's forward pass takes: token ids (a span with `embed`) or hidden states `[count, hiddenSize]`. */
export type SpanInput = { readonly tokens: Int32Array } | { readonly hidden: Float32Array; readonly count: number }

/** One inference session's KV cache in a `BlockRangeModel`: positions continue from `length`. */
export interface KvSession {
  readonly sessionId: string
  /** Positions held in the cache (tokens forwarded so far, less any truncated). */
  readonly length: number
  /**
   * Runs `count` new positions through the span, appending their keys and values to the cache. Returns hidden states
   * `[count, hiddenSize]`, or logits `[count, vocabSize]` for a span with `head`.
   * @throws RangeError when the input does not fit the span (ids for a span without `embed`, wrong width, an id out of
   *   the vocabulary) or the cache would pass `maxTokens`.
   */
  forward(input: SpanInput): Promise<Float32Array>
  /** Drops cached positions from `length` on (to replay or to roll back a speculative step). */
  truncate(length: number): void
  /** Frees the cache. Further calls throw. */
  close(): void
}

/** A span of a transformer loaded in an engine. */
export interface BlockRangeModel {
  readonly config: TransformerConfig
  readonly span: TransformerSpan
  /** Opens a session with its own KV cache of at most `maxTokens` positions (default `config.maxPositions`). */
  openSession(sessionId: string, options?: { readonly maxTokens?: number }): KvSession
  /** Sessions open now. */
  readonly sessions: number
  /**
   * Runs one step of several sessions of this span as one batch (their positions share each projection and MLP
   * product; attention stays per session): the same outputs as each session's `forward`, in order. Optional: a server
   * steps sessions one by one on an engine without it.
   * @throws RangeError as `forward` does, before any session changes, or when a session is not this span's or repeats
   */
  forwardMany?(steps: readonly { readonly session: KvSession; readonly input: SpanInput }[]): Promise<Float32Array[]>
  /** Frees the weights and every session. */
  dispose(): void
}

/** An engine that can run transformer spans (`RuntimeCapabilities.blockRange`). */
export interface TransformerRuntime {
  /**
   * Loads a span of a transformer from Hugging Face-named tensors: exactly `transformerTensorNames(config, span)`,
   * each of the shape `transformerTensorShapes` gives.
   * @throws InvalidModelSpecError naming a missing, extra or misshapen tensor, or a bad span.
   */
  loadTransformer(config: TransformerConfig, span: TransformerSpan, weights: NamedTensors): Promise<BlockRangeModel>
}

/** How a transformer is trained: AdamW (decoupled weight decay, not on norms) with global-norm gradient clipping. */
export interface TransformerTrainOptions {
  /** Step size when a step names none (schedules pass theirs to `step`). */
  readonly learningRate: number
  /** Decoupled weight decay of matrices (default 0.1; norms are not decayed). */
  readonly weightDecay?: number
  /** Adam's moment decays (default 0.9 and 0.95, as GPT-style training uses). */
  readonly beta1?: number
  readonly beta2?: number
  /** Gradients are scaled down to this global L2 norm when above it (default 1; 0 turns clipping off). */
  readonly clipNorm?: number
}

/** A whole transformer being trained on next-token prediction. */
export interface TransformerTrainer {
  readonly config: TransformerConfig
  /** Optimizer steps taken. */
  readonly steps: number
  /**
   * One AdamW step on `batch` sequences laid end to end in `tokens` (each `tokens.length / batch` ids): every
   * position predicts the next id of its sequence. Returns the mean cross-entropy (nats) before the step.
   * @throws RangeError when `tokens` does not split into `batch` sequences of 2..maxPositions+1 ids in the vocabulary
   */
  step(tokens: Int32Array, batch: number, learningRate?: number): Promise<number>
  /** The mean next-token cross-entropy on sequences laid out as `step` takes them, without training. */
  evaluate(tokens: Int32Array, batch: number): Promise<number>
  /** The current weights, Hugging Face names (copies). */
  weights(): Promise<Map<string, NamedTensor>>
  /**
   * Replaces the weights (whole-model, `transformerTensorNames(config)`), keeping the optimizer's moments and step
   * count: DiLoCo's inner optimizer goes on across outer steps while the weights restart from the outer ones.
   * @throws InvalidModelSpecError naming a missing, extra or misshapen tensor (the weights are then unchanged)
   */
  setWeights(weights: NamedTensors): Promise<void>
  /** Frees the weights and the optimizer's state. */
  dispose(): void
}

/** An engine that trains whole transformers. */
export interface TransformerTrainingRuntime {
  /**
   * Starts training from whole-model weights (`transformerTensorNames(config)`).
   * @throws InvalidModelSpecError naming a missing, extra or misshapen tensor
   */
  createTransformerTrainer(config: TransformerConfig, weights: NamedTensors, options: TransformerTrainOptions): Promise<TransformerTrainer>
}

/**
 * Checks a training batch: `batch` sequences of equal length, 2..maxPositions+1 ids each, every id in the vocabulary.
 * @returns the length of each sequence
 * @throws RangeError naming what is wrong
 */
export function checkTrainingBatch(c: TransformerConfig, tokens: Int32Array, batch: number): number {
  if (!Number.isInteger(batch) || batch <= 0) throw new RangeError(`batch must be a positive integer, got ${batch}`)
  if (tokens.length % batch !== 0) throw new RangeError(`${tokens.length} ids do not split into ${batch} sequences of equal length`)
  const length = tokens.length / batch
  if (length < 2 || length > c.maxPositions + 1) throw new RangeError(`sequences of ${length} ids; 2 to ${c.maxPositions + 1} (maxPositions + 1) are trainable`)
  for (const t of tokens) if (t < 0 || t >= c.vocabSize) throw new RangeError(`token id ${t} is outside the vocabulary of ${c.vocabSize}`)
  return length
}

const MAX_DIM = 1 << 20

function positiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > MAX_DIM) {
    throw new InvalidModelSpecError(`${what} must be a positive integer up to ${MAX_DIM}, got ${JSON.stringify(v)}`)
  }
  return v
}

function positiveNumber(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidModelSpecError(`${what} must be a positive number, got ${JSON.stringify(v)}`)
  return v
}

/**
 * Validates untrusted input as a `TransformerConfig`: Weft's names (`hiddenSize`) or a Hugging Face Llama
 * `config.json` (`hidden_size`, `num_hidden_layers`, ...). Returns a frozen copy.
 * @throws InvalidModelSpecError naming the field that is wrong.
 */
export function parseTransformerConfig(input: unknown): TransformerConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidModelSpecError('a transformer config must be an object')
  const o = input as Record<string, unknown>
  const pick = (weft: string, hf: string): unknown => (o[weft] !== undefined ? o[weft] : o[hf])
  const numHeads = positiveInt(pick('numHeads', 'num_attention_heads'), 'numHeads')
  const hiddenSize = positiveInt(pick('hiddenSize', 'hidden_size'), 'hiddenSize')
  const kv = pick('numKvHeads', 'num_key_value_heads')
  const numKvHeads = kv === undefined ? numHeads : positiveInt(kv, 'numKvHeads')
  if (hiddenSize % numHeads !== 0) throw new InvalidModelSpecError(`hiddenSize ${hiddenSize} must be a multiple of numHeads ${numHeads}`)
  if (numHeads % numKvHeads !== 0) throw new InvalidModelSpecError(`numHeads ${numHeads} must be a multiple of numKvHeads ${numKvHeads}`)
  if ((hiddenSize / numHeads) % 2 !== 0) throw new InvalidModelSpecError(`the head size ${hiddenSize / numHeads} must be even (rotary positions rotate pairs)`)
  const tie = pick('tieEmbeddings', 'tie_word_embeddings')
  if (tie !== undefined && typeof tie !== 'boolean') throw new InvalidModelSpecError(`tieEmbeddings must be a boolean, got ${JSON.stringify(tie)}`)
  const theta = pick('ropeTheta', 'rope_theta')
  const eps = pick('rmsNormEps', 'rms_norm_eps')
  return Object.freeze({
    vocabSize: positiveInt(pick('vocabSize', 'vocab_size'), 'vocabSize'),
    hiddenSize,
    intermediateSize: positiveInt(pick('intermediateSize', 'intermediate_size'), 'intermediateSize'),
    numLayers: positiveInt(pick('numLayers', 'num_hidden_layers'), 'numLayers'),
    numHeads,
    numKvHeads,
    maxPositions: positiveInt(pick('maxPositions', 'max_position_embeddings'), 'maxPositions'),
    ropeTheta: theta === undefined ? 10_000 : positiveNumber(theta, 'ropeTheta'),
    rmsNormEps: eps === undefined ? 1e-6 : positiveNumber(eps, 'rmsNormEps'),
    tieEmbeddings: tie ?? false,
  })
}

/** The Hugging Face `config.json` of a config (LlamaForCausalLM), for tools that read that format. */
export function toHfLlamaConfig(c: TransformerConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    max_position_embeddings: c.maxPositions,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsNormEps,
    tie_word_embeddings: c.tieEmbeddings,
    hidden_act: 'silu',
    torch_dtype: 'float32',
  }
}

/** Size of one attention head. */
export const headSize = (c: TransformerConfig): number => c.hiddenSize / c.numHeads

/**
 * Checks a span against a config.
 * @throws InvalidModelSpecError when the blocks are out of range or reversed.
 */
export function checkSpan(c: TransformerConfig, span: TransformerSpan): void {
  const [start, end] = span.blocks
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > c.numLayers) {
    throw new InvalidModelSpecError(`blocks [${start}, ${end}) are not a range within the model's ${c.numLayers} blocks`)
  }
  if (!span.embed && !span.head && start === end) throw new InvalidModelSpecError('an empty span (no embedding, no blocks, no head) runs nothing')
}

/** Every tensor of the whole model, in Hugging Face order, with its shape ([out, in] for linear weights). */
export function transformerTensorShapes(c: TransformerConfig, span: TransformerSpan = { embed: true, blocks: [0, c.numLayers], head: true }): Map<string, readonly number[]> {
  checkSpan(c, span)
  const h = c.hiddenSize
  const kvWidth = c.numKvHeads * headSize(c)
  const shapes = new Map<string, readonly number[]>()
  // The head of a tied model reads the embedding, so a head-only span holds it too.
  if (span.embed || (span.head && c.tieEmbeddings)) shapes.set('model.embed_tokens.weight', [c.vocabSize, h])
  for (let i = span.blocks[0]; i < span.blocks[1]; i++) {
    const p = `model.layers.${i}`
    shapes.set(`${p}.input_layernorm.weight`, [h])
    shapes.set(`${p}.self_attn.q_proj.weight`, [h, h])
    shapes.set(`${p}.self_attn.k_proj.weight`, [kvWidth, h])
    shapes.set(`${p}.self_attn.v_proj.weight`, [kvWidth, h])
    shapes.set(`${p}.self_attn.o_proj.weight`, [h, h])
    shapes.set(`${p}.post_attention_layernorm.weight`, [h])
    shapes.set(`${p}.mlp.gate_proj.weight`, [c.intermediateSize, h])
    shapes.set(`${p}.mlp.up_proj.weight`, [c.intermediateSize, h])
    shapes.set(`${p}.mlp.down_proj.weight`, [h, c.intermediateSize])
  }
  if (span.head) {
    shapes.set('model.norm.weight', [h])
    if (!c.tieEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, h])
  }
  return shapes
}

/** The tensor names a span needs, in Hugging Face order. */
export function transformerTensorNames(c: TransformerConfig, span?: TransformerSpan): string[] {
  return [...transformerTensorShapes(c, span).keys()]
}

/**
 * Checks that `weights` holds exactly the tensors a span needs, each of the right shape and length.
 * @throws InvalidModelSpecError naming the first missing, extra or misshapen tensor.
 */
export function checkTransformerWeights(c: TransformerConfig, span: TransformerSpan, weights: NamedTensors): void {
  const shapes = transformerTensorShapes(c, span)
  for (const [name, shape] of shapes) {
    const t = weights.get(name)
    if (t === undefined) throw new InvalidModelSpecError(`tensor ${name} is missing`)
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new InvalidModelSpecError(`tensor ${name} has shape [${t.shape.join(', ')}]; expected [${shape.join(', ')}]`)
    }
    const n = shape.reduce((a, b) => a * b, 1)
    if (t.data.length !== n) throw new InvalidModelSpecError(`tensor ${name} holds ${t.data.length} values; its shape holds ${n}`)
  }
  for (const name of weights.keys()) if (!shapes.has(name)) throw new InvalidModelSpecError(`tensor ${name} is not part of this span`)
}

/** Number of parameters of the whole model. */
export function transformerParamCount(c: TransformerConfig): number {
  let n = 0
  for (const shape of transformerTensorShapes(c).values()) n += shape.reduce((a, b) => a * b, 1)
  return n
}
