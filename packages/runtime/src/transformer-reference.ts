// The transformer in plain TypeScript: seeded initial weights, and a span that computes in float64 loops. It is the
// oracle the engines are tested against (their formulas must be this one's), and it runs where no engine does.
import { InvalidModelSpecError } from './errors.js'
import { mulberry32 } from './prng.js'
import {
  type BlockRangeModel,
  checkSpan,
  checkTransformerWeights,
  headSize,
  type KvSession,
  type NamedTensor,
  type NamedTensors,
  type SpanInput,
  type TransformerConfig,
  type TransformerSpan,
  transformerTensorShapes,
} from './transformer.js'

/** Standard deviation of initial linear and embedding weights (as Hugging Face Llama's `initializer_range`). */
export const TRANSFORMER_INIT_STD = 0.02

/**
 * Seeded initial weights of a whole model, in Hugging Face names: normal(0, 0.02) matrices, norms of ones.
 * The same seed gives the same weights on every platform (mulberry32 and Box-Muller in float64).
 */
export function initTransformerWeights(config: TransformerConfig, seed: number): Map<string, NamedTensor> {
  const rng = mulberry32(seed)
  const normal = (): number => {
    const u = 1 - rng.next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next())
  }
  const weights = new Map<string, NamedTensor>()
  for (const [name, shape] of transformerTensorShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1))
    if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') data.fill(1)
    else for (let i = 0; i < data.length; i++) data[i] = normal() * TRANSFORMER_INIT_STD
    weights.set(name, { shape, data })
  }
  return weights
}

/**
 * The tensors of `all` (a whole model's) that a span needs, shared, not copied.
 * @throws InvalidModelSpecError naming a tensor `all` lacks.
 */
export function spanWeights(config: TransformerConfig, span: TransformerSpan, all: NamedTensors): Map<string, NamedTensor> {
  const picked = new Map<string, NamedTensor>()
  for (const name of transformerTensorShapes(config, span).keys()) {
    const t = all.get(name)
    if (t === undefined) throw new InvalidModelSpecError(`tensor ${name} is missing`)
    picked.set(name, t)
  }
  return picked
}

/**
 * A span computed in float64 loops: slow (no SIMD, no threads), exact enough to be the engines' oracle.
 * @throws InvalidModelSpecError for a bad span or weights.
 */
export function referenceTransformer(config: TransformerConfig, span: TransformerSpan, weights: NamedTensors): BlockRangeModel {
  checkSpan(config, span)
  checkTransformerWeights(config, span, weights)
  return new ReferenceSpan(config, span, weights)
}

/** Checks what a session is asked to forward against its span; returns the number of positions. */
export function checkSpanInput(config: TransformerConfig, span: TransformerSpan, input: SpanInput): number {
  if ('tokens' in input) {
    if (!span.embed) throw new RangeError('this span starts at a block: it takes hidden states, not token ids')
    const { tokens } = input
    if (tokens.length === 0) throw new RangeError('no tokens to forward')
    for (const t of tokens) if (!Number.isInteger(t) || t < 0 || t >= config.vocabSize) throw new RangeError(`token id ${t} is outside the vocabulary of ${config.vocabSize}`)
    return tokens.length
  }
  if (span.embed) throw new RangeError('this span embeds token ids: it takes tokens, not hidden states')
  const { hidden, count } = input
  if (!Number.isInteger(count) || count <= 0) throw new RangeError(`count must be a positive integer, got ${count}`)
  if (hidden.length !== count * config.hiddenSize) {
    throw new RangeError(`hidden holds ${hidden.length} values; ${count} positions of width ${config.hiddenSize} are ${count * config.hiddenSize}`)
  }
  return count
}

class ReferenceSpan implements BlockRangeModel {
  readonly #open = new Set<ReferenceSession>()
  #disposed = false

  constructor(
    readonly config: TransformerConfig,
    readonly span: TransformerSpan,
    readonly weights: NamedTensors,
  ) {}

