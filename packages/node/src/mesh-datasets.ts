// Data sets by CID: Fashion-MNIST fetched from the mesh (its root, FASHION_MNIST_CID, or another CID named by the
// user) into `<dataDir>/datasets/fashion-mnist`. Every file is checked against the canonical size and SHA-256 of its
// content before it gets its name, so a peer that published other bytes under a CID gets nothing loaded.
import { createHash, randomUUID } from 'node:crypto'
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ChecksumMismatchError, type DatasetFile, FASHION_MNIST_CID, FASHION_MNIST_FILES } from '@weft/data'
import { decodeIdxBytes } from '@weft/data/node'
import { type CID, parseCid } from '@weft/store'
import type { DiskStore } from '@weft/store/node'
import type { FetchProgress } from './block-fetch.js'
import type { BlockExchange } from './components/block-exchange.js'
import { DatasetFetchError } from './errors.js'

/** The data sets the mesh serves by CID. */
export const MESH_DATASETS = Object.freeze(['fashion-mnist'] as const)
export type MeshDatasetName = (typeof MESH_DATASETS)[number]

/** How long a data set's fetch from the mesh may take, by default (finding providers included). */
export const MESH_DATASET_TIMEOUT_MS = 300_000

/** A .gz file of the set may be at most this large (the largest canonical file is 26 MB). */
const MAX_FILE_BYTES = 64 * 1024 * 1024

/** The folder a mesh data set is written to. */
export function meshDatasetDir(dataDir: string, name: MeshDatasetName): string {
  return join(dataDir, 'datasets', name)
}

/** What a mesh fetch left on disk. */
export interface MeshDatasetResult {
  readonly name: MeshDatasetName
  readonly cid: string
  readonly dir: string
  readonly files: readonly { readonly name: string; readonly size: number }[]
  /** The fetch from peers (null: the store already held the whole DAG). */
  readonly fetched: { readonly blocks: number; readonly bytes: number; readonly providers: Readonly<Record<string, number>> } | null
}

export interface MeshDatasetComponents {
  readonly store: DiskStore | undefined
  readonly exchange: BlockExchange | undefined
}

export interface MeshDatasetInit {
  /** The root to fetch (default FASHION_MNIST_CID). */
  readonly cid?: string
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
  onProgress?(progress: FetchProgress): void
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Fetches `root` into the store unless it is complete there. @throws DatasetFetchError */
async function fetchRoot(components: MeshDatasetComponents, root: CID, init: MeshDatasetInit): Promise<MeshDatasetResult['fetched']> {
  const { store, exchange } = components
  if (store === undefined) throw new DatasetFetchError('the block store is not running on this node (store.enabled is false)')
  if ((await store.missing(root, 1)).length === 0) {
    await store.pin(root)
    return null
  }
  if (exchange === undefined) throw new DatasetFetchError('the block exchange is not running on this node')
  const timeoutMs = init.timeoutMs ?? MESH_DATASET_TIMEOUT_MS
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = AbortSignal.any([timeout, ...(init.signal ? [init.signal] : [])])
  try {
    const result = await exchange.fetch(root, { signal, ...(init.onProgress ? { onProgress: init.onProgress } : {}) })
    if (!result.ok) throw new DatasetFetchError(`no peer provides ${root}: ${result.detail}`)
    return { blocks: result.blocks, bytes: result.bytes, providers: result.providers }
  } catch (err) {
    if (timeout.aborted) throw new DatasetFetchError(`${root} was not complete within ${timeoutMs} ms (the blocks fetched stay: a later fetch resumes)`, { cause: err })
    throw err
  }
}

/** A file of the DAG, read whole, checked against the canonical content digest. @throws DatasetFetchError, ChecksumMismatchError */
async function readChecked(store: DiskStore, root: CID, entries: Map<string, CID>, file: DatasetFile): Promise<Uint8Array> {
  const cid = entries.get(file.file)
  if (cid === undefined) throw new DatasetFetchError(`${root} has no file ${file.file}: it is not Fashion-MNIST's folder`)
  const parts: Uint8Array[] = []
  let size = 0
  for await (const part of store.cat(cid)) {
    size += part.byteLength
    if (size > MAX_FILE_BYTES) throw new DatasetFetchError(`${root}/${file.file} is over ${MAX_FILE_BYTES} bytes: it is not Fashion-MNIST's file`)
    parts.push(part)
  }
  const raw = Buffer.concat(parts)
  const place = `${root}/${file.file} (from the mesh)`
  const content = await decodeIdxBytes(raw, place)
  if (content.byteLength !== file.contentSize) throw new ChecksumMismatchError(`${place}, decompressed`, `${file.contentSize} bytes`, `${content.byteLength} bytes`)
  const digest = sha256(content)
  if (digest !== file.contentSha256) throw new ChecksumMismatchError(`${place}, decompressed`, file.contentSha256, digest)
  return raw
}

/** Writes a file under a temporary name, then renames it: a reader never sees half a file. */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${randomUUID()}.part`
  try {
    await writeFile(tmp, bytes, { mode: 0o644 })
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

/**
 * Fetches Fashion-MNIST's folder by CID from the mesh (pinned, and announced unless `store.provideFetched` is false)
 * and writes its four files, each checked, into `dir`.
 * @throws DatasetFetchError (no store or exchange, no provider, out of time, a folder without the files, a file too
 *   large); ChecksumMismatchError for a file whose content is not the canonical one (nothing of it is written);
 *   InvalidCidError for a malformed `init.cid`
 */
export async function fetchFashionMnistFromMesh(components: MeshDatasetComponents, dir: string, init: MeshDatasetInit = {}): Promise<MeshDatasetResult> {
  const root = parseCid(init.cid ?? FASHION_MNIST_CID)
  const fetched = await fetchRoot(components, root, init)
  const store = components.store as DiskStore
  const entries = new Map((await store.ls(root)).map((e) => [e.name, e.cid]))
  const wanted = [FASHION_MNIST_FILES.train.images, FASHION_MNIST_FILES.train.labels, FASHION_MNIST_FILES.test.images, FASHION_MNIST_FILES.test.labels]
  // Every file is checked before any is written: a wrong folder leaves nothing behind.
  const checked: { name: string; bytes: Uint8Array }[] = []
  for (const file of wanted) checked.push({ name: file.file, bytes: await readChecked(store, root, entries, file) })
  await mkdir(dir, { recursive: true })
  for (const f of checked) await writeAtomically(join(dir, f.name), f.bytes)
  return { name: 'fashion-mnist', cid: root.toString(), dir, files: checked.map((f) => ({ name: f.name, size: f.bytes.byteLength })), fetched }
}
