// Federated partitioners: split a labelled data set's indices among clients (IID, Dirichlet label skew, shards, quantity skew), deterministically by seed.
import { PartitionError } from './errors.js'
import { createRng, dirichlet, permutation, shuffleInPlace } from './rng.js'

/** One ascending index array per client. Every scheme here assigns every example to exactly one client. */
export type Partition = readonly Int32Array[]

/** Options every partitioner takes. */
export interface PartitionInit {
  /** Number of clients, at least 1. */
  readonly clients: number
  /** Seed; the same labels, options and seed always give the same partition. Default 0. */
  readonly seed?: number
}

export interface DirichletPartitionInit extends PartitionInit {
  /** Concentration: small (0.1) gives few classes per client, large (100) gives close to IID. */
  readonly alpha: number
  /** Number of classes; default `max(label) + 1`. */
  readonly numClasses?: number
  /**
   * Redraw (a new seeded stream each time, up to 1000 attempts) until every client has at least this many
   * examples. Default 0: clients may be empty when alpha is small.
   */
  readonly minSize?: number
}

export interface ShardPartitionInit extends PartitionInit {
  /** Shards per client (McMahan et al. 2017 use 2). */
  readonly shardsPerClient: number
}

export interface QuantitySkewPartitionInit extends PartitionInit {
  /** Zipf exponent s: the client of rank r gets a share proportional to r^-s. 0 gives equal sizes. */
  readonly exponent: number
  /** Smallest client size, default 1. */
  readonly minSize?: number
}

/** A partition scheme with its parameter, as a config or the CLI names it. */
export type PartitionScheme =
  | { readonly scheme: 'iid' }
  | { readonly scheme: 'dirichlet'; readonly alpha: number; readonly minSize?: number }
  | { readonly scheme: 'shards'; readonly shardsPerClient: number }
  | { readonly scheme: 'quantity-skew'; readonly exponent: number }

function checkLabelsArg(labels: ArrayLike<number>): void {
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') {
    throw new TypeError('labels must be an array-like of class indices')
  }
}

function checkInit(init: PartitionInit, size: number): number {
  if (init === null || typeof init !== 'object') throw new TypeError('init must be an object')
  const { clients } = init
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError(`init.clients must be a positive integer, got ${String(clients)}`)
  if (clients > Math.max(size, 1)) throw new RangeError(`init.clients is ${clients}, more than the ${size} examples`)
  const seed = init.seed ?? 0
  if (!Number.isSafeInteger(seed)) throw new TypeError(`init.seed must be a safe integer, got ${String(seed)}`)
  return seed
}

function sortedParts(parts: number[][]): Partition {
  return Object.freeze(parts.map((p) => Int32Array.from(p).sort()))
}

/** Splits `order` into `k` consecutive pieces whose sizes differ by at most one. */
function evenSplit(order: ArrayLike<number>, k: number): number[][] {
  const n = order.length
  const parts: number[][] = []
  for (let c = 0; c < k; c++) {
    const from = Math.floor((c * n) / k)
    const to = Math.floor(((c + 1) * n) / k)
    const part: number[] = []
    for (let i = from; i < to; i++) part.push(order[i] as number)
    parts.push(part)
  }
  return parts
}

/** Integer counts summing to `total`, proportional to `weights` (largest remainder, ties to the lower index). */
function apportion(weights: ArrayLike<number>, total: number): number[] {
  let sum = 0
  for (let i = 0; i < weights.length; i++) sum += weights[i] as number
  const exact = Array.from({ length: weights.length }, (_, i) => ((weights[i] as number) / sum) * total)
  const counts = exact.map(Math.floor)
  let left = total - counts.reduce((a, b) => a + b, 0)
  const byRemainder = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1])
  for (const [, i] of byRemainder) {
    if (left <= 0) break
    counts[i] = (counts[i] as number) + 1
    left--
  }
  return counts
}

/**
 * IID: a seeded shuffle cut into `clients` parts whose sizes differ by at most one.
 * @param labels one class index per example (only its length matters here)
 * @throws RangeError / TypeError for bad options
 */
export function partitionIid(labels: ArrayLike<number>, init: PartitionInit): Partition {
  checkLabelsArg(labels)
  const seed = checkInit(init, labels.length)
  return sortedParts(evenSplit(permutation(labels.length, createRng(seed, 0x11d)), init.clients))
}

function groupByClass(labels: ArrayLike<number>, numClasses: number): number[][] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => [])
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i] as number
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new RangeError(`labels[${i}] is ${String(y)}, expected a class index in [0, ${numClasses})`)
    }
    ;(byClass[y] as number[]).push(i)
  }
  return byClass
}

function inferClasses(labels: ArrayLike<number>, given: number | undefined): number {
  if (given !== undefined) {
    if (!Number.isInteger(given) || given < 1) throw new RangeError(`init.numClasses must be a positive integer, got ${given}`)
    return given
  }
  let max = -1
  for (let i = 0; i < labels.length; i++) max = Math.max(max, labels[i] as number)
  return max + 1
}

/**
 * Dirichlet label skew (Hsu et al. 2019; as in NIID-Bench and FedLab): for each class, draw client proportions
 * p ~ Dir(alpha) and deal the class's shuffled examples out in those proportions.
 * @throws RangeError for bad options or labels; PartitionError if `minSize` cannot be met in 1000 draws
 */
