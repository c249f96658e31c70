// Finds, downloads (with SHA-256 checks) and loads Fashion-MNIST from disk.
import { createHash, randomUUID } from 'node:crypto'
import { access, mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ChecksumMismatchError, DatasetNotFoundError, DownloadError, IdxFormatError } from '../errors.js'
import {
  type DatasetFile,
  FASHION_MNIST_BASE_URL,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FILES,
  type FashionMnistFiles,
  type FashionMnistSplit,
} from '../fashion-mnist.js'
import { type InMemoryDataset, inMemoryDataset } from '../in-memory-dataset.js'
import { readIdxBytes } from './idx-file.js'
import { parseIdx } from '../idx.js'

/** Where Debian's `dataset-fashion-mnist` package installs the files. */
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist'

/** Options of the Fashion-MNIST functions. */
export interface FashionMnistInit {
  readonly split: FashionMnistSplit
  /** Look only here (no fallback, no download). */
  readonly dir?: string
  /** Download into the cache dir when not found elsewhere. Default true. */
  readonly download?: boolean
  /** Check the decompressed content's SHA-256 against the canonical digest, for files found locally. Default false. */
  readonly verify?: boolean
}

/** What the Fashion-MNIST functions read from the environment; inject for tests. */
export interface FashionMnistComponents {
  /** Default `process.env` (reads WEFT_DATA, XDG_CACHE_HOME). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Default `os.homedir()`. */
  readonly homedir?: string
  /** Default Debian's directory; `null` to skip it. */
  readonly systemDir?: string | null
  /** Base URL the files are downloaded from. Default `FASHION_MNIST_BASE_URL`. */
  readonly baseUrl?: string
  /** Default the global `fetch`. */
  readonly fetch?: typeof fetch
  /** Expected files and digests. Default `FASHION_MNIST_FILES`. */
  readonly files?: FashionMnistFiles
  /** Per-file download timeout in ms. Default 300000. */
  readonly timeoutMs?: number
}

/** Where a split was found. */
export type FashionMnistSource = 'dir' | 'env' | 'cache' | 'system' | 'download'

/** A split's files on disk. */
export interface FashionMnistLocation {
  readonly split: FashionMnistSplit
  readonly source: FashionMnistSource
  readonly dir: string
  readonly images: string
  readonly labels: string
}

