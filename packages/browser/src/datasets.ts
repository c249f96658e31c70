// The browser peer's local data: a CSV file or a folder of labelled images the user picks, turned into an in-memory
// data set that never leaves the tab, and kept in IndexedDB (so a reload needs no new pick).
import { type InMemoryDataset, inMemoryDataset, parseCsv } from '@weft/data'
import type { KeyValueStore } from './idb.js'

/** A data set as IndexedDB keeps it (structured-clone friendly). */
export interface StoredDataset {
  readonly name: string
  readonly featureShape: readonly number[]
  readonly numClasses: number
  readonly classNames: readonly string[]
  readonly features: { readonly dtype: 'uint8'; readonly data: Uint8Array; readonly scale: number } | { readonly dtype: 'float32'; readonly data: Float32Array }
  readonly labels: Int32Array
  /** Where it came from, in words (a file name, a folder). */
  readonly source: string
  readonly addedAt: number
}

/** What the page shows of a data set. */
export interface DatasetSummary {
  readonly name: string
  readonly examples: number
  readonly featureShape: readonly number[]
  readonly numClasses: number
  readonly classNames: readonly string[]
  readonly source: string
  readonly bytes: number
  /** How the features were read: 'pixels' (0-255 integers scaled to [0, 1]) or 'values' (as written). */
  readonly scaling: 'pixels' | 'values'
}

/** Data set names as the node's config takes them. */
const NAME = /^[a-z0-9][a-z0-9._/-]{0,127}$/i

/** @throws TypeError for a name a job could not name */
export function checkDatasetName(name: string): void {
  if (!NAME.test(name)) throw new TypeError(`data set names are 1-128 letters, digits, '.', '_', '/' or '-', starting with a letter or digit; got "${name}"`)
}

export interface CsvDatasetInit {
  readonly name: string
  /** The label column; default 'label'. */
  readonly label?: string
  /**
   * 'none' (default): the values as written, as a node reads a CSV; 'pixels': integers in [0, 255], kept as bytes
   * and scaled by 1/255 (what Weft's Fashion-MNIST loader does); 'auto': pixels when every value is an integer in
   * [0, 255] and some exceed 1. Every peer of a job must read its data the same way.
   * @throws RangeError ('pixels') for a value that is not an integer in [0, 255]
   */
  readonly pixels?: 'auto' | 'pixels' | 'none'
  /** For error messages: the file name. */
  readonly source?: string
}

/** The largest value when every value is an integer in [0, 255] (a pixel), else undefined. */
const pixelMax = (values: Float32Array): number | undefined => {
  let max = 0
  for (const v of values) {
    if (!(v >= 0 && v <= 255 && Number.isInteger(v))) return undefined
    if (v > max) max = v
  }
  return max
}

/**
 * Parses a CSV file (a header row, one example per row, a label column) into a stored data set.
 * @throws CsvFormatError naming the line and column for a malformed file; TypeError for a bad name
 */
export function datasetFromCsv(text: string, init: CsvDatasetInit): StoredDataset {
  checkDatasetName(init.name)
  const source = init.source ?? 'csv'
  const parsed = parseCsv(text, { label: init.label ?? 'label', name: init.name, source })
  const ds = parsed.dataset
  const n = ds.size
  const width = parsed.featureNames.length
  const values = new Float32Array(n * width)
  for (let i = 0; i < n; i++) values.set(ds.example(i), i * width)
  const labels = Int32Array.from(ds.labels())
  const mode = init.pixels ?? 'none'
  const max = mode === 'none' ? undefined : pixelMax(values)
  if (mode === 'pixels' && max === undefined) throw new RangeError(`${source}: pixel values must be integers in [0, 255]`)
  const pixels = mode === 'pixels' || (mode === 'auto' && max !== undefined && max > 1)
  const features = pixels ? { dtype: 'uint8' as const, data: Uint8Array.from(values), scale: 1 / 255 } : { dtype: 'float32' as const, data: values }
  return { name: init.name, featureShape: [width], numClasses: parsed.classNames.length, classNames: parsed.classNames, features, labels, source, addedAt: Date.now() }
}

/** One labelled image: its label (the folder it sits in) and the file. */
export interface LabelledImage {
  readonly label: string
  readonly file: Blob
}

