// A span of a Llama-style transformer (embedding, blocks i..j, head) on tfjs, run in-thread with a KV cache per session.
import * as tf from '@tensorflow/tfjs-core'
import {
  type BlockRangeModel,
  checkSpan,
  checkSpanInput,
  checkTransformerWeights,
  headSize,
  type KvSession,
  type NamedTensor,
  type NamedTensors,
  type SpanInput,
  type TransformerConfig,
  type TransformerSpan,
} from '@weft/runtime'
import { type BackendName, useBackend } from './backend.js'
import { SessionClosedError } from './errors.js'

/** One block's weights on the engine; linear weights are transposed to [in, out] so a projection is `x·W`. */
interface BlockWeights {
  readonly inputNorm: tf.Tensor1D
  readonly q: tf.Tensor2D
  readonly k: tf.Tensor2D
  readonly v: tf.Tensor2D
  readonly o: tf.Tensor2D
  readonly postNorm: tf.Tensor1D
  readonly gate: tf.Tensor2D
  readonly up: tf.Tensor2D
  readonly down: tf.Tensor2D
}

/** The final norm and the output projection, [hidden, vocab] (the transposed embedding when tied). */
interface HeadWeights {
  readonly norm: tf.Tensor1D
  readonly out: tf.Tensor2D
}

/** Keys and values of one block for every cached position, after rotary: [numKvHeads, length, headSize] each. */
interface LayerCache {
  readonly k: tf.Tensor3D
  readonly v: tf.Tensor3D
}

/**
 * Loads a span of a transformer on the active tfjs backend, uploading each weight once.
 * @throws InvalidModelSpecError naming a missing, extra or misshapen tensor, or a bad span.
 */
export function loadTfjsTransformer(config: TransformerConfig, span: TransformerSpan, weights: NamedTensors, backend: BackendName, onDispose: (m: BlockRangeModel) => void): BlockRangeModel {
  checkSpan(config, span)
  checkTransformerWeights(config, span, weights)
  useBackend(backend)
  return new TfjsTransformer(config, span, weights, backend, onDispose)
}

class TfjsTransformer implements BlockRangeModel {
  readonly backend: BackendName
  readonly #onDispose: (m: BlockRangeModel) => void
  readonly #embed: tf.Tensor2D | undefined
  readonly #blocks: readonly BlockWeights[]
  readonly #head: HeadWeights | undefined
  /** cos and sin of every position's rotary angles, [maxPositions, headSize], built once. */
  readonly #cos: tf.Tensor2D | undefined
  readonly #sin: tf.Tensor2D | undefined
  readonly #sessions = new Map<string, TfjsKvSession>()
  #disposed = false

  constructor(
    readonly config: TransformerConfig,
    readonly span: TransformerSpan,
    weights: NamedTensors,
    backend: BackendName,
    onDispose: (m: BlockRangeModel) => void,
  ) {
    this.backend = backend
    this.#onDispose = onDispose
    // `get` is safe: checkTransformerWeights has proved every name the span needs is present with its shape.
    const get = (name: string): NamedTensor => weights.get(name)!
    const vector = (name: string): tf.Tensor1D => tf.tensor1d(get(name).data.slice())
    // Weights arrive [out, in] (y = x·Wᵀ); transposing once here saves a transpose per forward.
    const linear = (name: string): tf.Tensor2D => {
      const t = get(name)
      return tf.tidy(() => tf.transpose(tf.tensor2d(t.data, [t.shape[0]!, t.shape[1]!])))
    }
    const embedNeeded = span.embed || (span.head && config.tieEmbeddings)
    const embed = embedNeeded ? tf.tensor2d(get('model.embed_tokens.weight').data.slice(), [config.vocabSize, config.hiddenSize]) : undefined
    this.#embed = span.embed ? embed : undefined
    const blocks: BlockWeights[] = []
    for (let i = span.blocks[0]; i < span.blocks[1]; i++) {
      const p = `model.layers.${i}`
      blocks.push({
        inputNorm: vector(`${p}.input_layernorm.weight`),
        q: linear(`${p}.self_attn.q_proj.weight`),
        k: linear(`${p}.self_attn.k_proj.weight`),
        v: linear(`${p}.self_attn.v_proj.weight`),
        o: linear(`${p}.self_attn.o_proj.weight`),
        postNorm: vector(`${p}.post_attention_layernorm.weight`),
        gate: linear(`${p}.mlp.gate_proj.weight`),
        up: linear(`${p}.mlp.up_proj.weight`),
        down: linear(`${p}.mlp.down_proj.weight`),
      })
    }
    this.#blocks = blocks
    if (span.head) {
      let out: tf.Tensor2D
      if (config.tieEmbeddings) {
        out = tf.transpose(embed!)
        // A tied head-only span holds the embedding only to derive the head from it.
        if (!span.embed) embed!.dispose()
      } else {
        out = linear('lm_head.weight')
      }
      this.#head = { norm: vector('model.norm.weight'), out }
    }
    if (blocks.length > 0) {
      const { cos, sin } = rotaryTables(config)
      this.#cos = cos
      this.#sin = sin
    }
  }

