// Public API of @weft/runtime (hand-written list of exports).
export { type Batch, type BatchOptions, type Dataset, featureSize } from './dataset.js'
export { type DatasetResolver, type DatasetSource, isDatasetSource } from './dataset-source.js'
export {
  ArtifactHeaderError,
  ArtifactMagicError,
  ArtifactShapeError,
  ArtifactTruncatedError,
  ArtifactVersionError,
  DatasetMismatchError,
  DatasetSourceError,
  InvalidModelSpecError,
  InvalidTrainOptionsError,
  NonFiniteLossError,
  NonFiniteParamError,
  ParamsLengthError,
  TrainingAbortedError,
  UnknownArchitectureError,
} from './errors.js'
export {
  ARCHITECTURES,
  type ArchitectureName,
  DEFAULT_MLP_HIDDEN,
  type LenetSpec,
  type LogregSpec,
  type McmahanSpec,
  type MlpSpec,
  type ModelSpec,
  parseModelSpec,
} from './model-spec.js'
export { type AdamConfig, type OptimizerConfig, type ResolvedOptimizer, resolveOptimizer, type SgdConfig } from './optimizer.js'
export { initialFlatParams, initialParams } from './initial-params.js'
export { checkParams, splitParams } from './params.js'
export type { PoolEvaluateTask, PoolTrainOptions, PoolTrainResult, PoolTrainTask, TrainingPool } from './pool.js'
export { deriveSeed, mulberry32, permutation, type Prng } from './prng.js'
export { type ArchitectureInfo, modelRegistry, type ParamInfo, paramCount, paramInfo, shapeSize } from './registry.js'
export type {
  CreateModelOptions,
  EpochEnd,
  EvaluateOptions,
  EvaluateResult,
  GradientsResult,
  Model,
  OptimizerState,
  ProximalTerm,
  Runtime,
  RuntimeCapabilities,
  TrainOptions,
  TrainProgress,
  TrainResult,
} from './runtime.js'
export {
  checkBatchInput,
  checkDatasetFits,
  DEFAULT_EVALUATE_BATCH_SIZE,
  optimizerStateLength,
  resolveEvaluateBatchSize,
  type ResolvedTrainOptions,
  resolveTrainOptions,
} from './train-options.js'
export {
  ARTIFACT_MAGIC,
  ARTIFACT_VERSION,
  artifactId,
  type DecodedArtifact,
  decodeModelArtifact,
  encodeModelArtifact,
  type ModelArtifact,
} from './artifact.js'
export {
  type BlockRangeModel,
  checkSpan,
  checkTrainingBatch,
  checkTransformerWeights,
  headSize,
  type KvSession,
  type NamedTensor,
  type NamedTensors,
  parseTransformerConfig,
  type SpanInput,
  type TransformerConfig,
  type TransformerRuntime,
  type TransformerSpan,
  type TransformerTrainer,
  type TransformerTrainingRuntime,
  type TransformerTrainOptions,
  toHfLlamaConfig,
  transformerParamCount,
  transformerTensorNames,
  transformerTensorShapes,
} from './transformer.js'
export { checkSpanInput, initTransformerWeights, referenceTransformer, spanWeights, TRANSFORMER_INIT_STD } from './transformer-reference.js'
export { decodeSafetensors, encodeSafetensors, SAFETENSORS_MAX_HEADER_BYTES, type Safetensors, SafetensorsError } from './safetensors.js'