  get sessions(): number {
    return this.#open.size
  }

  openSession(sessionId: string, options: { readonly maxTokens?: number } = {}): KvSession {
    if (this.#disposed) throw new Error('this span was disposed')
    const maxTokens = options.maxTokens ?? this.config.maxPositions
    if (!Number.isInteger(maxTokens) || maxTokens <= 0 || maxTokens > this.config.maxPositions) {
      throw new RangeError(`maxTokens must be an integer in [1, ${this.config.maxPositions}], got ${maxTokens}`)
    }
    const s = new ReferenceSession(this, sessionId, maxTokens, () => this.#open.delete(s))
    this.#open.add(s)
    return s
  }

  dispose(): void {
    for (const s of [...this.#open]) s.close()
    this.#disposed = true
  }

  /** A tensor's data; the weights were checked at load. */
  w(name: string): Float32Array {
    return (this.weights.get(name) as NamedTensor).data
  }
}

class ReferenceSession implements KvSession {
  /** Per block of the span: keys and values after rotary, [position][kvHead * headSize + i]. */
  readonly #keys: Float64Array[][]
  readonly #values: Float64Array[][]
  #closed = false

  constructor(
    readonly model: ReferenceSpan,
    readonly sessionId: string,
    readonly maxTokens: number,
    readonly onClose: () => void,
  ) {
    const blocks = model.span.blocks[1] - model.span.blocks[0]
    this.#keys = Array.from({ length: blocks }, () => [])
    this.#values = Array.from({ length: blocks }, () => [])
  }

  get length(): number {
    return this.#keys[0]?.length ?? this.#positionsWithoutBlocks
  }

  /** A span of no blocks (embed or head only) still counts positions. */
  #positionsWithoutBlocks = 0

  async forward(input: SpanInput): Promise<Float32Array> {
    if (this.#closed) throw new RangeError(`session ${this.sessionId} is closed`)
    const { config: c, span } = this.model
    const count = checkSpanInput(c, span, input)
    const start = this.length
    if (start + count > this.maxTokens) throw new RangeError(`${start} + ${count} positions are over this session's ${this.maxTokens}`)
    const h = c.hiddenSize
    let x: Float64Array[]
    if ('tokens' in input) {
      const embed = this.model.w('model.embed_tokens.weight')
      x = [...input.tokens].map((t) => Float64Array.from(embed.subarray(t * h, (t + 1) * h)))
    } else {
      x = Array.from({ length: count }, (_, p) => Float64Array.from(input.hidden.subarray(p * h, (p + 1) * h)))
    }
    for (let b = span.blocks[0]; b < span.blocks[1]; b++) x = this.#block(b, x, start)
    if (span.blocks[0] === span.blocks[1]) this.#positionsWithoutBlocks += count
    if (!span.head) return flatten(x, h)
    const norm = this.model.w('model.norm.weight')
    const head = this.model.w(c.tieEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')
    return flatten(
      x.map((row) => linear(rmsNorm(row, norm, c.rmsNormEps), head, c.vocabSize)),
      c.vocabSize,
    )
  }

  truncate(length: number): void {
    if (this.#closed) throw new RangeError(`session ${this.sessionId} is closed`)
    if (!Number.isInteger(length) || length < 0 || length > this.length) throw new RangeError(`cannot truncate ${this.length} positions to ${length}`)
    for (const k of this.#keys) k.length = length
    for (const v of this.#values) v.length = length
    this.#positionsWithoutBlocks = Math.min(this.#positionsWithoutBlocks, length)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const k of this.#keys) k.length = 0
    for (const v of this.#values) v.length = 0
    this.onClose()
  }

  /** One block over new positions `start..start+x.length`, appending to its cache. */
  #block(b: number, x: Float64Array[], start: number): Float64Array[] {
    const c = this.model.config
    const w = (n: string) => this.model.w(`model.layers.${b}.${n}.weight`)
    const d = headSize(c)
    const kvWidth = c.numKvHeads * d
    const group = c.numHeads / c.numKvHeads
    const keys = this.#keys[b - this.model.span.blocks[0]] as Float64Array[]
    const values = this.#values[b - this.model.span.blocks[0]] as Float64Array[]
    const queries = x.map((row, p) => {
      const n = rmsNorm(row, w('input_layernorm'), c.rmsNormEps)
      keys.push(rotate(linear(n, w('self_attn.k_proj'), kvWidth), start + p, d, c.ropeTheta))
      values.push(linear(n, w('self_attn.v_proj'), kvWidth))
      return rotate(linear(n, w('self_attn.q_proj'), c.hiddenSize), start + p, d, c.ropeTheta)
    })
    const scale = 1 / Math.sqrt(d)
    return x.map((row, p) => {
      const q = queries[p] as Float64Array
      const visible = start + p + 1
      const attended = new Float64Array(c.hiddenSize)
      for (let head = 0; head < c.numHeads; head++) {
        const kvOff = Math.floor(head / group) * d
        const scores = new Float64Array(visible)
        let max = -Infinity
        for (let t = 0; t < visible; t++) {
          const k = keys[t] as Float64Array
          let s = 0
          for (let i = 0; i < d; i++) s += (q[head * d + i] as number) * (k[kvOff + i] as number)
          scores[t] = s * scale
          max = Math.max(max, s * scale)
        }
        let sum = 0
        for (let t = 0; t < visible; t++) {
          scores[t] = Math.exp((scores[t] as number) - max)
          sum += scores[t] as number
        }
        for (let t = 0; t < visible; t++) {
          const v = values[t] as Float64Array
          const a = (scores[t] as number) / sum
          for (let i = 0; i < d; i++) attended[head * d + i] = (attended[head * d + i] as number) + a * (v[kvOff + i] as number)
        }
      }
      const mid = add(row, linear(attended, w('self_attn.o_proj'), c.hiddenSize))
      const n = rmsNorm(mid, w('post_attention_layernorm'), c.rmsNormEps)
      const gate = linear(n, w('mlp.gate_proj'), c.intermediateSize)
      const up = linear(n, w('mlp.up_proj'), c.intermediateSize)
      for (let i = 0; i < gate.length; i++) {
        const g = gate[i] as number
        gate[i] = (g / (1 + Math.exp(-g))) * (up[i] as number)
      }
      return add(mid, linear(gate, w('mlp.down_proj'), c.hiddenSize))
    })
  }
}

/** y = W·x for W stored [out, in] row-major. */
function linear(x: Float64Array, w: Float32Array, out: number): Float64Array {
  const n = x.length
  const y = new Float64Array(out)
  for (let o = 0; o < out; o++) {
    let s = 0
    const row = o * n
    for (let i = 0; i < n; i++) s += (w[row + i] as number) * (x[i] as number)
    y[o] = s
  }
  return y
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0
  for (const v of x) ss += v * v
  const r = 1 / Math.sqrt(ss / x.length + eps)
  return x.map((v, i) => v * r * (w[i] as number))
}

/** Rotary positions, Hugging Face Llama's layout: each head's first half pairs with its second half. */
function rotate(x: Float64Array, pos: number, d: number, theta: number): Float64Array {
  const y = new Float64Array(x.length)
  const half = d / 2
  for (let off = 0; off < x.length; off += d) {
    for (let i = 0; i < half; i++) {
      const angle = pos * theta ** ((-2 * i) / d)
      const cos = Math.cos(angle)
      const sin = Math.sin(angle)
      const a = x[off + i] as number
      const b = x[off + half + i] as number
      y[off + i] = a * cos - b * sin
      y[off + half + i] = b * cos + a * sin
    }
  }
  return y
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + (b[i] as number))
}

function flatten(rows: Float64Array[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width)
  for (let p = 0; p < rows.length; p++) out.set(rows[p] as Float64Array, p * width)
  return out
}