  get sessions(): number {
    return this.#sessions.size
  }

  /**
   * Opens a session; ids are unique among open sessions, as a server keys its clients' caches by them.
   * @throws RangeError when `maxTokens` is not an integer in [1, config.maxPositions] or the id is already open.
   * @throws Error when the model is disposed.
   */
  openSession(sessionId: string, options: { readonly maxTokens?: number } = {}): KvSession {
    if (this.#disposed) throw new Error('the transformer is disposed')
    const maxTokens = options.maxTokens ?? this.config.maxPositions
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > this.config.maxPositions) {
      throw new RangeError(`options.maxTokens must be an integer in [1, ${this.config.maxPositions}], got ${maxTokens}`)
    }
    if (this.#sessions.has(sessionId)) throw new RangeError(`session ${JSON.stringify(sessionId)} is already open`)
    const session = new TfjsKvSession(sessionId, maxTokens, this, (s) => this.#sessions.delete(s.sessionId))
    this.#sessions.set(sessionId, session)
    return session
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    for (const s of [...this.#sessions.values()]) s.close()
    const tensors: tf.Tensor[] = []
    if (this.#embed !== undefined) tensors.push(this.#embed)
    for (const b of this.#blocks) tensors.push(...Object.values(b))
    if (this.#head !== undefined) tensors.push(this.#head.norm, this.#head.out)
    if (this.#cos !== undefined) tensors.push(this.#cos)
    if (this.#sin !== undefined) tensors.push(this.#sin)
    for (const t of tensors) t.dispose()
    this.#onDispose(this)
  }

  /**
   * One step of several sessions as one batch: the rows of every session go through each projection and MLP product
   * together; rotary angles are gathered per row by its position; attention runs per session over its own cache.
   */
  async forwardMany(steps: readonly { readonly session: KvSession; readonly input: SpanInput }[]): Promise<Float32Array[]> {
    if (this.#disposed) throw new Error('the transformer is disposed')
    const sessions = steps.map((s) => s.session)
    if (new Set(sessions).size !== sessions.length) throw new RangeError('a session appears twice in one batch')
    for (const s of sessions) if (!(s instanceof TfjsKvSession) || s.model !== this) throw new RangeError(`session ${JSON.stringify(s.sessionId)} is not one of this span's`)
    const prepared = steps.map((s) => (s.session as TfjsKvSession).prepare(s.input))
    if (prepared.length === 0) return []
    useBackend(this.backend)
    let ran: { out: tf.Tensor2D; caches: LayerCache[][] } | undefined
    tf.tidy(() => {
      ran = this.#runMany(prepared)
      tf.keep(ran.out)
      for (const cache of ran.caches) {
        for (const { k, v } of cache) {
          tf.keep(k)
          tf.keep(v)
        }
      }
    })
    const { out, caches } = ran!
    const rows = out.dataSync() as Float32Array
    out.dispose()
    const width = this.span.head ? this.config.vocabSize : this.config.hiddenSize
    const results: Float32Array[] = []
    let at = 0
    for (const [i, p] of prepared.entries()) {
      ;(sessions[i] as TfjsKvSession).commit(caches[i] as LayerCache[], p.count)
      results.push(rows.slice(at * width, (at + p.count) * width))
      at += p.count
    }
    return results
  }

  #runMany(prepared: readonly { x: Int32Array | Float32Array; count: number; start: number; cache: readonly LayerCache[] }[]): { out: tf.Tensor2D; caches: LayerCache[][] } {
    const c = this.config
    const d = headSize(c)
    const group = c.numHeads / c.numKvHeads
    const total = prepared.reduce((n, p) => n + p.count, 0)
    let h: tf.Tensor2D
    if (this.span.embed) {
      const ids = new Int32Array(total)
      let at = 0
      for (const p of prepared) {
        ids.set(p.x as Int32Array, at)
        at += p.count
      }
      h = tf.gather(this.#embed!, tf.tensor1d(ids, 'int32'))
    } else {
      h = tf.concat(prepared.map((p) => tf.tensor2d(p.x as Float32Array, [p.count, c.hiddenSize])))
    }
    const caches: LayerCache[][] = prepared.map(() => [])
    if (this.#blocks.length > 0) {
      const positions = new Int32Array(total)
      let at = 0
      for (const p of prepared) for (let i = 0; i < p.count; i++) positions[at++] = p.start + i
      const index = tf.tensor1d(positions, 'int32')
      // [rows, 1, d]: broadcast over the heads of each row.
      const cos = tf.expandDims(tf.gather(this.#cos!, index), 1) as tf.Tensor3D
      const sin = tf.expandDims(tf.gather(this.#sin!, index), 1) as tf.Tensor3D
      const masks = prepared.map((p) => causalMask(p.start, p.count))
      for (const [bi, b] of this.#blocks.entries()) {
        const n = rmsNorm(h, b.inputNorm, c.rmsNormEps)
        const rows = (t: tf.Tensor2D, heads: number): tf.Tensor3D => tf.reshape(t, [total, heads, d])
        const q = rotary(rows(tf.matMul(n, b.q), c.numHeads), cos, sin)
        const k = rotary(rows(tf.matMul(n, b.k), c.numKvHeads), cos, sin)
        const v = rows(tf.matMul(n, b.v), c.numKvHeads)
        const outs: tf.Tensor2D[] = []
        let row = 0
        for (const [i, p] of prepared.entries()) {
          // This session's rows, as [heads, count, d].
          const mine = (t: tf.Tensor3D, heads: number) => tf.transpose(tf.slice(t, [row, 0, 0], [p.count, heads, d]), [1, 0, 2]) as tf.Tensor3D
          const cached = p.cache[bi]
          const kAll = cached === undefined ? mine(k, c.numKvHeads) : tf.concat([cached.k, mine(k, c.numKvHeads)], 1)
          const vAll = cached === undefined ? mine(v, c.numKvHeads) : tf.concat([cached.v, mine(v, c.numKvHeads)], 1)
          ;(caches[i] as LayerCache[]).push({ k: kAll, v: vAll })
          const len = kAll.shape[1]
          const qg = tf.reshape(mine(q, c.numHeads), [c.numKvHeads, group * p.count, d])
          const scores = tf.reshape(tf.mul(tf.matMul(qg, kAll, false, true), tf.scalar(1 / Math.sqrt(d))), [c.numKvHeads, group, p.count, len])
          const probs = tf.reshape(tf.softmax(tf.add(scores, masks[i] as tf.Tensor2D)), [c.numKvHeads, group * p.count, len])
          const o = tf.reshape(tf.matMul(probs, vAll), [c.numHeads, p.count, d])
          outs.push(tf.reshape(tf.transpose(o, [1, 0, 2]), [p.count, c.hiddenSize]))
          row += p.count
        }
        h = tf.add(h, tf.matMul(outs.length === 1 ? (outs[0] as tf.Tensor2D) : tf.concat(outs), b.o))
        const m = rmsNorm(h, b.postNorm, c.rmsNormEps)
        const gate = tf.matMul(m, b.gate)
        h = tf.add(h, tf.matMul(tf.mul(tf.mul(gate, tf.sigmoid(gate)), tf.matMul(m, b.up)), b.down))
      }
    }
    if (this.#head !== undefined) h = tf.matMul(rmsNorm(h, this.#head.norm, c.rmsNormEps), this.#head.out)
    return { out: h, caches }
  }
}

class TfjsKvSession implements KvSession {
  #cache: LayerCache[] = []
  #length = 0
  #closed = false

  readonly #maxTokens: number
  readonly #model: TfjsTransformer
  readonly #onClose: (s: TfjsKvSession) => void

  constructor(readonly sessionId: string, maxTokens: number, model: TfjsTransformer, onClose: (s: TfjsKvSession) => void) {
    this.#maxTokens = maxTokens
    this.#model = model
    this.#onClose = onClose
  }

  get length(): number {
    return this.#length
  }

  /**
   * @throws RangeError when the input does not fit the span or the cache would pass `maxTokens`.
   * @throws SessionClosedError after `close()` or the model's `dispose()`.
   */
  async forward(input: SpanInput): Promise<Float32Array> {
    this.#checkOpen()
    // One session's step is a batch of one: the span's one way through its blocks.
    return (await this.#model.forwardMany([{ session: this, input }]))[0] as Float32Array
  }

  /**
   * Checks a step's input for a batched step (`forwardMany`) and gives what the model needs; nothing changes yet.
   * @throws RangeError / SessionClosedError as `forward`
   */
  prepare(input: SpanInput): { x: Int32Array | Float32Array; count: number; start: number; cache: readonly LayerCache[] } {
    this.#checkOpen()
    const { config, span } = this.#model
    const count = checkSpanInput(config, span, input)
    if (this.#length + count > this.#maxTokens) {
      throw new RangeError(`${count} more positions would pass the session's ${this.#maxTokens} (it holds ${this.#length})`)
    }
    return { x: 'tokens' in input ? Int32Array.from(input.tokens) : input.hidden, count, start: this.#length, cache: this.#cache }
  }

  /** Takes a batched step's new cache (kept tensors) and advances the length. */
  commit(cache: LayerCache[], count: number): void {
    this.#replaceCache(cache)
    this.#length += count
  }

  /** The model this session belongs to. */
  get model(): TfjsTransformer {
    return this.#model
  }

  /** @throws RangeError when `length` is not an integer in [0, this.length]. */
  truncate(length: number): void {
    this.#checkOpen()
    if (!Number.isInteger(length) || length < 0 || length > this.#length) {
      throw new RangeError(`truncate length must be an integer in [0, ${this.#length}], got ${length}`)
    }
    if (length === this.#length) return
    useBackend(this.#model.backend)
    this.#replaceCache(length === 0 ? [] : this.#cache.map(({ k, v }) => ({ k: tf.slice(k, [0, 0, 0], [-1, length, -1]), v: tf.slice(v, [0, 0, 0], [-1, length, -1]) })))
    this.#length = length
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#replaceCache([])
    this.#length = 0
    this.#onClose(this)
  }

  #replaceCache(next: LayerCache[]): void {
    for (const { k, v } of this.#cache) {
      k.dispose()
      v.dispose()
    }
    this.#cache = next
  }

  #checkOpen(): void {
    if (this.#closed) throw new SessionClosedError(`session ${JSON.stringify(this.sessionId)} is closed`)
  }
}


/** RMSNorm as Llama's: x · rsqrt(mean(x²) + eps) · w over the last axis (the training forward's too). */
export function rmsNorm(x: tf.Tensor2D, w: tf.Tensor, eps: number): tf.Tensor2D {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), tf.scalar(eps)))), w)
}

/**
 * Rotary positions on rows [rows, heads, d] with per-row cos and sin [rows, 1, d]: x·cos + rotateHalf(x)·sin,
 * rotateHalf(x) = [-x[d/2:], x[:d/2]].
 */
function rotary(x: tf.Tensor3D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor3D {
  const half = x.shape[2] / 2
  const [lo, hi] = tf.split(x, [half, half], 2)
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(hi!), lo!], 2), sin))
}

/**
 * cos and sin of the rotary angle pos·θ^(-2i/d) for every position and i < d/2, duplicated over d (Hugging Face
 * Llama's concat(freqs, freqs)); each [maxPositions, d].
 */
export function rotaryTables(c: TransformerConfig): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const d = headSize(c)
  const half = d / 2
  // The inverse frequencies are float32, as Hugging Face's, so the angles match theirs.
  const invFreq = Float32Array.from({ length: half }, (_, i) => 1 / c.ropeTheta ** ((2 * i) / d))
  const cos = new Float32Array(c.maxPositions * d)
  const sin = new Float32Array(c.maxPositions * d)
  for (let pos = 0; pos < c.maxPositions; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * invFreq[i]!)
      const row = pos * d
      cos[row + i] = cos[row + i + half] = Math.cos(angle)
      sin[row + i] = sin[row + i + half] = Math.sin(angle)
    }
  }
  return { cos: tf.tensor2d(cos, [c.maxPositions, d]), sin: tf.tensor2d(sin, [c.maxPositions, d]) }
}

/**
 * Additive mask [count, start + count]: new position i (absolute start + i) sees positions ≤ start + i. The hidden ones
 * get -1e9, not -Infinity: softmax gives them the same 0, and training's gradient through it stays finite.
 */
export function causalMask(start: number, count: number): tf.Tensor2D {
  const total = start + count
  const mask = new Float32Array(count * total)
  for (let i = 0; i < count; i++) mask.fill(-1e9, i * total + start + i + 1, (i + 1) * total)
  return tf.tensor2d(mask, [count, total])
}
