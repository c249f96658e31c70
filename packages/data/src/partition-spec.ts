// Named partitions: a node's config (`{ dataset, scheme, alpha, clients, part, seed }`) validated and applied to a data set.
import type { InMemoryDataset } from './in-memory-dataset.js'
import { partition, type PartitionScheme } from './partition.js'

/** One client's share of a partitioned data set, as written in a node config. */
export interface PartitionSpec {
  /** 'fashion-mnist', or a path to a .csv file (then `label` names its label column). */
  readonly dataset: string
  /** Fashion-MNIST split, default 'train'. */
  readonly split?: 'train' | 'test'
  /** CSV label column. */
  readonly label?: string
  readonly scheme: PartitionScheme['scheme']
  /** Dirichlet concentration (scheme 'dirichlet'). */
  readonly alpha?: number
  /** Shards per client (scheme 'shards'). */
  readonly shards?: number
  /** Zipf exponent (scheme 'quantity-skew'). */
  readonly exponent?: number
  readonly clients: number
  /** Which client's share, in [0, clients). */
  readonly part: number
  readonly seed?: number
}

const KEYS = new Set(['dataset', 'split', 'label', 'scheme', 'alpha', 'shards', 'exponent', 'clients', 'part', 'seed'])

function positiveNumber(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`spec.${key} must be a positive number, got ${JSON.stringify(v)}`)
  return v
}

function integer(v: unknown, key: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new RangeError(`spec.${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`)
  return v
}

/**
 * Validates an untrusted partition spec (e.g. from a YAML config).
 * @returns the spec, typed
 * @throws TypeError for a non-object, unknown key or wrong type; RangeError for an out-of-range value or a
 *   missing scheme parameter
 */
export function parsePartitionSpec(value: unknown): PartitionSpec {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError('spec must be an object')
  const v = value as Record<string, unknown>
  for (const k of Object.keys(v)) if (!KEYS.has(k)) throw new TypeError(`spec has unknown key "${k}"; known: ${[...KEYS].join(', ')}`)
  if (typeof v['dataset'] !== 'string' || v['dataset'] === '') throw new TypeError('spec.dataset must be a non-empty string')
  const split = v['split'] ?? 'train'
  if (split !== 'train' && split !== 'test') throw new RangeError(`spec.split must be 'train' or 'test', got ${JSON.stringify(split)}`)
  if (v['label'] !== undefined && typeof v['label'] !== 'string') throw new TypeError('spec.label must be a string')
  const clients = integer(v['clients'], 'clients', 1)
  const part = integer(v['part'], 'part', 0)
  if (part >= clients) throw new RangeError(`spec.part must be in [0, ${clients}), got ${part}`)
  const seed = v['seed'] ?? 0
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new TypeError(`spec.seed must be a safe integer, got ${JSON.stringify(seed)}`)
  const base = { dataset: v['dataset'], split, clients, part, seed, ...(typeof v['label'] === 'string' ? { label: v['label'] } : {}) } as const
  switch (v['scheme']) {
    case 'iid':
      return { ...base, scheme: 'iid' }
    case 'dirichlet':
      return { ...base, scheme: 'dirichlet', alpha: positiveNumber(v['alpha'], 'alpha') }
    case 'shards':
      return { ...base, scheme: 'shards', shards: integer(v['shards'], 'shards', 1) }
    case 'quantity-skew': {
      const e = v['exponent']
      if (typeof e !== 'number' || !Number.isFinite(e) || e < 0) throw new RangeError(`spec.exponent must be a number >= 0, got ${JSON.stringify(e)}`)
      return { ...base, scheme: 'quantity-skew', exponent: e }
    }
    default:
      throw new RangeError(`spec.scheme must be one of iid, dirichlet, shards, quantity-skew; got ${JSON.stringify(v['scheme'])}`)
  }
}

/** The partition scheme a (validated) spec names. */
export function specScheme(spec: PartitionSpec): PartitionScheme {
  switch (spec.scheme) {
    case 'iid':
      return { scheme: 'iid' }
    case 'dirichlet':
      return { scheme: 'dirichlet', alpha: spec.alpha as number }
    case 'shards':
      return { scheme: 'shards', shardsPerClient: spec.shards as number }
    case 'quantity-skew':
      return { scheme: 'quantity-skew', exponent: spec.exponent as number }
    default: {
      const never: never = spec.scheme
      throw new RangeError(`unknown scheme ${String(never)}`)
    }
  }
}

/** A short label for a spec's scheme, e.g. `dirichlet(0.5)`. */
export function describeScheme(scheme: PartitionScheme): string {
  switch (scheme.scheme) {
    case 'iid':
      return 'iid'
    case 'dirichlet':
      return `dirichlet(${scheme.alpha})`
    case 'shards':
      return `shards(${scheme.shardsPerClient})`
    case 'quantity-skew':
      return `quantity-skew(${scheme.exponent})`
    default: {
      const never: never = scheme
      return String(never)
    }
  }
}

/**
 * The part of `dataset` that `spec` names: partitions the whole data set by the spec's scheme, clients and seed,
 * and returns client `spec.part`'s subset (sharing storage), named e.g. `fashion-mnist/train#dirichlet(0.5)@1:3/10`.
 * @throws as `parsePartitionSpec` and the partitioners do
 */
export function partitionDataset(dataset: InMemoryDataset, spec: PartitionSpec): InMemoryDataset {
  const s = parsePartitionSpec(spec)
  const scheme = specScheme(s)
  const parts = partition(dataset.labels(), scheme, { clients: s.clients, seed: s.seed ?? 0 })
  const name = `${dataset.name}#${describeScheme(scheme)}@${s.seed ?? 0}:${s.part}/${s.clients}`
  return dataset.subset(parts[s.part] as Int32Array, name)
}
