// The in-memory Dataset: compact feature storage (uint8 + scale, or float32), lazy seeded shuffling, subset views, shared-memory hand-off.
import { type Batch, type BatchOptions, type Dataset, type DatasetSource, featureSize } from '@weft/runtime'
import { SharedDescriptorError, SharedMemoryUnavailableError } from './errors.js'
import { createRng, permutation } from './rng.js'

/** Features stored as bytes; a batch holds `value * scale` (e.g. pixels with `scale: 1 / 255`). */
export interface Uint8Features {
  readonly dtype: 'uint8'
  readonly data: Uint8Array
  readonly scale: number
}

/** Features stored as float32 (tabular data), copied into batches as they are. */
export interface Float32Features {
  readonly dtype: 'float32'
  readonly data: Float32Array
}

export type FeatureStorage = Uint8Features | Float32Features

/** What `inMemoryDataset` needs. The arrays are taken over, not copied: do not write to them afterwards. */
export interface InMemoryDatasetInit {
  readonly name: string
  readonly featureShape: readonly number[]
  readonly numClasses: number
  /** `size * featureSize(featureShape)` values, example after example. */
  readonly features: FeatureStorage
  /** One class index per example, each in `[0, numClasses)`. */
  readonly labels: Int32Array
  /** Optional human-readable class names, `numClasses` of them. */
  readonly classNames?: readonly string[]
}

/**
 * A data set rebuilt in another thread from shared memory: every buffer is a `SharedArrayBuffer`, so
 * `postMessage(descriptor)` shares the memory instead of copying it. Produced by `InMemoryDataset.toShared()`,
 * consumed by `fromShared()`. Treat the buffers as read-only on both sides. It is a `DatasetSource` of kind
 * `weft.shared-dataset/1` (see @weft/runtime), so it can be handed to an engine's worker pool as one.
 */
export type SharedDatasetDescriptor = {
  readonly kind: 'weft.shared-dataset/1'
  readonly name: string
  readonly featureShape: readonly number[]
  readonly numClasses: number
  readonly classNames?: readonly string[]
  /** The whole underlying data set's features (not only the view's). */
  readonly features:
    | { readonly dtype: 'uint8'; readonly buffer: SharedArrayBuffer; readonly scale: number }
    | { readonly dtype: 'float32'; readonly buffer: SharedArrayBuffer }
  /** Int32 labels of the whole underlying data set. */
  readonly labels: SharedArrayBuffer
  /** Int32 indices into the underlying data set when the data set is a view (a subset), else absent. */
  readonly indices?: SharedArrayBuffer
}

/** True when `value` looks like a `SharedDatasetDescriptor` (checks `kind` only; `fromShared` checks the rest). */
export function isSharedDatasetDescriptor(value: unknown): value is SharedDatasetDescriptor {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'weft.shared-dataset/1'
}

/** A `Dataset` held in memory, with what the engine and tools need beyond the contract. */
export interface InMemoryDataset extends Dataset {
  /** How the features are stored. */
  readonly dtype: 'uint8' | 'float32'
  readonly classNames: readonly string[] | undefined
  subset(indices: ArrayLike<number>, name?: string): InMemoryDataset
  /**
   * This data set in storage of its own, holding only its examples: a view (a client's share) otherwise keeps the
   * whole underlying data set in memory, and `toShared()` copies all of it. The data set itself when it is no view.
   */
  compact(name?: string): InMemoryDataset
  /** The features of one example as float32 (a fresh array). @throws RangeError if `index` is out of range. */
  example(index: number): Float32Array
  /**
   * Describes this data set over shared memory, for a worker thread to rebuild it with `fromShared()`
   * without copying features. The first call on a data set whose storage is not yet shared copies it once into
   * `SharedArrayBuffer`s and switches this data set and all its views to them; later calls copy nothing but a
   * view's index list. @throws SharedMemoryUnavailableError where `SharedArrayBuffer` does not exist.
   */
  toShared(): SharedDatasetDescriptor
}

/**
 * The order in which one epoch of an in-memory data set of `size` examples visits them (positions in the data
 * set), or `null` for index order (`shuffle: false`). Engines that keep the data elsewhere (a PyTorch worker)
 * walk batches in exactly this order.
 */
