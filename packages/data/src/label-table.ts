// Per-client label counts of a partition, a skew summary (entropy, distance from the global mix) and a text table.
import type { Partition } from './partition.js'

/** Label counts of a partition: `counts[client][class]`, with totals. */
export interface LabelTable {
  readonly numClasses: number
  readonly counts: readonly Int32Array[]
  /** Examples per client. */
  readonly clientTotals: Int32Array
  /** Examples per class over all clients. */
  readonly classTotals: Int32Array
  readonly total: number
}

/** How far a partition is from IID. Entropies are in bits; a client with no examples is left out of the means. */
export interface LabelSkew {
  /** Mean over clients of the entropy of the client's label distribution. */
  readonly meanEntropy: number
  /** Entropy of the global label distribution (the IID value of `meanEntropy`). */
  readonly globalEntropy: number
  /** Mean over clients of the total-variation distance between the client's and the global label distribution, in [0, 1]. */
  readonly meanTotalVariation: number
  /** Mean number of classes present per client. */
  readonly meanClassesPerClient: number
  readonly minClientSize: number
  readonly maxClientSize: number
  /** Coefficient of variation of client sizes (0 when equal). */
  readonly sizeCv: number
}

/**
 * Counts labels per client.
 * @param partition per-client index arrays
 * @param labels label of every example
 * @param numClasses number of classes
 * @throws RangeError if an index or label is out of range
 */
export function labelTable(partition: Partition, labels: ArrayLike<number>, numClasses: number): LabelTable {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`)
  if (!Array.isArray(partition)) throw new TypeError('partition must be an array of index arrays')
  const classTotals = new Int32Array(numClasses)
  const clientTotals = new Int32Array(partition.length)
  let total = 0
  const counts = partition.map((indices, c) => {
    const row = new Int32Array(numClasses)
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k] as number
      if (!(i >= 0 && i < labels.length)) throw new RangeError(`partition[${c}][${k}] is ${i}, outside [0, ${labels.length})`)
      const y = labels[i] as number
      if (!(y >= 0 && y < numClasses)) throw new RangeError(`labels[${i}] is ${y}, outside [0, ${numClasses})`)
      row[y] = (row[y] as number) + 1
      classTotals[y] = (classTotals[y] as number) + 1
    }
    clientTotals[c] = indices.length
    total += indices.length
    return row
  })
  return { numClasses, counts, clientTotals, classTotals, total }
}

function entropy(row: ArrayLike<number>, n: number): number {
  let h = 0
  for (let j = 0; j < row.length; j++) {
    const c = row[j] as number
    if (c > 0) h -= (c / n) * Math.log2(c / n)
  }
  return h
}

/** Summarises how skewed a partition is (label skew and size skew). */
export function labelSkew(table: LabelTable): LabelSkew {
  const globalEntropy = table.total > 0 ? entropy(table.classTotals, table.total) : 0
  let h = 0
  let tv = 0
  let classes = 0
  let nonEmpty = 0
  for (const [c, row] of table.counts.entries()) {
    const n = table.clientTotals[c] as number
    if (n === 0) continue
    nonEmpty++
    h += entropy(row, n)
    let d = 0
    for (let j = 0; j < table.numClasses; j++) {
      d += Math.abs((row[j] as number) / n - (table.classTotals[j] as number) / table.total)
      if ((row[j] as number) > 0) classes++
    }
    tv += d / 2
  }
  const sizes = Array.from(table.clientTotals)
  const mean = sizes.length ? table.total / sizes.length : 0
  const variance = sizes.length ? sizes.reduce((a, s) => a + (s - mean) ** 2, 0) / sizes.length : 0
  return {
    meanEntropy: nonEmpty ? h / nonEmpty : 0,
    globalEntropy,
    meanTotalVariation: nonEmpty ? tv / nonEmpty : 0,
    meanClassesPerClient: nonEmpty ? classes / nonEmpty : 0,
    minClientSize: sizes.length ? Math.min(...sizes) : 0,
    maxClientSize: sizes.length ? Math.max(...sizes) : 0,
    sizeCv: mean > 0 ? Math.sqrt(variance) / mean : 0,
  }
}

/** Options of `formatLabelTable`. */
export interface FormatLabelTableOptions {
  /** Column headers; default the class indices. Long names are cut to 11 characters. */
  readonly classNames?: readonly string[]
}

/** Formats a label table as fixed-width text: one row per client, one column per class, plus totals. */
export function formatLabelTable(table: LabelTable, options: FormatLabelTableOptions = {}): string {
  const heads = Array.from({ length: table.numClasses }, (_, j) => {
    const name = options.classNames?.[j]
    return name === undefined ? String(j) : name.slice(0, 11)
  })
  const cells: string[][] = [['client', ...heads, 'total']]
  for (const [c, row] of table.counts.entries()) cells.push([String(c), ...Array.from(row, String), String(table.clientTotals[c])])
  cells.push(['total', ...Array.from(table.classTotals, String), String(table.total)])
  const widths = cells[0]!.map((_, k) => Math.max(...cells.map((r) => (r[k] as string).length)))
  const line = (r: string[]): string => r.map((v, k) => (k === 0 ? v.padEnd(widths[k]!) : v.padStart(widths[k]!))).join('  ')
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  const rows = cells.map(line)
  return [rows[0], rule, ...rows.slice(1, -1), rule, rows[rows.length - 1]].join('\n')
}
