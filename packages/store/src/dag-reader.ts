// Reads UnixFS DAGs from any BlockSource: a node's kind and links, a file's bytes in order, a directory's
// entries, every block of a DAG, and the blocks of a DAG still missing (what a fetcher must get).
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import type { BlockSource } from './blockstore.js'
import { checkCid, DAG_PB_CODE, RAW_CODE } from './cid.js'
import { BlocksMissingError, InvalidDagError, WrongKindError } from './errors.js'

/** One decoded block of a UnixFS DAG. */
export type DagNode =
  | { readonly kind: 'file'; readonly cid: CID; readonly fileSize: number; readonly data: Uint8Array | undefined; readonly links: readonly dagPb.PBLink[] }
  | { readonly kind: 'directory'; readonly cid: CID; readonly links: readonly dagPb.PBLink[] }

/** A directory entry as read back. */
export interface DirectoryListing {
  readonly name: string
  readonly cid: CID
  /** Tsize of the link: bytes of the entry's whole DAG, as the directory claims it. */
  readonly dagSize: number
}

/**
 * Decodes a block into a UnixFS node (raw blocks are file leaves).
 * @throws InvalidDagError for an undecodable block or a UnixFS type this store does not read (sharded directories,
 *   symlinks, metadata)
 */
export function decodeNode(cid: CID, bytes: Uint8Array): DagNode {
  checkCid(cid)
  if (cid.code === RAW_CODE) return { kind: 'file', cid, fileSize: bytes.byteLength, data: bytes, links: [] }
  let pb: dagPb.PBNode
  let fs: UnixFS
  try {
    pb = dagPb.decode(bytes)
    if (pb.Data === undefined) throw new Error('the node has no UnixFS data')
    fs = UnixFS.unmarshal(pb.Data)
  } catch (err) {
    throw new InvalidDagError(cid.toString(), `not a UnixFS dag-pb node: ${(err as Error).message}`, { cause: err })
  }
  for (const link of pb.Links) checkCid(link.Hash, `a link of ${cid}`)
  switch (fs.type) {
    case 'file':
    case 'raw': {
      const fileSize = Number(fs.fileSize())
      if (fs.blockSizes.length !== pb.Links.length) throw new InvalidDagError(cid.toString(), `a file node with ${pb.Links.length} links lists ${fs.blockSizes.length} block sizes`)
      return { kind: 'file', cid, fileSize, data: fs.data, links: pb.Links }
    }
    case 'directory':
      return { kind: 'directory', cid, links: pb.Links }
    default:
      throw new InvalidDagError(cid.toString(), `UnixFS type "${fs.type}" is not supported here (files and flat directories only)`)
  }
}

async function need(source: BlockSource, cid: CID, root: CID): Promise<DagNode> {
  const bytes = await source.get(cid)
  if (bytes === undefined) throw new BlocksMissingError(root.toString(), [cid.toString()])
  return decodeNode(cid, bytes)
}

/** The node at `cid`. @throws BlocksMissingError when its block is not held, InvalidDagError */
export function getNode(source: BlockSource, cid: CID): Promise<DagNode> {
  return need(source, cid, cid)
}

/**
 * A file's bytes, in order, streamed block by block (each block verified by the source).
 * @throws WrongKindError for a directory, BlocksMissingError at the first missing block, InvalidDagError when the
 *   node's sizes disagree with what its children hold
 */
export async function* readFile(source: BlockSource, cid: CID): AsyncGenerator<Uint8Array> {
  const root = await need(source, cid, cid)
  if (root.kind !== 'file') throw new WrongKindError(cid.toString(), 'file', root.kind)
  let produced = 0
  const walk = async function* (node: DagNode & { kind: 'file' }): AsyncGenerator<Uint8Array> {
    const start = produced
    if (node.data !== undefined && node.data.byteLength > 0) {
      produced += node.data.byteLength
      yield node.data
    }
    for (const link of node.links) {
      const child = await need(source, link.Hash, cid)
      if (child.kind !== 'file') throw new InvalidDagError(node.cid.toString(), `links to ${link.Hash}, a ${child.kind}, inside a file`)
      yield* walk(child)
    }
    if (produced - start !== node.fileSize) throw new InvalidDagError(node.cid.toString(), `claims ${node.fileSize} bytes, its blocks hold ${produced - start}`)
  }
  yield* walk(root)
}