/**
 * Labelled images from a folder the user picked (`<input type=file webkitdirectory>`): each file's label is the
 * name of the folder it sits in (`shirts/001.png` is a `shirts`). Files that are not images are skipped.
 */
export function labelledImages(files: Iterable<File>): LabelledImage[] {
  const out: LabelledImage[] = []
  for (const file of files) {
    const path = (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name
    const parts = path.split('/')
    if (parts.length < 2 || !file.type.startsWith('image/')) continue
    out.push({ label: parts[parts.length - 2] as string, file })
  }
  return out
}

export interface ImagesDatasetInit {
  readonly name: string
  /** Every image is drawn at this size (default: the first image's). */
  readonly width?: number
  readonly height?: number
  /** 'gray' (default: one channel, the luminance) or 'rgb'. */
  readonly channels?: 'gray' | 'rgb'
  readonly source?: string
  /** Called after each image (done, total). */
  readonly onProgress?: (done: number, total: number) => void
}

/**
 * Decodes labelled images into a stored data set: pixels as bytes scaled by 1/255, shape [h, w, c]; classes are
 * the sorted label names.
 * @throws Error for no images, or an image the browser cannot decode
 */
export async function datasetFromImages(images: readonly LabelledImage[], init: ImagesDatasetInit): Promise<StoredDataset> {
  checkDatasetName(init.name)
  if (images.length === 0) throw new Error('no images: pick a folder with one sub-folder per label')
  const classNames = [...new Set(images.map((i) => i.label))].sort()
  const first = await createImageBitmap(images[0]?.file as Blob)
  const width = init.width ?? first.width
  const height = init.height ?? first.height
  first.close()
  const channels = init.channels === 'rgb' ? 3 : 1
  const size = width * height * channels
  const data = new Uint8Array(images.length * size)
  const labels = new Int32Array(images.length)
  const canvas = new OffscreenCanvas(width, height)
  const ctx = canvas.getContext('2d', { willReadFrequently: true })
  if (ctx === null) throw new Error('this browser has no 2D canvas to decode images with')
  for (const [i, image] of images.entries()) {
    const bitmap = await createImageBitmap(image.file)
    ctx.clearRect(0, 0, width, height)
    ctx.drawImage(bitmap, 0, 0, width, height)
    bitmap.close()
    const rgba = ctx.getImageData(0, 0, width, height).data
    const base = i * size
    for (let p = 0; p < width * height; p++) {
      const r = rgba[4 * p] as number
      const g = rgba[4 * p + 1] as number
      const b = rgba[4 * p + 2] as number
      if (channels === 1) data[base + p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b)
      else data.set([r, g, b], base + 3 * p)
    }
    labels[i] = classNames.indexOf(image.label)
    init.onProgress?.(i + 1, images.length)
  }
  return {
    name: init.name,
    featureShape: channels === 1 ? [height, width, 1] : [height, width, 3],
    numClasses: classNames.length,
    classNames,
    features: { dtype: 'uint8', data, scale: 1 / 255 },
    labels,
    source: init.source ?? `${images.length} images`,
    addedAt: Date.now(),
  }
}

/** The in-memory data set of a stored one (no copy). */
export function toInMemory(stored: StoredDataset): InMemoryDataset {
  return inMemoryDataset({
    name: stored.name,
    featureShape: stored.featureShape,
    numClasses: stored.numClasses,
    classNames: stored.classNames,
    features: stored.features,
    labels: stored.labels,
  })
}

export function summarize(stored: StoredDataset): DatasetSummary {
  return {
    name: stored.name,
    examples: stored.labels.length,
    featureShape: stored.featureShape,
    numClasses: stored.numClasses,
    classNames: stored.classNames,
    source: stored.source,
    bytes: stored.features.data.byteLength + stored.labels.byteLength,
    scaling: stored.features.dtype === 'uint8' ? 'pixels' : 'values',
  }
}

/** The data sets kept in IndexedDB. */
export async function storedDatasets(store: KeyValueStore): Promise<StoredDataset[]> {
  const out: StoredDataset[] = []
  for (const key of await store.keys('datasets')) {
    const ds = await store.get<StoredDataset>('datasets', key)
    if (ds !== undefined) out.push(ds)
  }
  return out
}
