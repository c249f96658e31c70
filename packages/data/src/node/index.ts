// Node-only part of @weft/data: file loaders (IDX, CSV), Fashion-MNIST discovery and download, config-named partitions.
export { isGzip, readIdxBytes, readIdxFile } from './idx-file.js'
export {
  ensureFashionMnist,
  FASHION_MNIST_SYSTEM_DIR,
  type FashionMnistComponents,
  type FashionMnistInit,
  type FashionMnistLocation,
  type FashionMnistSource,
  fashionMnistCacheDir,
  loadFashionMnist,
  loadFashionMnistLabels,
  locateFashionMnist,
} from './fashion-mnist.js'
export { loadCsv } from './csv-file.js'
export { loadPartition } from './load-partition.js'