/**
 * A directory's entries.
 * @throws WrongKindError for a file, BlocksMissingError, InvalidDagError
 */
export async function listDirectory(source: BlockSource, cid: CID): Promise<DirectoryListing[]> {
  const node = await need(source, cid, cid)
  if (node.kind !== 'directory') throw new WrongKindError(cid.toString(), 'directory', node.kind)
  return node.links.map((l) => ({ name: l.Name ?? '', cid: l.Hash, dagSize: l.Tsize ?? 0 }))
}

/** Walks a DAG depth-first, each block once: the CIDs it holds, and those it lacks (below which it cannot see). */
export async function* walkDag(source: BlockSource, root: CID): AsyncGenerator<{ readonly cid: CID; readonly bytes: Uint8Array | undefined }> {
  const seen = new Set<string>()
  const stack: CID[] = [root]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    const key = blockKey(cid)
    if (seen.has(key)) continue
    seen.add(key)
    const bytes = await source.get(cid)
    yield { cid, bytes }
    if (bytes === undefined || cid.code !== DAG_PB_CODE) continue
    const node = decodeNode(cid, bytes)
    for (let i = node.links.length - 1; i >= 0; i--) stack.push((node.links[i] as dagPb.PBLink).Hash)
  }
}

/**
 * The blocks of a DAG not in `source`, as far as the blocks it holds let it see (a missing interior node hides
 * its children: fetch it, and ask again). An empty list means the DAG is complete.
 * @param limit - stop after this many (default: all)
 */
export async function missingBlocks(source: BlockSource, root: CID, limit = Number.POSITIVE_INFINITY): Promise<CID[]> {
  const out: CID[] = []
  for await (const { cid, held } of walkDagStructure(source, root)) {
    if (!held) out.push(cid)
    if (out.length >= limit) break
  }
  return out
}

/**
 * Walks a DAG's structure depth-first, each block once: whether each is held, reading only the dag-pb nodes (their
 * links); a raw leaf is only looked up (`has`), never read, so walking a 1 GiB file touches its few KiB of nodes.
 */
export async function* walkDagStructure(
  source: BlockSource,
  root: CID,
): AsyncGenerator<{ readonly cid: CID; readonly held: boolean; /** A held dag-pb node's bytes (read to find its links). */ readonly bytes?: Uint8Array }> {
  const seen = new Set<string>()
  const stack: CID[] = [root]
  while (stack.length > 0) {
    const cid = stack.pop() as CID
    const key = blockKey(cid)
    if (seen.has(key)) continue
    seen.add(key)
    if (cid.code !== DAG_PB_CODE) {
      yield { cid, held: await source.has(cid) }
      continue
    }
    const bytes = await source.get(cid)
    if (bytes === undefined) {
      yield { cid, held: false }
      continue
    }
    yield { cid, held: true, bytes }
    const node = decodeNode(cid, bytes)
    for (let i = node.links.length - 1; i >= 0; i--) stack.push((node.links[i] as dagPb.PBLink).Hash)
  }
}

/**
 * Every block CID of a complete DAG, each once, depth-first, without reading its leaves.
 * @throws BlocksMissingError at the first missing block
 */
export async function* dagCids(source: BlockSource, root: CID): AsyncGenerator<CID> {
  for await (const { cid, held } of walkDagStructure(source, root)) {
    if (!held) throw new BlocksMissingError(root.toString(), [cid.toString()])
    yield cid
  }
}

/**
 * Every block of a complete DAG, each once, depth-first.
 * @throws BlocksMissingError at the first missing block
 */
export async function* dagBlocks(source: BlockSource, root: CID): AsyncGenerator<{ readonly cid: CID; readonly bytes: Uint8Array }> {
  for await (const { cid, bytes } of walkDag(source, root)) {
    if (bytes === undefined) throw new BlocksMissingError(root.toString(), [cid.toString()])
    yield { cid, bytes }
  }
}

/** The key a block is stored under: its CIDv1 string, so a CIDv0 link and its v1 form name one block. */
export function blockKey(cid: CID): string {
  return cid.version === 0 ? cid.toV1().toString() : cid.toString()
}

export { CID }
