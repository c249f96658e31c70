// The DAG layout Weft writes: the `unixfs-v1-2025` profile of IPIP-499 (the same CIDs as `ipfs-unixfs-importer`
// with `profile: 'unixfs-v1-2025'` and Kubo's profile of that name).

/** How a file is cut and linked; frozen, as every node must build the same CIDs. */
export interface DagLayout {
  /** Bytes per leaf (the last leaf may be shorter). */
  readonly chunkSize: number
  /** Links per interior file node (balanced tree). */
  readonly maxChildren: number
  /** Largest directory node; a larger directory would be HAMT-sharded, which this store does not build. */
  readonly maxDirectoryNodeBytes: number
}

/** 1 MiB raw leaves, a balanced tree of dag-pb nodes of up to 1,024 links, CIDv1 with sha2-256. */
export const UNIXFS_V1_2025: DagLayout = Object.freeze({
  chunkSize: 1_048_576,
  maxChildren: 1024,
  maxDirectoryNodeBytes: 262_144,
})

/** The largest block accepted from anyone (a leaf is 1 MiB; bitswap's limit is 2 MiB). */
export const MAX_BLOCK_BYTES = 2 * 1_048_576
