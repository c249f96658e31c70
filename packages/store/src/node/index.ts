// Public API of @weft/store/node: the node's block store on disk.
export { addPath } from './add-path.js'
export { type AddBytesOptions, type AddOptions, type DiskStore, type DiskStoreInit, openDiskStore, type RootRow, type RootStat, type StoreUsage, storeDir } from './disk-store.js'