export function epochOrder(size: number, options: Pick<BatchOptions, 'shuffle' | 'seed' | 'epoch'>): Int32Array | null {
  return options.shuffle === false ? null : permutation(size, createRng(options.seed ?? 0, options.epoch ?? 0))
}

interface Storage {
  features: FeatureStorage
  labels: Int32Array
}

function checkName(name: unknown, arg: string): asserts name is string {
  if (typeof name !== 'string' || name === '') throw new TypeError(`${arg} must be a non-empty string`)
}

function checkShape(shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(`featureShape must be a non-empty list of positive integers, got ${JSON.stringify(shape)}`)
  }
}

function checkLabels(labels: Int32Array, numClasses: number): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number
    if (y < 0 || y >= numClasses) throw new RangeError(`labels[${i}] is ${y}, expected a class index in [0, ${numClasses})`)
  }
}

/**
 * Creates an in-memory data set.
 * @param init features, labels and shape; the arrays are taken over without copying
 * @returns the data set
 * @throws TypeError for a missing name or a wrong array type; RangeError for a bad shape, class count,
 *   feature length or out-of-range label
 */
export function inMemoryDataset(init: InMemoryDatasetInit): InMemoryDataset {
  checkName(init.name, 'init.name')
  checkShape(init.featureShape)
  if (!Number.isInteger(init.numClasses) || init.numClasses < 1) {
    throw new RangeError(`init.numClasses must be a positive integer, got ${init.numClasses}`)
  }
  if (!(init.labels instanceof Int32Array)) throw new TypeError('init.labels must be an Int32Array')
  const f = init.features
  if (f.dtype === 'uint8') {
    if (!(f.data instanceof Uint8Array)) throw new TypeError('init.features.data must be a Uint8Array for dtype uint8')
    if (!Number.isFinite(f.scale)) throw new RangeError(`init.features.scale must be finite, got ${f.scale}`)
  } else if (f.dtype === 'float32') {
    if (!(f.data instanceof Float32Array)) throw new TypeError('init.features.data must be a Float32Array for dtype float32')
  } else {
    throw new TypeError(`init.features.dtype must be 'uint8' or 'float32'`)
  }
  const size = init.labels.length
  const expected = size * featureSize(init.featureShape)
  if (f.data.length !== expected) {
    throw new RangeError(
      `init.features.data has ${f.data.length} values, expected ${expected} (${size} labels × featureShape ${JSON.stringify(init.featureShape)})`,
    )
  }
  checkLabels(init.labels, init.numClasses)
  if (init.classNames !== undefined && init.classNames.length !== init.numClasses) {
    throw new RangeError(`init.classNames has ${init.classNames.length} names, expected numClasses = ${init.numClasses}`)
  }
  const meta: Meta = {
    featureShape: Object.freeze([...init.featureShape]),
    numClasses: init.numClasses,
    classNames: init.classNames === undefined ? undefined : Object.freeze([...init.classNames]),
  }
  return new MemoryDataset(init.name, meta, { features: f, labels: init.labels }, null)
}

interface Meta {
  readonly featureShape: readonly number[]
  readonly numClasses: number
  readonly classNames: readonly string[] | undefined
}

function sharedCopy<T extends Uint8Array | Int32Array | Float32Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer && spansBuffer(a)) return a
  // Not `a.constructor`: features read from a file are a Node Buffer, whose constructor is deprecated.
  const ctor = (a instanceof Float32Array ? Float32Array : a instanceof Int32Array ? Int32Array : Uint8Array) as unknown as new (
    b: SharedArrayBuffer,
  ) => T
  const out = new ctor(new SharedArrayBuffer(a.byteLength))
  out.set(a as never)
  return out
}

/** Whole-buffer views only: a descriptor carries buffers, so a typed array must span its buffer. */
function spansBuffer(a: Uint8Array | Int32Array | Float32Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength
}

class MemoryDataset implements InMemoryDataset {
  readonly name: string
  readonly size: number
  readonly featureShape: readonly number[]
  readonly numClasses: number
  readonly classNames: readonly string[] | undefined
  readonly #meta: Meta
  readonly #storage: Storage
  /** Indices into the storage, or null for the identity. */
  readonly #indices: Int32Array | null
  readonly #featureSize: number
  #sharedIndices: SharedArrayBuffer | undefined

