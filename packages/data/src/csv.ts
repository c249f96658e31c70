// CSV tabular loader: a header row, a named label column (string labels → sorted class indices), numeric features.
import { CsvFormatError } from './errors.js'
import { type InMemoryDataset, inMemoryDataset } from './in-memory-dataset.js'

/** Per-feature mean and standard deviation used to standardize (z-score) features. */
export interface Standardization {
  readonly mean: Float64Array
  readonly std: Float64Array
}

/** Options of `parseCsv`. */
export interface CsvInit {
  /** Name of the label column in the header. */
  readonly label: string
  /** Data-set name; default the source. */
  readonly name?: string
  /** Used in error messages, e.g. the file path. Default 'csv'. */
  readonly source?: string
  /** Field separator, default ','. */
  readonly delimiter?: string
  /**
   * `true`: z-score every feature with this data's mean and std (a constant feature gets std 1);
   * a `Standardization`: apply that one (e.g. the training set's, to a test set). Default: no standardization.
   */
  readonly standardize?: boolean | Standardization
  /** Class names to use (e.g. the training set's), instead of the sorted distinct labels of this file. */
  readonly classNames?: readonly string[]
}

/** A parsed CSV data set. */
export interface CsvDataset {
  readonly dataset: InMemoryDataset
  /** `classNames[i]` is the label string of class `i` (sorted; numerically when every label is a number). */
  readonly classNames: readonly string[]
  readonly featureNames: readonly string[]
  /** The standardization applied, if any. */
  readonly standardization: Standardization | undefined
}

function splitLine(line: string, delimiter: string, source: string, lineNo: number): string[] {
  const out: string[] = []
  let field = ''
  let quoted = false
  let i = 0
  while (i < line.length) {
    const ch = line[i] as string
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          field += '"'
          i += 2
          continue
        }
        quoted = false
      } else field += ch
    } else if (ch === '"' && field.trim() === '') {
      quoted = true
      field = ''
    } else if (line.startsWith(delimiter, i)) {
      out.push(field.trim())
      field = ''
      i += delimiter.length
      continue
    } else field += ch
    i++
  }
  if (quoted) throw new CsvFormatError(source, 'unterminated quoted field', { line: lineNo })
  out.push(field.trim())
  return out
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

function sortLabels(labels: Iterable<string>): string[] {
  const distinct = [...new Set(labels)]
  if (distinct.every((l) => NUMBER.test(l))) return distinct.sort((a, b) => Number(a) - Number(b))
  return distinct.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

/**
 * Parses CSV text into a float32 data set.
 * @param text the whole file
 * @param init label column and options
 * @returns the data set with its class names, feature names and standardization
 * @throws CsvFormatError naming the line and column for a missing label column, a ragged row, a non-numeric
 *   feature value or an unknown label (with `classNames`); TypeError/RangeError for bad options
 */
export function parseCsv(text: string, init: CsvInit): CsvDataset {
  if (typeof text !== 'string') throw new TypeError('text must be a string')
  if (typeof init?.label !== 'string' || init.label === '') throw new TypeError('init.label must be a non-empty string')
  const source = init.source ?? 'csv'
  const delimiter = init.delimiter ?? ','
  if (delimiter === '' || delimiter === '"') throw new RangeError(`init.delimiter must be a non-empty string other than '"'`)
  const lines = text.split(/\r?\n/)
  let lineNo = 0
  let header: string[] | undefined
  const rows: { values: string[]; line: number }[] = []
  for (const raw of lines) {
    lineNo++
    if (raw.trim() === '') continue
    const values = splitLine(raw, delimiter, source, lineNo)
    if (header === undefined) header = values
    else rows.push({ values, line: lineNo })
  }
  if (header === undefined) throw new CsvFormatError(source, 'empty file: expected a header row')
  const labelCol = header.indexOf(init.label)
  if (labelCol < 0) throw new CsvFormatError(source, `no label column "${init.label}" in header [${header.join(', ')}]`, { line: 1 })
  const featureNames = header.filter((_, k) => k !== labelCol)
  if (featureNames.length === 0) throw new CsvFormatError(source, 'no feature columns besides the label', { line: 1 })
  if (rows.length === 0) throw new CsvFormatError(source, 'no data rows after the header')
  const nf = featureNames.length
  const features = new Float32Array(rows.length * nf)
  const rawLabels: string[] = []
  for (const [r, { values, line }] of rows.entries()) {
    if (values.length !== header.length) {
      throw new CsvFormatError(source, `ragged row: expected ${header.length} fields (as in the header), got ${values.length}`, { line })
    }
    let f = 0
    for (const [k, v] of values.entries()) {
      if (k === labelCol) {
        if (v === '') throw new CsvFormatError(source, 'empty label', { line, column: init.label })
        rawLabels.push(v)
        continue
      }
      if (!NUMBER.test(v)) {
        throw new CsvFormatError(source, `non-numeric value ${JSON.stringify(v)}: expected a number`, { line, column: header[k] as string })
      }
      features[r * nf + f++] = Number(v)
    }
  }
  const classNames = init.classNames !== undefined ? [...init.classNames] : sortLabels(rawLabels)
  const index = new Map(classNames.map((c, i) => [c, i]))
  const labels = new Int32Array(rows.length)
  for (const [r, l] of rawLabels.entries()) {
    const y = index.get(l)
    if (y === undefined) {
      throw new CsvFormatError(source, `unknown label ${JSON.stringify(l)}: expected one of ${classNames.join(', ')}`, {
        line: (rows[r] as { line: number }).line,
        column: init.label,
      })
    }
    labels[r] = y
  }
  let standardization: Standardization | undefined
  if (init.standardize === true) standardization = fitStandardization(features, nf)
  else if (init.standardize !== undefined && init.standardize !== false) {
    standardization = init.standardize
    if (standardization.mean.length !== nf || standardization.std.length !== nf) {
      throw new RangeError(`init.standardize has ${standardization.mean.length} means and ${standardization.std.length} stds, expected ${nf}`)
    }
  }
  if (standardization !== undefined) {
    for (let i = 0; i < features.length; i++) {
      const j = i % nf
      features[i] = ((features[i] as number) - (standardization.mean[j] as number)) / (standardization.std[j] as number)
    }
  }
  const dataset = inMemoryDataset({
    name: init.name ?? source,
    featureShape: [nf],
    numClasses: classNames.length,
    features: { dtype: 'float32', data: features },
    labels,
    classNames,
  })
  return { dataset, classNames: Object.freeze(classNames), featureNames: Object.freeze(featureNames), standardization }
}

function fitStandardization(features: Float32Array, nf: number): Standardization {
  const n = features.length / nf
  const mean = new Float64Array(nf)
  const std = new Float64Array(nf)
  for (let i = 0; i < features.length; i++) mean[i % nf] = (mean[i % nf] as number) + (features[i] as number)
  for (let j = 0; j < nf; j++) mean[j] = (mean[j] as number) / n
  for (let i = 0; i < features.length; i++) std[i % nf] = (std[i % nf] as number) + ((features[i] as number) - (mean[i % nf] as number)) ** 2
  for (let j = 0; j < nf; j++) {
    const s = Math.sqrt((std[j] as number) / n)
    std[j] = s > 0 ? s : 1
  }
  return { mean, std }
}
