// Coordinate-wise order statistics over buffered deltas: the core of FedMedian, trimmed mean and Bulyan.
//
// Each coordinate's n values are gathered into one float64 scratch array and sorted, so the result depends
// only on the multiset of values: it is exactly the same in any client order. Reading coordinate j of n
// arrays in turn keeps n cache lines live, which L1 holds for n in the hundreds.

/**
 * Computes `global[j] + reduce(sorted values of coordinate j)` for every coordinate.
 * @param deltas n ≥ 1 deltas, each as long as `global`
 * @param reduce gets the coordinate's n values sorted ascending (a scratch array reused across coordinates)
 * @returns a new float32 array
 */
export function coordinatewise(
  global: Float32Array,
  deltas: readonly Float32Array[],
  reduce: (sorted: Float64Array) => number,
): Float32Array {
  const n = deltas.length
  const length = global.length
  const scratch = new Float64Array(n)
  const out = new Float32Array(length)
  for (let j = 0; j < length; j++) {
    for (let k = 0; k < n; k++) scratch[k] = deltas[k]![j]!
    sortAscending(scratch)
    out[j] = global[j]! + reduce(scratch)
  }
  return out
}

/** Sorts in place: insertion sort for the short arrays typical of a round, the native sort beyond. */
export function sortAscending(a: Float64Array): void {
  const n = a.length
  if (n > 24) {
    a.sort()
    return
  }
  for (let i = 1; i < n; i++) {
    const v = a[i]!
    let k = i - 1
    while (k >= 0 && a[k]! > v) {
      a[k + 1] = a[k]!
      k--
    }
    a[k + 1] = v
  }
}

/** The median of sorted values (the mean of the middle two for an even count). */
export function sortedMedian(sorted: Float64Array): number {
  const n = sorted.length
  const mid = n >> 1
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The mean of sorted[from, to), summed in sorted order. */
export function rangeMean(sorted: Float64Array, from: number, to: number): number {
  let s = 0
  for (let k = from; k < to; k++) s += sorted[k]!
  return s / (to - from)
}
