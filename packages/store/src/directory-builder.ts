// Builds a UnixFS directory node (flat, not HAMT-sharded) over entries already in the store.
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import type { BlockSink } from './blockstore.js'
import { cidOf, DAG_PB_CODE } from './cid.js'
import { InvalidDirectoryError } from './errors.js'
import type { AddedDag } from './file-builder.js'
import { type DagLayout, UNIXFS_V1_2025 } from './layout.js'

/** One entry of a directory: a name and the DAG it names (a file or a directory added before). */
export interface DirectoryEntry {
  readonly name: string
  readonly cid: CID
  /** Content bytes below the entry. */
  readonly size: number
  /** Tsize: bytes of every block of the entry's DAG. */
  readonly dagSize: number
}

/** The longest entry name, in UTF-8 bytes (as on common file systems). */
export const MAX_ENTRY_NAME_BYTES = 255

/**
 * Checks an entry name: non-empty, at most 255 UTF-8 bytes, no `/` or NUL, not `.` or `..`.
 * @throws InvalidDirectoryError naming the rule
 */
export function checkEntryName(name: string): void {
  const bytes = new TextEncoder().encode(name).byteLength
  if (bytes === 0 || bytes > MAX_ENTRY_NAME_BYTES) throw new InvalidDirectoryError(`entry name "${name.slice(0, 64)}" must have 1 to ${MAX_ENTRY_NAME_BYTES} bytes, has ${bytes}`)
  if (name.includes('/') || name.includes('\0')) throw new InvalidDirectoryError(`entry name "${name}" must not contain "/" or NUL`)
  if (name === '.' || name === '..') throw new InvalidDirectoryError(`entry name "${name}" is not allowed`)
}

/**
 * Writes the directory node over `entries` (sorted by name, as dag-pb requires) and returns it.
 * @throws InvalidDirectoryError for a bad or repeated name, or a node larger than the layout's directory limit
 */
export async function addDirectory(entries: readonly DirectoryEntry[], sink: BlockSink, layout: DagLayout = UNIXFS_V1_2025): Promise<AddedDag> {
  const seen = new Set<string>()
  for (const e of entries) {
    checkEntryName(e.name)
    if (seen.has(e.name)) throw new InvalidDirectoryError(`entry name "${e.name}" appears twice`)
    seen.add(e.name)
  }
  const links = entries.map((e) => ({ Name: e.name, Tsize: e.dagSize, Hash: e.cid }))
  const block = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'directory' }).marshal(), Links: links }))
  if (block.byteLength > layout.maxDirectoryNodeBytes) {
    throw new InvalidDirectoryError(
      `a directory of ${entries.length} entries needs a ${block.byteLength}-byte node, more than ${layout.maxDirectoryNodeBytes}: split it into subdirectories (sharded directories are not supported)`,
    )
  }
  const cid = await cidOf(block, DAG_PB_CODE)
  await sink.put(cid, block)
  return {
    cid,
    size: entries.reduce((n, e) => n + e.size, 0),
    dagSize: block.byteLength + entries.reduce((n, e) => n + e.dagSize, 0),
    blocks: 1,
  }
}
