// Transformer spans on the PyTorch worker (python/weft_transformer.py): weights uploaded in bounded pieces, and KV
// sessions whose caches live in the worker while their lengths are kept here, so `length` and `truncate` stay
// synchronous. Each forward names the position it starts at; the worker first drops any cached positions from
// there on, which is how a truncate reaches it without a message of its own.
import {
  type BlockRangeModel,
  checkSpan,
  checkTransformerWeights,
  InvalidModelSpecError,
  type KvSession,
  type NamedTensors,
  parseTransformerConfig,
  type SpanInput,
  type TransformerConfig,
  type TransformerSpan,
  transformerTensorNames,
} from '@weft/runtime'
import { KvSessionBusyError, TorchWorkerCrashedError } from './errors.js'
import type { OutBuffer } from './frames.js'
import type { TorchProcess } from './torch-process.js'

/**
 * Most weight values (float32) one upload request carries: 64 MiB, far below the 2 GiB frame cap, so an embedding
 * of any size travels in several frames and neither side holds more than one such frame at a time.
 */
export const WEIGHT_PIECE_VALUES = 1 << 24
/** Most tensor pieces in one upload request (the worker accepts at most 4096 buffers per frame). */
const MAX_PIECES_PER_REQUEST = 1024
/** Most sessions one `forwardMany` runs (the worker's bound). */
const MAX_BATCH_STEPS = 256

/** A run of `count` values of one tensor, starting at element `offset` of it. */
export interface PieceRange {
  readonly name: string
  readonly offset: number
  readonly count: number
}

/** A run of values of one tensor, starting at element `offset` of it. */
export interface WeightPiece {
  readonly name: string
  readonly offset: number
  readonly data: Float32Array
}

/**
 * Loads a span into the worker: checks it, sends the config, then the tensors in pieces, then asks the worker to
 * check that every tensor is complete.
 * @param id the worker-side id of the span (unique within the runtime)
 * @param onDispose called once when the span is disposed (the runtime's list of spans to dispose with it)
 * @returns the span; its weights live only in that worker process (a restart loses them: load the span again)
 * @throws InvalidModelSpecError for a bad config or span, or a missing, extra or misshapen tensor;
 *   TorchWorkerCrashedError when the worker restarted during the upload
 */
export async function loadTorchTransformer(
  proc: TorchProcess,
  id: string,
  config: TransformerConfig,
  span: TransformerSpan,
  weights: NamedTensors,
  onDispose: (model: BlockRangeModel) => void,
): Promise<BlockRangeModel> {
  const c = parseTransformerConfig(config)
  if (typeof span !== 'object' || span === null || typeof span.embed !== 'boolean' || typeof span.head !== 'boolean' || !Array.isArray(span.blocks)) {
    throw new InvalidModelSpecError('span must be { embed: boolean, blocks: [start, end], head: boolean }')
  }
  checkSpan(c, span)
  checkTransformerWeights(c, span, weights)
  const part: TransformerSpan = Object.freeze({ embed: span.embed, blocks: Object.freeze([span.blocks[0], span.blocks[1]] as const), head: span.head })
  const loaded = await proc.request({ op: 'transformer_load', transformer: id, config: c, span: part })
  const sameWorker = (generation: number): void => {
    if (generation !== loaded.generation) throw new TorchWorkerCrashedError('the PyTorch worker restarted while the transformer span was loading')
  }
  try {
    for (const pieces of weightPieces(transformerTensorNames(c, part), weights)) {
      const r = await proc.request(
        { op: 'transformer_put', transformer: id, pieces: pieces.map((p) => ({ name: p.name, offset: p.offset })) },
        pieces.map((p): OutBuffer => ({ data: p.data })),
      )
      sameWorker(r.generation)
    }
    sameWorker((await proc.request({ op: 'transformer_ready', transformer: id })).generation)
  } catch (err) {
    if (proc.running && proc.generation === loaded.generation) proc.request({ op: 'transformer_drop', transformer: id }).catch(() => {})
    throw err
  }
  return new TorchTransformer(proc, id, loaded.generation, c, part, onDispose)
}

