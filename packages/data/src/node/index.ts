// Node-only part of @weft/data: file loaders (IDX, CSV), Fashion-MNIST discovery and download, config-named partitions.
export { decodeIdxBytes, isGzip, readIdxBytes, readIdxFile } from './idx-file.js'
export {
  type BundledFashionMnist,
  ensureFashionMnist,
  FASHION_MNIST_HINTS,
  FASHION_MNIST_PACKAGE,
  FASHION_MNIST_SEARCH,
  FASHION_MNIST_SOURCE_TEXT,
  FASHION_MNIST_SYSTEM_DIR,
  type FashionMnistComponents,
  type FashionMnistInit,
  type FashionMnistLocation,
  type FashionMnistNotFound,
  type FashionMnistSearched,
  type FashionMnistSource,
  fashionMnistCacheDir,
  loadFashionMnist,
  loadFashionMnistLabels,
  locateFashionMnist,
} from './fashion-mnist.js'
export { loadCsv } from './csv-file.js'
export { loadPartition } from './load-partition.js'
