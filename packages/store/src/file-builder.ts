// Builds a file's UnixFS DAG from a byte stream: raw leaves of `chunkSize` bytes under a balanced tree of dag-pb
// file nodes of at most `maxChildren` links (the unixfs-v1-2025 layout), each block written to a sink as it is made.
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import type { BlockSink } from './blockstore.js'
import { cidOf, DAG_PB_CODE, RAW_CODE } from './cid.js'
import { fixedSizeChunks } from './chunker.js'
import { type DagLayout, UNIXFS_V1_2025 } from './layout.js'

/** A DAG that was added: its root, its content bytes and the bytes of all its blocks (a link's Tsize). */
export interface AddedDag {
  readonly cid: CID
  /** Content bytes: a file's length, or the sum over a directory's files. */
  readonly size: number
  /** Bytes of every block of the DAG (the Tsize a parent's link carries). */
  readonly dagSize: number
  /** Blocks written (a block repeated in the DAG counts each time). */
  readonly blocks: number
}

export interface AddFileOptions {
  readonly layout?: DagLayout
  /** Called after each leaf is written, with the content bytes so far. */
  readonly onProgress?: (bytes: number) => void
  readonly signal?: AbortSignal
}

interface Child {
  readonly cid: CID
  /** Content bytes below this child. */
  readonly fileSize: number
  /** Tsize: bytes of all blocks below and including it. */
  readonly dagSize: number
}

/**
 * Adds a file: chunks `source`, writes every block to `sink`, and returns the root.
 * A file of one chunk is that raw leaf itself; larger files get a balanced tree of dag-pb nodes.
 * @throws whatever `sink.put` throws (a full quota), or the signal's reason
 */
export async function addFile(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, sink: BlockSink, options: AddFileOptions = {}): Promise<AddedDag> {
  const layout = options.layout ?? UNIXFS_V1_2025
  let blocks = 0
  let bytes = 0
  const put = async (cid: CID, block: Uint8Array): Promise<void> => {
    options.signal?.throwIfAborted()
    await sink.put(cid, block)
    blocks++
  }
  const leaves = async function* (): AsyncGenerator<Child> {
    for await (const chunk of fixedSizeChunks(source, layout.chunkSize)) {
      const cid = await cidOf(chunk, RAW_CODE)
      await put(cid, chunk)
      bytes += chunk.byteLength
      options.onProgress?.(bytes)
      yield { cid, fileSize: chunk.byteLength, dagSize: chunk.byteLength }
    }
  }
  const reduce = async (children: readonly Child[]): Promise<Child> => {
    const node = fileNode(children)
    const cid = await cidOf(node.block, DAG_PB_CODE)
    await put(cid, node.block)
    return { cid, fileSize: node.fileSize, dagSize: node.dagSize }
  }
  // One level of the balanced tree at a time: the leaves in groups of maxChildren, then those nodes, until one.
  let level: Child[] = []
  let first: Child | undefined
  let count = 0
  const upper: Child[] = []
  for await (const leaf of leaves()) {
    count++
    if (count === 1) first = leaf
    level.push(leaf)
    if (level.length === layout.maxChildren) {
      upper.push(await reduce(level))
      level = []
    }
  }
  if (count === 1 && first !== undefined) return { ...rootOf(first), blocks }
  if (level.length > 0) upper.push(await reduce(level))
  let nodes = upper
  while (nodes.length > 1) {
    const next: Child[] = []
    for (let i = 0; i < nodes.length; i += layout.maxChildren) next.push(await reduce(nodes.slice(i, i + layout.maxChildren)))
    nodes = next
  }
  const root = nodes[0]
  if (root === undefined) throw new Error('unreachable: a file has at least one chunk')
  return { ...rootOf(root), blocks }
}

/**
 * Adds a file held in memory, synchronously: the same blocks and root as `addFile([bytes])` with the same layout.
 * @param cidOfSync - the CID of a block under a codec, computed synchronously (a platform's sha2-256)
 * @param put - writes a block (called leaves first, the root last)
 */
export function addBytesSync(bytes: Uint8Array, put: (cid: CID, block: Uint8Array) => void, cidOfSync: (block: Uint8Array, code: number) => CID, layout: DagLayout = UNIXFS_V1_2025): AddedDag {
  let blocks = 0
  const leaves: Child[] = []
  // As fixedSizeChunks: full chunks, then the shorter rest; no bytes at all give one empty chunk.
  for (let at = 0; at < bytes.byteLength || leaves.length === 0; at += layout.chunkSize) {
    const chunk = bytes.subarray(at, Math.min(at + layout.chunkSize, bytes.byteLength))
    const cid = cidOfSync(chunk, RAW_CODE)
    put(cid, chunk)
    blocks++
    leaves.push({ cid, fileSize: chunk.byteLength, dagSize: chunk.byteLength })
  }
  if (leaves.length === 1) return { ...rootOf(leaves[0] as Child), blocks }
  let nodes = leaves
  while (nodes.length > 1) {
    const next: Child[] = []
    for (let i = 0; i < nodes.length; i += layout.maxChildren) {
      const node = fileNode(nodes.slice(i, i + layout.maxChildren))
      const cid = cidOfSync(node.block, DAG_PB_CODE)
      put(cid, node.block)
      blocks++
      next.push({ cid, fileSize: node.fileSize, dagSize: node.dagSize })
    }
    nodes = next
  }
  return { ...rootOf(nodes[0] as Child), blocks }
}

/** A dag-pb file node over its children, with its content and DAG sizes. */
function fileNode(children: readonly Child[]): { block: Uint8Array; fileSize: number; dagSize: number } {
  const node = new UnixFS({ type: 'file' })
  const links: dagPb.PBLink[] = []
  for (const child of children) {
    if (child.fileSize === 0) continue // an empty leaf carries nothing (the importer drops it too)
    node.addBlockSize(BigInt(child.fileSize))
    links.push({ Name: '', Tsize: child.dagSize, Hash: child.cid })
  }
  const block = dagPb.encode(dagPb.prepare({ Data: node.marshal(), Links: links }))
  const fileSize = children.reduce((n, c) => n + c.fileSize, 0)
  return { block, fileSize, dagSize: block.byteLength + links.reduce((n, l) => n + (l.Tsize ?? 0), 0) }
}

function rootOf(child: Child): Omit<AddedDag, 'blocks'> {
  return { cid: child.cid, size: child.fileSize, dagSize: child.dagSize }
}
