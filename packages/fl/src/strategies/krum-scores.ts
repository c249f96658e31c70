// Krum scoring shared by Krum, Multi-Krum and Bulyan: pairwise squared distances and the ranking they give.
import { sortAscending } from './order-statistics.js'

/**
 * Squared Euclidean distances between every pair of deltas, as an n×n float64 matrix (row-major, symmetric).
 * Coordinates are processed in blocks whose n slices fit in L2, so each delta is read from memory once per
 * block rather than once per pair. Each distance is summed in the same order whatever the client order.
 * @param deltas n ≥ 1 deltas of equal length
 */
export function pairwiseSquaredDistances(deltas: readonly Float32Array[]): Float64Array {
  const n = deltas.length
  const length = deltas[0]?.length ?? 0
  const dist = new Float64Array(n * n)
  const block = Math.max(256, Math.min(16384, Math.floor(65536 / n))) // n × block × 4 B ≈ 256 KiB
  for (let start = 0; start < length; start += block) {
    const end = Math.min(length, start + block)
    for (let a = 0; a < n; a++) {
      const da = deltas[a]!
      for (let b = a + 1; b < n; b++) {
        const db = deltas[b]!
        let s = 0
        for (let j = start; j < end; j++) {
          const t = da[j]! - db[j]!
          s += t * t
        }
        dist[a * n + b] = dist[a * n + b]! + s
      }
    }
  }
  for (let a = 0; a < n; a++) for (let b = a + 1; b < n; b++) dist[b * n + a] = dist[a * n + b]!
  return dist
}

/**
 * Ranks `candidates` best first by Krum score: the sum of squared distances to the k nearest other
 * candidates, k = c − f − 2 for c candidates (Blanchard et al. 2017), clamped to [1, c − 1] so the score
 * stays defined in Bulyan's last iterations. Ties go to the smaller clientId, then to the earlier arrival.
 * @param dist the matrix from {@link pairwiseSquaredDistances} over all n updates
 * @param candidates indices into the n updates
 * @param ids the n client ids
 * @returns the candidates' indices, best first, with their scores
 */
export function krumRanking(
  dist: Float64Array,
  n: number,
  candidates: readonly number[],
  f: number,
  ids: readonly string[],
): { readonly order: number[]; readonly scores: Map<number, number> } {
  const c = candidates.length
  const k = Math.min(c - 1, Math.max(1, c - f - 2))
  const scratch = new Float64Array(c - 1)
  const scores = new Map<number, number>()
  for (const i of candidates) {
    let p = 0
    for (const j of candidates) if (j !== i) scratch[p++] = dist[i * n + j]!
    sortAscending(scratch)
    let s = 0
    for (let q = 0; q < k; q++) s += scratch[q]!
    scores.set(i, s)
  }
  const order = [...candidates].sort((a, b) => {
    const d = scores.get(a)! - scores.get(b)!
    if (d !== 0) return d
    const ia = ids[a]!
    const ib = ids[b]!
    return ia < ib ? -1 : ia > ib ? 1 : a - b
  })
  return { order, scores }
}
