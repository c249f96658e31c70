// The block store contract every part of Weft's storage talks to (disk, memory, later the network), and an
// in-memory implementation for browsers and tests.
import type { CID } from 'multiformats/cid'
import { verifyBlock } from './cid.js'

/** Where blocks are read from. A missing block is `undefined`, not an error: a fetcher may fill it in. */
export interface BlockSource {
  has(cid: CID): Promise<boolean>
  /** The block's bytes, verified against its CID; `undefined` when it is not held (or was found corrupt). */
  get(cid: CID): Promise<Uint8Array | undefined>
}

/** Where blocks are written. */
export interface BlockSink {
  /**
   * Stores a block after checking that `bytes` hash to `cid`.
   * @throws BlockMismatchError, BlockTooLargeError, or the store's own refusal (a full quota)
   */
  put(cid: CID, bytes: Uint8Array): Promise<void>
}

/** A block store: a source and a sink. */
export interface Blockstore extends BlockSource, BlockSink {}

/** A block store in memory, verifying what it is given (browser peers, tests). */
export function createMemoryBlockstore(): Blockstore & { readonly size: number } {
  const blocks = new Map<string, Uint8Array>()
  return {
    get size() {
      return blocks.size
    },
    async has(cid) {
      return blocks.has(cid.toString())
    },
    async get(cid) {
      return blocks.get(cid.toString())
    },
    async put(cid, bytes) {
      await verifyBlock(cid, bytes)
      blocks.set(cid.toString(), bytes)
    },
  }
}
