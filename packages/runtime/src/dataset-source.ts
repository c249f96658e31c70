// Data-set descriptors: how a data set is named when it must reach another thread or process without copying.
import type { Dataset } from './dataset.js'

/**
 * A serializable reference to a data set, resolved into a `Dataset` where it is used (e.g. inside a worker).
 * `kind` says how: `weft.shared-dataset/1` (shared memory, from `@weft/data`'s `toShared()`) is built in to
 * the worker pool; any other kind is handled by a resolver the application supplies (for example
 * `{ kind: 'fashion-mnist', split: 'train', indices: [...] }` loaded from disk once per worker).
 */
export interface DatasetSource {
  readonly kind: string
  readonly [field: string]: unknown
}

/** Turns a `DatasetSource` into a `Dataset`; returns `undefined` for kinds it does not know. */
export type DatasetResolver = (source: DatasetSource) => Dataset | undefined | Promise<Dataset | undefined>

/** Type guard for `DatasetSource`. */
export function isDatasetSource(v: unknown): v is DatasetSource {
  return typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string'
}