  constructor(name: string, meta: Meta, storage: Storage, indices: Int32Array | null) {
    this.name = name
    this.#meta = meta
    this.featureShape = meta.featureShape
    this.numClasses = meta.numClasses
    this.classNames = meta.classNames
    this.#storage = storage
    this.#indices = indices
    this.size = indices === null ? storage.labels.length : indices.length
    this.#featureSize = featureSize(meta.featureShape)
  }

  get dtype(): 'uint8' | 'float32' {
    return this.#storage.features.dtype
  }

  #base(i: number): number {
    return this.#indices === null ? i : (this.#indices[i] as number)
  }

  labels(): Int32Array {
    const all = this.#storage.labels
    if (this.#indices === null) return all.slice()
    const out = new Int32Array(this.size)
    for (let i = 0; i < out.length; i++) out[i] = all[this.#indices[i] as number] as number
    return out
  }

  example(index: number): Float32Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`index must be an integer in [0, ${this.size}), got ${index}`)
    }
    const out = new Float32Array(this.#featureSize)
    this.#fill(out, 0, this.#base(index))
    return out
  }

  #fill(x: Float32Array, at: number, base: number): void {
    const fs = this.#featureSize
    const f = this.#storage.features
    const from = base * fs
    if (f.dtype === 'float32') {
      x.set(f.data.subarray(from, from + fs), at)
    } else {
      const d = f.data
      const s = f.scale
      for (let j = 0; j < fs; j++) x[at + j] = (d[from + j] as number) * s
    }
  }

  *batches(options: BatchOptions): Iterable<Batch> {
    const { batchSize } = options
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`options.batchSize must be a positive integer, got ${String(batchSize)}`)
    }
    const seed = options.seed ?? 0
    const epoch = options.epoch ?? 0
    if (!Number.isSafeInteger(seed)) throw new TypeError(`options.seed must be a safe integer, got ${String(seed)}`)
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new RangeError(`options.epoch must be a non-negative integer, got ${String(epoch)}`)
    }
    const n = this.size
    // Computed on the first `next()`, not when `batches()` is called.
    const order = epochOrder(n, options)
    const end = options.dropLast === true ? n - (n % batchSize) : n
    const fs = this.#featureSize
    const labels = this.#storage.labels
    for (let start = 0; start < end; start += batchSize) {
      const size = Math.min(batchSize, end - start)
      const x = new Float32Array(size * fs)
      const y = new Int32Array(size)
      for (let k = 0; k < size; k++) {
        const pos = order === null ? start + k : (order[start + k] as number)
        const base = this.#base(pos)
        y[k] = labels[base] as number
        this.#fill(x, k * fs, base)
      }
      yield { x, y, size }
    }
  }

  subset(indices: ArrayLike<number>, name?: string): InMemoryDataset {
    if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number') {
      throw new TypeError('indices must be an array-like of integers')
    }
    if (name !== undefined) checkName(name, 'name')
    const out = new Int32Array(indices.length)
    for (let i = 0; i < out.length; i++) {
      const v = indices[i] as number
      if (!Number.isInteger(v) || v < 0 || v >= this.size) {
        throw new RangeError(`indices[${i}] is ${String(v)}, expected an integer in [0, ${this.size})`)
      }
      out[i] = this.#base(v)
    }
    return new MemoryDataset(name ?? `${this.name}[${out.length}]`, this.#meta, this.#storage, out)
  }

  compact(name?: string): InMemoryDataset {
    if (this.#indices === null && name === undefined) return this
    const fs = this.#featureSize
    const f = this.#storage.features
    const n = this.size
    const take = <T extends Uint8Array | Float32Array>(from: T, into: T): T => {
      for (let i = 0; i < n; i++) {
        const base = this.#base(i) * fs
        into.set(from.subarray(base, base + fs), i * fs)
      }
      return into
    }
    const features: FeatureStorage =
      f.dtype === 'uint8' ? { dtype: 'uint8', data: take(f.data, new Uint8Array(n * fs)), scale: f.scale } : { dtype: 'float32', data: take(f.data, new Float32Array(n * fs)) }
    return new MemoryDataset(name ?? this.name, this.#meta, { features, labels: this.labels() }, null)
  }

  /** A view over base indices that are already checked; keeps a shared index buffer shared. */
  viewUnsafe(indices: Int32Array, name: string): MemoryDataset {
    const view = new MemoryDataset(name, this.#meta, this.#storage, indices)
    if (indices.buffer instanceof SharedArrayBuffer && spansBuffer(indices)) view.#sharedIndices = indices.buffer
    return view
  }

  toShared(): SharedDatasetDescriptor {
    if (typeof SharedArrayBuffer === 'undefined') throw new SharedMemoryUnavailableError()
    const st = this.#storage
    // Switch the storage (shared by every view of it) to shared memory once.
    const f = st.features
    st.features = f.dtype === 'uint8' ? { dtype: 'uint8', data: sharedCopy(f.data), scale: f.scale } : { dtype: 'float32', data: sharedCopy(f.data) }
    st.labels = sharedCopy(st.labels)
    const sf = st.features
    const features =
      sf.dtype === 'uint8'
        ? { dtype: 'uint8' as const, buffer: sf.data.buffer as SharedArrayBuffer, scale: sf.scale }
        : { dtype: 'float32' as const, buffer: sf.data.buffer as SharedArrayBuffer }
    if (this.#indices !== null && this.#sharedIndices === undefined) {
      this.#sharedIndices = sharedCopy(this.#indices).buffer as SharedArrayBuffer
    }
    return {
      kind: 'weft.shared-dataset/1',
      name: this.name,
      featureShape: [...this.featureShape],
      numClasses: this.numClasses,
      ...(this.classNames === undefined ? {} : { classNames: [...this.classNames] }),
      features,
      labels: st.labels.buffer as SharedArrayBuffer,
      ...(this.#sharedIndices === undefined ? {} : { indices: this.#sharedIndices }),
    }
  }
}

/**
 * Rebuilds a data set from a `SharedDatasetDescriptor` (typically received by a worker thread through
 * `postMessage`) without copying features: the new data set reads the same shared memory.
 * @throws SharedDescriptorError if the descriptor is malformed (wrong kind, buffer sizes, labels or indices out of range)
 */
export function fromShared(descriptor: SharedDatasetDescriptor): InMemoryDataset {
  const d = descriptor as Partial<SharedDatasetDescriptor> | null
  if (d === null || typeof d !== 'object' || d.kind !== 'weft.shared-dataset/1') {
    throw new SharedDescriptorError(`expected a descriptor of kind 'weft.shared-dataset/1', got ${String(d?.kind)}`)
  }
  const isSab = (b: unknown): b is SharedArrayBuffer => typeof SharedArrayBuffer !== 'undefined' && b instanceof SharedArrayBuffer
  if (!d.features || !isSab(d.features.buffer) || !isSab(d.labels)) {
    throw new SharedDescriptorError('descriptor buffers must be SharedArrayBuffers')
  }
  if (d.indices !== undefined && !isSab(d.indices)) throw new SharedDescriptorError('descriptor.indices must be a SharedArrayBuffer')
  const labels = new Int32Array(d.labels)
  let base: InMemoryDataset
  try {
    base = inMemoryDataset({
      name: d.name ?? '',
      featureShape: d.featureShape ?? [],
      numClasses: d.numClasses ?? 0,
      labels,
      features:
        d.features.dtype === 'uint8'
          ? { dtype: 'uint8', data: new Uint8Array(d.features.buffer), scale: d.features.scale }
          : { dtype: 'float32', data: new Float32Array(d.features.buffer) },
      ...(d.classNames === undefined ? {} : { classNames: d.classNames }),
    })
  } catch (err) {
    throw new SharedDescriptorError(`malformed descriptor: ${(err as Error).message}`, { cause: err })
  }
  if (d.indices === undefined) return base
  // Rebuild the view over the same storage without copying the indices either.
  const indices = new Int32Array(d.indices)
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i] as number
    if (v < 0 || v >= labels.length) throw new SharedDescriptorError(`indices[${i}] is ${v}, outside [0, ${labels.length})`)
  }
  return (base as MemoryDataset).viewUnsafe(indices, d.name as string)
}

// Compile-time check: a descriptor is a DatasetSource.
const _descriptorIsSource: (d: SharedDatasetDescriptor) => DatasetSource = (d) => d
void _descriptorIsSource
