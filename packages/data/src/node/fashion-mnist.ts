// Finds, downloads (with SHA-256 checks) and loads Fashion-MNIST from disk. Discovery order: an explicit folder or
// $WEFT_DATA, the @weft/dataset-fashion-mnist package that `npm install` brings, the user cache, Debian's
// dataset-fashion-mnist package, the mesh (a node's folder, filled by CID from peers), then a download;
// $WEFT_DATA_SEARCH narrows the sources.
import { createHash, randomUUID } from 'node:crypto'
import { access, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
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
import { decodeIdxBytes } from './idx-file.js'
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

/** A copy of the files shipped in a package: its folder, and each file's size and SHA-256 (checked on load). */
export interface BundledFashionMnist {
  readonly dir: string
  readonly files: Readonly<Record<string, { readonly size: number; readonly sha256: string }>>
}

/** The npm package that ships Fashion-MNIST with the install. */
export const FASHION_MNIST_PACKAGE = '@weft/dataset-fashion-mnist'

/** What the Fashion-MNIST functions read from the environment; inject for tests. */
export interface FashionMnistComponents {
  /** Default `process.env` (reads WEFT_DATA, WEFT_DATA_SEARCH, XDG_CACHE_HOME). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The packaged copy. Default: `@weft/dataset-fashion-mnist` when it is installed; `null` to skip it. */
  readonly bundled?: BundledFashionMnist | null
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
  /** The folder the mesh source fills (a node passes `<dataDir>/datasets/fashion-mnist`); absent: no mesh source (not listed). */
  readonly meshDir?: string
  /**
   * Fills `meshDir` from the mesh (fetching `FASHION_MNIST_CID` from peers, files checked) when no earlier source
   * holds the split. Its error's message is listed as the mesh's problem.
   */
  readonly fetchMesh?: (dir: string) => Promise<void>
}

/** Where a split was found. */
export type FashionMnistSource = 'dir' | 'env' | 'bundled' | 'cache' | 'system' | 'mesh' | 'download'

/** Each source in words, for messages: "Fashion-MNIST from <text>". */
export const FASHION_MNIST_SOURCE_TEXT: Readonly<Record<FashionMnistSource, string>> = Object.freeze({
  dir: 'the folder given',
  env: '$WEFT_DATA',
  bundled: 'the @weft/dataset-fashion-mnist package installed with Weft',
  cache: 'the user cache',
  system: "Debian's dataset-fashion-mnist package",
  mesh: 'the mesh (fetched by CID from peers)',
  download: 'a download into the user cache',
})

/** The sources `$WEFT_DATA_SEARCH` may name (comma-separated), in the order they are tried. */
export const FASHION_MNIST_SEARCH: readonly Exclude<FashionMnistSource, 'dir'>[] = Object.freeze(['env', 'bundled', 'cache', 'system', 'mesh', 'download'])

/** What one source held, or why it did not serve. */
export interface FashionMnistSearched {
  readonly source: FashionMnistSource
  /** A folder, a URL, or the name of what was not there (`$WEFT_DATA`, a package). */
  readonly place: string
  /** Why it did not serve: `not set`, `not installed`, `files missing`, a download error, `skipped by WEFT_DATA_SEARCH`. */
  readonly problem: string
}

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

/** The sources `$WEFT_DATA_SEARCH` allows (all when unset). @throws RangeError naming an unknown source */
function allowedSources(env: Readonly<Record<string, string | undefined>>): ReadonlySet<FashionMnistSource> {
  const raw = env['WEFT_DATA_SEARCH']
  if (raw === undefined || raw.trim() === '') return new Set(FASHION_MNIST_SEARCH)
  const names = raw.split(',').map((x) => x.trim()).filter((x) => x !== '')
  for (const n of names) {
    if (!(FASHION_MNIST_SEARCH as readonly string[]).includes(n)) {
      throw new RangeError(`WEFT_DATA_SEARCH names an unknown source "${n}"; expected a comma-separated list of ${FASHION_MNIST_SEARCH.join(', ')}`)
    }
  }
  return new Set(names as FashionMnistSource[])
}

let defaultBundled: BundledFashionMnist | null | undefined

/** The installed `@weft/dataset-fashion-mnist`, or null when it is not installed. */
async function installedBundle(): Promise<BundledFashionMnist | null> {
  if (defaultBundled !== undefined) return defaultBundled
  try {
    const pkg = (await import(FASHION_MNIST_PACKAGE)) as BundledFashionMnist
    defaultBundled = typeof pkg.dir === 'string' && typeof pkg.files === 'object' ? { dir: pkg.dir, files: pkg.files } : null
  } catch {
    defaultBundled = null
  }
  return defaultBundled
}

/** A folder to look in, or a source that could not be looked in and why. */
type Candidate = { readonly source: FashionMnistSource; readonly dir: string } | FashionMnistSearched

async function candidates(init: FashionMnistInit, components: FashionMnistComponents): Promise<Candidate[]> {
  if (init.dir !== undefined) return [{ source: 'dir', dir: init.dir }]
  const env = components.env ?? process.env
  const allowed = allowedSources(env)
  const skipped = (source: FashionMnistSource, place: string): FashionMnistSearched => ({ source, place, problem: 'skipped by WEFT_DATA_SEARCH' })
  const out: Candidate[] = []
  const weftData = env['WEFT_DATA']
  if (weftData === undefined || weftData === '') out.push({ source: 'env', place: '$WEFT_DATA', problem: 'not set' })
  else if (!allowed.has('env')) out.push(skipped('env', `$WEFT_DATA (${weftData})`))
  else out.push({ source: 'env', dir: join(weftData, 'fashion-mnist') }, { source: 'env', dir: weftData })
  const bundled = components.bundled === undefined ? await installedBundle() : components.bundled
  if (!allowed.has('bundled')) out.push(skipped('bundled', `the ${FASHION_MNIST_PACKAGE} package`))
  else if (bundled === null) out.push({ source: 'bundled', place: `the ${FASHION_MNIST_PACKAGE} package`, problem: 'not installed' })
  else out.push({ source: 'bundled', dir: bundled.dir })
  const cache = fashionMnistCacheDir(components)
  out.push(allowed.has('cache') ? { source: 'cache', dir: cache } : skipped('cache', cache))
  const system = components.systemDir === undefined ? FASHION_MNIST_SYSTEM_DIR : components.systemDir
  if (system !== null) out.push(allowed.has('system') ? { source: 'system', dir: system } : skipped('system', system))
  const mesh = components.meshDir
  if (mesh !== undefined) out.push(allowed.has('mesh') ? { source: 'mesh', dir: mesh } : skipped('mesh', `the mesh (${mesh})`))
  return out
}

function checkInit(init: FashionMnistInit): void {
  if (init === null || typeof init !== 'object') throw new TypeError('init must be an object')
  if (init.split !== 'train' && init.split !== 'test') throw new RangeError(`init.split must be 'train' or 'test', got ${JSON.stringify(init.split)}`)
  if (init.dir !== undefined && (typeof init.dir !== 'string' || init.dir === '')) throw new TypeError('init.dir must be a non-empty string')
}

/** The outcome of `locateFashionMnist` when no source holds the split. */
export interface FashionMnistNotFound {
  /** Every place that was looked at, in order, as text (`<place>: <problem>`). */
  readonly searched: readonly string[]
  /** The same, as records. */
  readonly places: readonly FashionMnistSearched[]
}

/**
 * Finds a split's files without downloading: in `init.dir` only when given; else in `$WEFT_DATA/fashion-mnist` and
 * `$WEFT_DATA`, the `@weft/dataset-fashion-mnist` package, the cache dir, then Debian's
 * `/usr/share/datasets/fashion-mnist`, skipping the sources `$WEFT_DATA_SEARCH` leaves out.
 * @returns the location, or every place looked at and why it did not serve
 * @throws RangeError for an unknown source in `$WEFT_DATA_SEARCH`
 */
export async function locateFashionMnist(
  init: FashionMnistInit,
  components: FashionMnistComponents = {},
): Promise<FashionMnistLocation | FashionMnistNotFound> {
  checkInit(init)
  const files = (components.files ?? FASHION_MNIST_FILES)[init.split]
  const places: FashionMnistSearched[] = []
  for (const c of await candidates(init, components)) {
    if ('problem' in c) {
      places.push(c)
      continue
    }
    const images = await findFile(c.dir, files.images)
    const labels = await findFile(c.dir, files.labels)
    if (images !== undefined && labels !== undefined) return { split: init.split, source: c.source, dir: c.dir, images, labels }
    places.push({ source: c.source, place: c.dir, problem: images === undefined && labels === undefined ? 'no files' : `no ${images === undefined ? files.images.file : files.labels.file}` })
  }
  return { searched: places.map((p) => `${p.place}: ${p.problem}`), places }
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
    // fetch says only "fetch failed"; the reason (no DNS, refused, a timeout) is in its cause.
    const cause = (err as Error).cause as { code?: string; message?: string } | undefined
    const detail = cause?.code ?? cause?.message
    throw new DownloadError(url, `${(err as Error).message}${detail === undefined ? '' : ` (${detail})`}`, { cause: err })
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

/** What a user can do when Fashion-MNIST is nowhere to be found. */
export const FASHION_MNIST_HINTS: readonly string[] = Object.freeze([
  `reinstall Weft's packages (npm install brings ${FASHION_MNIST_PACKAGE}, which ships the files)`,
  'or set WEFT_DATA to a folder holding the four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)',
  'or install Debian\'s package: apt install dataset-fashion-mnist',
  'or fetch it from the mesh: `weft data get fashion-mnist` on a node whose peers published it (`weft data publish fashion-mnist`)',
  `or let Weft download it from ${FASHION_MNIST_BASE_URL} (this machine must reach that host, and WEFT_DATA_SEARCH must be unset or name "download")`,
])

/**
 * Asks `components.fetchMesh` to fill the mesh folder (when it is given and `$WEFT_DATA_SEARCH` allows `mesh`).
 * @returns the split's location there, or what to add to the places searched ('' when the mesh was not asked)
 */
async function fillFromMesh(init: FashionMnistInit, components: FashionMnistComponents): Promise<FashionMnistLocation | string> {
  const dir = components.meshDir
  if (dir === undefined || components.fetchMesh === undefined || !allowedSources(components.env ?? process.env).has('mesh')) return ''
  try {
    await components.fetchMesh(dir)
  } catch (err) {
    return `fetch from the mesh into ${dir}: ${(err as Error).message}`
  }
  const files = (components.files ?? FASHION_MNIST_FILES)[init.split]
  const images = await findFile(dir, files.images)
  const labels = await findFile(dir, files.labels)
  if (images === undefined || labels === undefined) return `fetch from the mesh into ${dir}: the fetched folder lacks the ${init.split} split's files`
  return { split: init.split, source: 'mesh', dir, images, labels }
}

/**
 * Finds a split (see `locateFashionMnist`), else fills the mesh folder from peers (`components.fetchMesh`), else,
 * when downloading is allowed (`init.download` is not false and `$WEFT_DATA_SEARCH` names `download` or is unset),
 * downloads its two files from `components.baseUrl`
 * into the cache dir with size and SHA-256 checks.
 * @throws DatasetNotFoundError listing every place looked at (a failed download among them) and what to do;
 *   ChecksumMismatchError for a download whose digest is wrong
 */
export async function ensureFashionMnist(init: FashionMnistInit, components: FashionMnistComponents = {}): Promise<FashionMnistLocation> {
  const located = await locateFashionMnist(init, components)
  if ('dir' in located) return located
  const what = `Fashion-MNIST (${init.split} split)`
  const base = components.baseUrl ?? FASHION_MNIST_BASE_URL
  if (init.dir !== undefined) throw new DatasetNotFoundError(what, located.searched)
  const fromMesh = await fillFromMesh(init, components)
  if (typeof fromMesh !== 'string') return fromMesh
  const found = { searched: [...located.searched, ...(fromMesh === '' ? [] : [fromMesh])] }
  if (init.download === false) throw new DatasetNotFoundError(what, [...found.searched, `download from ${base}: turned off`], { hints: FASHION_MNIST_HINTS })
  if (!allowedSources(components.env ?? process.env).has('download')) {
    throw new DatasetNotFoundError(what, [...found.searched, `download from ${base}: skipped by WEFT_DATA_SEARCH`], { hints: FASHION_MNIST_HINTS })
  }
  const files = (components.files ?? FASHION_MNIST_FILES)[init.split]
  const dir = fashionMnistCacheDir(components)
  try {
    const images = (await findFile(dir, files.images)) ?? (await downloadFile(dir, files.images, components))
    const labels = (await findFile(dir, files.labels)) ?? (await downloadFile(dir, files.labels, components))
    return { split: init.split, source: 'download', dir, images, labels }
  } catch (err) {
    if (!(err instanceof DownloadError)) throw err
    throw new DatasetNotFoundError(what, [...found.searched, `download from ${base}: ${err.problem}`], { hints: FASHION_MNIST_HINTS, cause: err })
  }
}

/**
 * A file's IDX bytes, checked: a bundled file's .gz size and SHA-256 against the package's record, always; any
 * other's decompressed content against the canonical digest when `verify`.
 */
async function readChecked(path: string, file: DatasetFile, verify: boolean, bundled: BundledFashionMnist | undefined): Promise<Uint8Array> {
  const raw = await readFile(path)
  if (bundled !== undefined) {
    const name = path.slice(path.lastIndexOf('/') + 1)
    const want = bundled.files[name]
    if (want === undefined) throw new ChecksumMismatchError(`${path} (bundled)`, `a file listed by ${FASHION_MNIST_PACKAGE}`, 'a file it does not list')
    if (raw.length !== want.size) throw new ChecksumMismatchError(`${path} (bundled)`, `${want.size} bytes`, `${raw.length} bytes`, { kept: true })
    const digest = sha256(raw)
    if (digest !== want.sha256) throw new ChecksumMismatchError(`${path} (bundled)`, want.sha256, digest, { kept: true })
  }
  const bytes = await decodeIdxBytes(raw, path)
  if (verify) {
    const digest = sha256(bytes)
    if (digest !== file.contentSha256) throw new ChecksumMismatchError(`${path} (decompressed content)`, file.contentSha256, digest, { kept: true })
  }
  return bytes
}

/** The package record a bundled location is checked against. */
async function bundleOf(loc: FashionMnistLocation, components: FashionMnistComponents): Promise<BundledFashionMnist | undefined> {
  if (loc.source !== 'bundled') return undefined
  return (components.bundled === undefined ? await installedBundle() : components.bundled) ?? undefined
}

async function readLabels(loc: FashionMnistLocation, file: DatasetFile, verify: boolean, bundled: BundledFashionMnist | undefined): Promise<Int32Array> {
  const parsed = parseIdx(await readChecked(loc.labels, file, verify, bundled), loc.labels, { dtype: 'uint8', dims: [null] })
  const labels = Int32Array.from(parsed.data)
  const bad = labels.findIndex((y) => y >= FASHION_MNIST_CLASSES.length)
  if (bad >= 0) throw new IdxFormatError(loc.labels, `label ${bad} is ${labels[bad]}, expected a class index in [0, 10)`)
  return labels
}

/**
 * Loads a Fashion-MNIST split as a data set of 28×28×1 uint8 images (scale 1/255) with the ten class names.
 * Finds or downloads the files as `ensureFashionMnist` does.
 * A copy from `@weft/dataset-fashion-mnist` is always checked against the package's sizes and SHA-256 digests.
 * @throws DatasetNotFoundError, ChecksumMismatchError; IdxFormatError naming the file for a
 *   malformed file, dims other than [n, 28, 28], or image and label counts that differ
 */
export async function loadFashionMnist(init: FashionMnistInit, components: FashionMnistComponents = {}): Promise<InMemoryDataset> {
  const loc = await ensureFashionMnist(init, components)
  const files = (components.files ?? FASHION_MNIST_FILES)[init.split]
  // A mesh copy came from peers: its content is always checked against the canonical digests.
  const verify = init.verify === true || loc.source === 'mesh'
  const bundled = await bundleOf(loc, components)
  const [imageBytes, labels] = await Promise.all([readChecked(loc.images, files.images, verify, bundled), readLabels(loc, files.labels, verify, bundled)])
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
  return readLabels(loc, (components.files ?? FASHION_MNIST_FILES)[init.split].labels, init.verify === true || loc.source === 'mesh', await bundleOf(loc, components))
}
