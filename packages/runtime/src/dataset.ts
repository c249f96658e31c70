// The data contract between data sets (@weft/data) and ML engines: labelled examples read in seeded batches.

/** One mini-batch: `size` examples, features flattened row-major, labels as class indices. */
export interface Batch {
  /** `size * featureSize` values, example after example, each in the data set's `featureShape` order. */
  readonly x: Float32Array
  /** `size` class indices in `[0, numClasses)`. */
  readonly y: Int32Array
  readonly size: number
}

/** How to walk a data set once (one epoch). */
export interface BatchOptions {
  readonly batchSize: number
  /** Shuffle the order of examples; the permutation depends only on `seed` and `epoch`. Default true. */
  readonly shuffle?: boolean
  readonly seed?: number
  readonly epoch?: number
  /** Drop a final batch smaller than `batchSize`. Default false. */
  readonly dropLast?: boolean
}

/**
 * A labelled classification data set. Implementations keep features compactly (e.g. uint8 pixels) and
 * convert them to float32 only while filling a batch, so a data set of 60,000 images stays ~47 MB.
 */
export interface Dataset {
  readonly name: string
  /** Number of examples. */
  readonly size: number
  /** Shape of one example's features, e.g. `[28, 28, 1]` for an image, `[13]` for a tabular row. */
  readonly featureShape: readonly number[]
  readonly numClasses: number
  /** Label of every example, in index order. */
  labels(): Int32Array
  /** Iterates over one epoch in batches. Deterministic for fixed options. */
  batches(options: BatchOptions): Iterable<Batch>
  /** A view of some examples (indices into this data set), sharing storage. */
  subset(indices: ArrayLike<number>, name?: string): Dataset
}

/** Number of feature values per example. */
export function featureSize(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}
