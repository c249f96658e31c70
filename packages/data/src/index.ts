// Public API of @weft/data (browser-safe; file loaders are in @weft/data/node). Hand-written list of exports.
export {
  ChecksumMismatchError,
  CsvFormatError,
  DatasetNotFoundError,
  DownloadError,
  IdxFormatError,
  PartitionError,
  SharedDescriptorError,
  SharedMemoryUnavailableError,
} from './errors.js'
export { createRng, permutation, type Rng, shuffleInPlace } from './rng.js'
export {
  epochOrder,
  type FeatureStorage,
  type Float32Features,
  fromShared,
  type InMemoryDataset,
  type InMemoryDatasetInit,
  inMemoryDataset,
  isSharedDatasetDescriptor,
  type SharedDatasetDescriptor,
  type Uint8Features,
} from './in-memory-dataset.js'
export { encodeIdx, IDX_DTYPES, type IdxArray, type IdxDtype, type IdxExpectation, parseIdx } from './idx.js'
export { type CsvDataset, type CsvInit, parseCsv, type Standardization } from './csv.js'
export {
  type DatasetFile,
  FASHION_MNIST_BASE_URL,
  FASHION_MNIST_CID,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_FILES,
  type FashionMnistFiles,
  type FashionMnistSplit,
} from './fashion-mnist.js'
export {
  type DirichletPartitionInit,
  type Partition,
  type PartitionInit,
  type PartitionScheme,
  partition,
  partitionDirichlet,
  partitionIid,
  partitionQuantitySkew,
  partitionShards,
  type QuantitySkewPartitionInit,
  type ShardPartitionInit,
} from './partition.js'
export { type FormatLabelTableOptions, formatLabelTable, type LabelSkew, type LabelTable, labelSkew, labelTable } from './label-table.js'
export { describeScheme, type PartitionSpec, parsePartitionSpec, partitionDataset, specScheme } from './partition-spec.js'