/**
 * Tensors of the given lengths (in order) cut into requests of at most `WEIGHT_PIECE_VALUES` values and
 * `MAX_PIECES_PER_REQUEST` pieces: how weights travel to the worker and back.
 */
export function* pieceRanges(lengths: Iterable<readonly [string, number]>): Generator<PieceRange[]> {
  let request: PieceRange[] = []
  let values = 0
  for (const [name, length] of lengths) {
    for (let offset = 0; offset < length; ) {
      const count = Math.min(length - offset, WEIGHT_PIECE_VALUES - values)
      request.push({ name, offset, count })
      values += count
      offset += count
      if (values === WEIGHT_PIECE_VALUES || request.length === MAX_PIECES_PER_REQUEST) {
        yield request
        request = []
        values = 0
      }
    }
  }
  if (request.length > 0) yield request
}

/** The named tensors cut into upload requests (views, not copies). */
export function* weightPieces(names: Iterable<string>, weights: NamedTensors): Generator<WeightPiece[]> {
  const lengths = [...names].map((name) => [name, weights.get(name)!.data.length] as const)
  for (const ranges of pieceRanges(lengths)) {
    yield ranges.map((r) => ({ name: r.name, offset: r.offset, data: weights.get(r.name)!.data.subarray(r.offset, r.offset + r.count) }))
  }
}

class TorchTransformer implements BlockRangeModel {
  readonly #proc: TorchProcess
  readonly #id: string
  /** Generation of the worker process that holds the weights. */
  readonly #generation: number
  readonly #onDispose: (model: BlockRangeModel) => void
  readonly #sessions = new Set<TorchKvSession>()
  #nextSession = 1
  #disposed = false

  constructor(
    proc: TorchProcess,
    id: string,
    generation: number,
    readonly config: TransformerConfig,
    readonly span: TransformerSpan,
    onDispose: (model: BlockRangeModel) => void,
  ) {
    this.#proc = proc
    this.#id = id
    this.#generation = generation
    this.#onDispose = onDispose
  }

  get sessions(): number {
    return this.#sessions.size
  }

  /**
   * Opens a session; its cache is made in the worker by its first forward.
   * @throws RangeError when `maxTokens` is not an integer in [1, maxPositions]; Error after `dispose`
   */
  openSession(sessionId: string, options: { readonly maxTokens?: number } = {}): KvSession {
    if (this.#disposed) throw new Error('the transformer span is disposed')
    if (typeof sessionId !== 'string') throw new TypeError('sessionId must be a string')
    const maxTokens = options.maxTokens ?? this.config.maxPositions
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > this.config.maxPositions) {
      throw new RangeError(`options.maxTokens must be an integer in [1, ${this.config.maxPositions}], got ${maxTokens}`)
    }
    const session = new TorchKvSession(this, sessionId, `${this.#id}.${this.#nextSession++}`, maxTokens)
    this.#sessions.add(session)
    return session
  }

  dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    // The worker frees the sessions' caches with the span.
    for (const s of [...this.#sessions]) s.markClosed()
    this.#sessions.clear()
    this.#onDispose(this)
    if (this.#inWorker()) this.#proc.request({ op: 'transformer_drop', transformer: this.#id }).catch(() => {})
  }

  /**
   * The frame buffer and position count of an input, checked against the span.
   * @throws RangeError naming what does not fit
   */
  encodeInput(input: SpanInput): { readonly buffer: OutBuffer; readonly count: number } {
    const c = this.config
    if (typeof input === 'object' && input !== null && 'tokens' in input) {
      if (!this.span.embed) throw new RangeError(`this span starts at block ${this.span.blocks[0]} and takes hidden states, not token ids`)
      const { tokens } = input
      if (!(tokens instanceof Int32Array)) throw new RangeError('input.tokens must be an Int32Array')
      if (tokens.length === 0) throw new RangeError('input.tokens is empty')
      for (const t of tokens) if (t < 0 || t >= c.vocabSize) throw new RangeError(`token id ${t} is outside the vocabulary [0, ${c.vocabSize})`)
      return { buffer: { data: tokens }, count: tokens.length }
    }
    if (typeof input === 'object' && input !== null && 'hidden' in input) {
      if (this.span.embed) throw new RangeError('this span embeds tokens: it takes input.tokens, not hidden states')
      const { hidden, count } = input
      if (!(hidden instanceof Float32Array)) throw new RangeError('input.hidden must be a Float32Array')
      if (!Number.isInteger(count) || count < 1) throw new RangeError(`input.count must be a positive integer, got ${count}`)
      if (hidden.length !== count * c.hiddenSize) {
        throw new RangeError(`input.hidden holds ${hidden.length} values; [${count}, ${c.hiddenSize}] needs ${count * c.hiddenSize}`)
      }
      return { buffer: { data: hidden, shape: [count, c.hiddenSize] }, count }
    }
    throw new RangeError('input must be { tokens } or { hidden, count }')
  }

  /**
   * Runs positions `start`.. of a session in the worker.
   * @throws TorchWorkerCrashedError when the worker that held the span is gone
   */
  async run(wireId: string, start: number, maxTokens: number, buffer: OutBuffer): Promise<Float32Array> {
    if (!this.#inWorker()) throw new TorchWorkerCrashedError('the PyTorch worker that held this transformer span is gone: load the span again')
    const r = await this.#proc.request({ op: 'transformer_forward', transformer: this.#id, session: wireId, start, maxTokens }, [buffer])
    return r.buffers[0] as Float32Array
  }

  /**
   * Runs one step of several sessions of this span as one batch in the worker: each session's rows share every
   * projection and MLP product, and each attends over its own cache. The same outputs as each session's `forward`.
   * @param steps sessions of this span, each at most once, with their inputs
   * @returns each step's output (hidden states or logits), in order
   * @throws RangeError when a session is not this span's, repeats, is closed, or an input does not fit (before any
   *   session changes); KvSessionBusyError while one of the sessions runs a forward; TorchWorkerCrashedError when
   *   the worker that held the span is gone
   */
  async forwardMany(steps: readonly { readonly session: KvSession; readonly input: SpanInput }[]): Promise<Float32Array[]> {
    if (this.#disposed) throw new Error('the transformer span is disposed')
    if (!Array.isArray(steps)) throw new TypeError('steps must be an array')
    if (steps.length > MAX_BATCH_STEPS) throw new RangeError(`a batch holds at most ${MAX_BATCH_STEPS} steps, got ${steps.length}`)
    const sessions = steps.map((s) => s.session)
    for (const s of sessions) {
      if (!(s instanceof TorchKvSession) || s.model !== this) throw new RangeError(`session ${JSON.stringify(s?.sessionId)} is not one of this span's`)
    }
    if (new Set(sessions).size !== sessions.length) throw new RangeError('a session appears twice in one batch')
    const prepared = steps.map((s) => (s.session as TorchKvSession).prepare(s.input))
    if (prepared.length === 0) return []
    if (!this.#inWorker()) throw new TorchWorkerCrashedError('the PyTorch worker that held this transformer span is gone: load the span again')
    const held = sessions as TorchKvSession[]
    for (const s of held) s.hold()
    try {
      const r = await this.#proc.request(
        { op: 'transformer_forward_many', transformer: this.#id, steps: prepared.map((p) => ({ session: p.wireId, start: p.start, maxTokens: p.maxTokens })) },
        prepared.map((p) => p.buffer),
      )
      if (r.buffers.length !== prepared.length) throw new Error(`the worker answered ${r.buffers.length} outputs for ${prepared.length} steps`)
      for (const [i, s] of held.entries()) s.advance(prepared[i]!.count)
      return r.buffers as Float32Array[]
    } finally {
      for (const s of held) s.release()
    }
  }

  /** Forgets a closed session and frees its cache in the worker. */
  release(session: TorchKvSession, wireId: string): void {
    this.#sessions.delete(session)
    if (this.#inWorker()) this.#proc.request({ op: 'transformer_close', transformer: this.#id, session: wireId }).catch(() => {})
  }

  #inWorker(): boolean {
    return this.#proc.running && this.#proc.generation === this.#generation
  }
}

class TorchKvSession implements KvSession {
  readonly #model: TorchTransformer
  /** The session's id in the worker (unique, unlike `sessionId`, which the caller picks). */
  readonly #wireId: string
  readonly #maxTokens: number
  #length = 0
  #closed = false
  /** Set while a forward runs: the next one must start where it ends. */
  #busy = false

  constructor(
    model: TorchTransformer,
    readonly sessionId: string,
    wireId: string,
    maxTokens: number,
  ) {
    this.#model = model
    this.#wireId = wireId
    this.#maxTokens = maxTokens
  }

  get length(): number {
    return this.#length
  }

  /** The span this session belongs to. */
  get model(): TorchTransformer {
    return this.#model
  }

  /**
   * @throws RangeError for input that does not fit the span or the cache, or after `close`;
   *   KvSessionBusyError while another forward of this session runs
   */
  async forward(input: SpanInput): Promise<Float32Array> {
    const step = this.prepare(input)
    this.#busy = true
    try {
      const out = await this.#model.run(step.wireId, step.start, step.maxTokens, step.buffer)
      this.#length += step.count
      return out
    } finally {
      this.#busy = false
    }
  }

  /**
   * Checks a step's input for a batched step (`forwardMany`); nothing changes yet.
   * @throws RangeError as `forward`; KvSessionBusyError while a forward of this session runs
   */
  prepare(input: SpanInput): { readonly wireId: string; readonly start: number; readonly maxTokens: number; readonly buffer: OutBuffer; readonly count: number } {
    this.#checkOpen()
    if (this.#busy) throw new KvSessionBusyError(`session ${this.sessionId} is running a forward; await it first`)
    const { buffer, count } = this.#model.encodeInput(input)
    if (this.#length + count > this.#maxTokens) {
      throw new RangeError(`${count} positions after ${this.#length} pass the session's ${this.#maxTokens} (maxTokens)`)
    }
    return { wireId: this.#wireId, start: this.#length, maxTokens: this.#maxTokens, buffer, count }
  }

  /** Marks the session busy for a batched step. */
  hold(): void {
    this.#busy = true
  }

  /** Ends a batched step's hold. */
  release(): void {
    this.#busy = false
  }

  /** Takes a batched step's `count` new positions. */
  advance(count: number): void {
    this.#length += count
  }

  /**
   * @throws RangeError when `length` is not an integer in [0, length], or after `close`;
   *   KvSessionBusyError while a forward runs
   */
  truncate(length: number): void {
    this.#checkOpen()
    if (this.#busy) throw new KvSessionBusyError(`session ${this.sessionId} is running a forward; await it first`)
    if (!Number.isInteger(length) || length < 0 || length > this.#length) {
      throw new RangeError(`truncate takes an integer in [0, ${this.#length}], got ${length}`)
    }
    this.#length = length
  }

  close(): void {
    if (this.#closed) throw new RangeError(`session ${this.sessionId} is closed`)
    this.markClosed()
    this.#model.release(this, this.#wireId)
  }

  /** Closed by its span's `dispose` (the worker frees the cache with the span). */
  markClosed(): void {
    this.#closed = true
  }

  #checkOpen(): void {
    if (this.#closed) throw new RangeError(`session ${this.sessionId} is closed`)
  }
}
