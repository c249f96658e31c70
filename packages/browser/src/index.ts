// Public API of @weft/browser (hand-written list of exports): a browser tab as a Weft peer.
export { BROWSER_WEFT_VERSION } from './ads.js'
export {
  checkDatasetName,
  type CsvDatasetInit,
  type DatasetSummary,
  datasetFromCsv,
  datasetFromImages,
  type ImagesDatasetInit,
  type LabelledImage,
  labelledImages,
  type StoredDataset,
  summarize,
} from './datasets.js'
export { type ConnectedPeer, type Fabric, type FabricConnection, type FabricEvent, type FabricStatus, type JoinOptions, joinFabric } from './fabric.js'
export { type KeyValueStore, memoryStore, openIndexedDb } from './idb.js'
export { loadOrCreateKey } from './identity.js'
export { type BrowserPool, type BrowserPoolInit, browserTrainingPool, WorkerTaskError } from './worker-pool.js'