/** The cache directory downloads go to: `$XDG_CACHE_HOME/weft/datasets/fashion-mnist` or `~/.cache/weft/datasets/fashion-mnist`. */
export function fashionMnistCacheDir(components: FashionMnistComponents = {}): string {
  const env = components.env ?? process.env
  const xdg = env['XDG_CACHE_HOME']
  const base = xdg !== undefined && xdg !== '' ? xdg : join(components.homedir ?? homedir(), '.cache')
  return join(base, 'weft', 'datasets', 'fashion-mnist')
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

/** The path of `file` in `dir`, compressed or not, if present. */
async function findFile(dir: string, file: DatasetFile): Promise<string | undefined> {
  for (const name of [file.file, file.file.replace(/\.gz$/, '')]) {
    const p = join(dir, name)
    if (await exists(p)) return p
  }
  return undefined
}

function candidates(init: FashionMnistInit, components: FashionMnistComponents): [FashionMnistSource, string][] {
  if (init.dir !== undefined) return [['dir', init.dir]]
  const env = components.env ?? process.env
  const out: [FashionMnistSource, string][] = []
  const weftData = env['WEFT_DATA']
  if (weftData !== undefined && weftData !== '') out.push(['env', join(weftData, 'fashion-mnist')], ['env', weftData])
  out.push(['cache', fashionMnistCacheDir(components)])
  const system = components.systemDir === undefined ? FASHION_MNIST_SYSTEM_DIR : components.systemDir
  if (system !== null) out.push(['system', system])
  return out
}

function checkInit(init: FashionMnistInit): void {
  if (init === null || typeof init !== 'object') throw new TypeError('init must be an object')
  if (init.split !== 'train' && init.split !== 'test') throw new RangeError(`init.split must be 'train' or 'test', got ${JSON.stringify(init.split)}`)
  if (init.dir !== undefined && (typeof init.dir !== 'string' || init.dir === '')) throw new TypeError('init.dir must be a non-empty string')
}

/**
 * Finds a split's files without downloading: in `init.dir` only when given; else in `$WEFT_DATA/fashion-mnist`,
 * `$WEFT_DATA`, the cache dir, then Debian's `/usr/share/datasets/fashion-mnist`.
 * @returns the location, or `{ searched }` listing every directory looked in
 */
export async function locateFashionMnist(
  init: FashionMnistInit,
  components: FashionMnistComponents = {},
): Promise<FashionMnistLocation | { readonly searched: readonly string[] }> {
  checkInit(init)
  const files = (components.files ?? FASHION_MNIST_FILES)[init.split]
  const searched: string[] = []
  for (const [source, dir] of candidates(init, components)) {
    searched.push(dir)
    const images = await findFile(dir, files.images)
    const labels = await findFile(dir, files.labels)
    if (images !== undefined && labels !== undefined) return { split: init.split, source, dir, images, labels }
  }
  return { searched }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Downloads one file into `dir`, checking its size and SHA-256 before it gets its final name; a file that fails
 * the check is never written under its name (and its temporary file is removed).
 * @throws DownloadError for HTTP or network failure; ChecksumMismatchError for a wrong size or digest
 */
async function downloadFile(dir: string, file: DatasetFile, components: FashionMnistComponents): Promise<string> {
  const base = components.baseUrl ?? FASHION_MNIST_BASE_URL
  const url = new URL(file.file, base.endsWith('/') ? base : `${base}/`).href
  const doFetch = components.fetch ?? fetch
  let bytes: Uint8Array
  try {
    const res = await doFetch(url, { signal: AbortSignal.timeout(components.timeoutMs ?? 300_000) })
    if (!res.ok) throw new DownloadError(url, `HTTP ${res.status} ${res.statusText}`)
    bytes = new Uint8Array(await res.arrayBuffer())
  } catch (err) {
    if (err instanceof DownloadError) throw err
    throw new DownloadError(url, (err as Error).message, { cause: err })
  }
  const target = join(dir, file.file)
  if (bytes.length !== file.size) throw new ChecksumMismatchError(url, `${file.size} bytes`, `${bytes.length} bytes`)
  const digest = sha256(bytes)
  if (digest !== file.sha256) throw new ChecksumMismatchError(url, file.sha256, digest)
  await mkdir(dir, { recursive: true })
  const tmp = `${target}.${randomUUID()}.part`
  try {
    await writeFile(tmp, bytes)
    await rename(tmp, target)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  return target
}

/**
 * Finds a split (see `locateFashionMnist`) or, when not found and `init.download` is not false, downloads its two
 * files from `components.baseUrl` into the cache dir with size and SHA-256 checks.
 * @throws DatasetNotFoundError when not found (and not downloaded); DownloadError; ChecksumMismatchError
 */
export async function ensureFashionMnist(init: FashionMnistInit, components: FashionMnistComponents = {}): Promise<FashionMnistLocation> {
  const found = await locateFashionMnist(init, components)
  if ('dir' in found) return found
  if (init.dir !== undefined || init.download === false) throw new DatasetNotFoundError(`Fashion-MNIST ${init.split} split`, found.searched)
  const files = (components.files ?? FASHION_MNIST_FILES)[init.split]
  const dir = fashionMnistCacheDir(components)
  const images = (await findFile(dir, files.images)) ?? (await downloadFile(dir, files.images, components))
  const labels = (await findFile(dir, files.labels)) ?? (await downloadFile(dir, files.labels, components))
  return { split: init.split, source: 'download', dir, images, labels }
}

async function readChecked(path: string, file: DatasetFile, verify: boolean): Promise<Uint8Array> {
  const bytes = await readIdxBytes(path)
  if (verify) {
    const digest = sha256(bytes)
    if (digest !== file.contentSha256) throw new ChecksumMismatchError(`${path} (decompressed content)`, file.contentSha256, digest)
  }
  return bytes
}

async function readLabels(loc: FashionMnistLocation, file: DatasetFile, verify: boolean): Promise<Int32Array> {
  const parsed = parseIdx(await readChecked(loc.labels, file, verify), loc.labels, { dtype: 'uint8', dims: [null] })
  const labels = Int32Array.from(parsed.data)
  const bad = labels.findIndex((y) => y >= FASHION_MNIST_CLASSES.length)
  if (bad >= 0) throw new IdxFormatError(loc.labels, `label ${bad} is ${labels[bad]}, expected a class index in [0, 10)`)
  return labels
}

/**
 * Loads a Fashion-MNIST split as a data set of 28×28×1 uint8 images (scale 1/255) with the ten class names.
 * Finds or downloads the files as `ensureFashionMnist` does.
 * @throws DatasetNotFoundError, DownloadError, ChecksumMismatchError; IdxFormatError naming the file for a
 *   malformed file, dims other than [n, 28, 28], or image and label counts that differ
 */
export async function loadFashionMnist(init: FashionMnistInit, components: FashionMnistComponents = {}): Promise<InMemoryDataset> {
  const loc = await ensureFashionMnist(init, components)
  const files = (components.files ?? FASHION_MNIST_FILES)[init.split]
  const verify = init.verify === true
  const [imageBytes, labels] = await Promise.all([readChecked(loc.images, files.images, verify), readLabels(loc, files.labels, verify)])
  const images = parseIdx(imageBytes, loc.images, { dtype: 'uint8', dims: [null, 28, 28] })
  const n = images.dims[0] as number
  if (n !== labels.length) throw new IdxFormatError(loc.images, `${n} images but ${labels.length} labels in ${loc.labels}`)
  return inMemoryDataset({
    name: `fashion-mnist/${init.split}`,
    featureShape: [28, 28, 1],
    numClasses: FASHION_MNIST_CLASSES.length,
    features: { dtype: 'uint8', data: images.data as Uint8Array, scale: 1 / 255 },
    labels,
    classNames: FASHION_MNIST_CLASSES,
  })
}

/**
 * Loads only a split's labels (for partitioning and tables without reading 47 MB of images).
 * @throws as `loadFashionMnist`
 */
export async function loadFashionMnistLabels(init: FashionMnistInit, components: FashionMnistComponents = {}): Promise<Int32Array> {
  const loc = await ensureFashionMnist(init, components)
  return readLabels(loc, (components.files ?? FASHION_MNIST_FILES)[init.split].labels, init.verify === true)
}
