// Public API of @weft/store (browser-safe): CIDs, the block store contract, building and reading UnixFS DAGs, CAR.
export { type BlockSink, type BlockSource, type Blockstore, createMemoryBlockstore } from './blockstore.js'
export { type CarImport, CAR_CONTENT_TYPE, exportCar, importCar } from './car.js'
export { CID, checkCid, cidOf, DAG_PB_CODE, parseCid, RAW_CODE, verifyBlock } from './cid.js'
export { fixedSizeChunks } from './chunker.js'
export {
  blockKey,
  type DagNode,
  type DirectoryListing,
  dagBlocks,
  dagCids,
  decodeNode,
  getNode,
  listDirectory,
  missingBlocks,
  readFile,
  walkDag,
  walkDagStructure,
} from './dag-reader.js'
export { addDirectory, checkEntryName, type DirectoryEntry, MAX_ENTRY_NAME_BYTES } from './directory-builder.js'
export {
  BlockMismatchError,
  BlocksMissingError,
  BlockTooLargeError,
  InvalidCarError,
  InvalidCidError,
  InvalidDagError,
  InvalidDirectoryError,
  StoreFullError,
  UnknownRootError,
  WrongKindError,
} from './errors.js'
export { type AddedDag, type AddFileOptions, addBytesSync, addFile } from './file-builder.js'
export { type DagLayout, MAX_BLOCK_BYTES, UNIXFS_V1_2025 } from './layout.js'