export function partitionDirichlet(labels: ArrayLike<number>, init: DirichletPartitionInit): Partition {
  checkLabelsArg(labels)
  const seed = checkInit(init, labels.length)
  const { alpha, clients } = init
  if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) {
    throw new RangeError(`init.alpha must be a positive finite number, got ${String(alpha)}`)
  }
  const minSize = init.minSize ?? 0
  if (!Number.isInteger(minSize) || minSize < 0 || minSize * clients > labels.length) {
    throw new RangeError(`init.minSize must be an integer in [0, ${Math.floor(labels.length / clients)}], got ${String(minSize)}`)
  }
  const numClasses = inferClasses(labels, init.numClasses)
  const byClass = groupByClass(labels, numClasses)
  for (let attempt = 0; attempt < 1000; attempt++) {
    const rng = createRng(seed, 0xd1e, attempt)
    const parts: number[][] = Array.from({ length: clients }, () => [])
    for (const members of byClass) {
      shuffleInPlace(members, rng)
      const counts = apportion(dirichlet(rng, alpha, clients), members.length)
      let at = 0
      for (let c = 0; c < clients; c++) {
        const part = parts[c] as number[]
        for (let k = 0; k < (counts[c] as number); k++) part.push(members[at++] as number)
      }
    }
    if (parts.every((p) => p.length >= minSize)) return sortedParts(parts)
    for (const members of byClass) members.sort((a, b) => a - b)
  }
  throw new PartitionError(`no Dirichlet(alpha=${alpha}) draw in 1000 attempts gave every one of ${clients} clients ${minSize} examples`)
}

/**
 * Pathological non-IID shards (McMahan et al. 2017): sort examples by label (random order within a class), cut
 * them into `clients * shardsPerClient` shards of equal size (±1), and deal each client `shardsPerClient` random
 * shards. A client therefore sees about `shardsPerClient` classes; a shard that straddles a class boundary adds one.
 * @throws RangeError for bad options or more shards than examples
 */
export function partitionShards(labels: ArrayLike<number>, init: ShardPartitionInit): Partition {
  checkLabelsArg(labels)
  const seed = checkInit(init, labels.length)
  const { shardsPerClient, clients } = init
  if (!Number.isInteger(shardsPerClient) || shardsPerClient < 1) {
    throw new RangeError(`init.shardsPerClient must be a positive integer, got ${String(shardsPerClient)}`)
  }
  const numShards = clients * shardsPerClient
  if (numShards > labels.length) throw new RangeError(`${numShards} shards (clients × shardsPerClient) exceed the ${labels.length} examples`)
  const rng = createRng(seed, 0x5a4d)
  const byClass = groupByClass(labels, inferClasses(labels, undefined))
  const sorted: number[] = []
  for (const members of byClass) for (const i of shuffleInPlace(members, rng)) sorted.push(i)
  const shards = evenSplit(sorted, numShards)
  const deal = permutation(numShards, rng)
  const parts: number[][] = Array.from({ length: clients }, () => [])
  for (let s = 0; s < numShards; s++) {
    const part = parts[Math.floor(s / shardsPerClient)] as number[]
    for (const i of shards[deal[s] as number] as number[]) part.push(i)
  }
  return sortedParts(parts)
}

/**
 * Quantity skew: IID label mix, power-law sizes. Clients get ranks in seeded random order; rank r (1-based) gets
 * a share proportional to r^-exponent (Zipf), at least `minSize` examples each.
 * @throws RangeError for bad options
 */
export function partitionQuantitySkew(labels: ArrayLike<number>, init: QuantitySkewPartitionInit): Partition {
  checkLabelsArg(labels)
  const seed = checkInit(init, labels.length)
  const { exponent, clients } = init
  if (typeof exponent !== 'number' || !(exponent >= 0) || !Number.isFinite(exponent)) {
    throw new RangeError(`init.exponent must be a finite number >= 0, got ${String(exponent)}`)
  }
  const minSize = init.minSize ?? 1
  if (!Number.isInteger(minSize) || minSize < 0 || minSize * clients > labels.length) {
    throw new RangeError(`init.minSize must be an integer in [0, ${Math.floor(labels.length / clients)}], got ${String(minSize)}`)
  }
  const rng = createRng(seed, 0x9a7)
  const ranks = permutation(clients, rng)
  const weights = Array.from(ranks, (r) => (r + 1) ** -exponent)
  const counts = apportion(weights, labels.length - minSize * clients).map((c) => c + minSize)
  const order = permutation(labels.length, rng)
  const parts: number[][] = []
  let at = 0
  for (const count of counts) {
    parts.push(Array.from(order.subarray(at, at + count)))
    at += count
  }
  return sortedParts(parts)
}

/**
 * Partitions by a scheme value (what configs and the CLI produce).
 * @throws as the chosen partitioner does; TypeError for an unknown scheme
 */
export function partition(labels: ArrayLike<number>, scheme: PartitionScheme, init: PartitionInit): Partition {
  switch (scheme.scheme) {
    case 'iid':
      return partitionIid(labels, init)
    case 'dirichlet':
      return partitionDirichlet(labels, { ...init, alpha: scheme.alpha, ...(scheme.minSize === undefined ? {} : { minSize: scheme.minSize }) })
    case 'shards':
      return partitionShards(labels, { ...init, shardsPerClient: scheme.shardsPerClient })
    case 'quantity-skew':
      return partitionQuantitySkew(labels, { ...init, exponent: scheme.exponent })
    default: {
      const never: never = scheme
      throw new TypeError(`unknown partition scheme ${JSON.stringify((never as { scheme: unknown }).scheme)}`)
    }
  }
}
