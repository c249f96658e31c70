// Public API of @weft/fl (hand-written list of exports).
export { InvalidJobSpecError, InvalidStrategyConfigError, NotEnoughUpdatesError } from './errors.js'
export type {
  AggregateResult,
  ClientTrainHints,
  ClientUpdate,
  RoundAggregator,
  Strategy,
  StrategyName,
  StrategyState,
} from './strategy.js'
export type { StrategyInit } from './strategies/argument-checks.js'
export { type BulyanInit, bulyan } from './strategies/bulyan.js'
export { createStrategy } from './strategies/create-strategy.js'
export { type FedAvgInit, fedAvg } from './strategies/fed-avg.js'
export { type FedAvgMInit, fedAvgM } from './strategies/fed-avg-m.js'
export { type FedBuffInit, fedBuff } from './strategies/fed-buff.js'
export { fedMedian } from './strategies/fed-median.js'
export { type FedAdagradInit, type FedOptInit, fedAdagrad, fedAdam, fedYogi } from './strategies/fed-opt.js'
export { type FedProxInit, fedProx } from './strategies/fed-prox.js'
export { type FedTrimmedAvgInit, fedTrimmedAvg } from './strategies/fed-trimmed-avg.js'
export { type KrumInit, type MultiKrumInit, krum, multiKrum } from './strategies/krum.js'
export {
  parseStrategyConfig,
  type StrategyConfig,
  type StrategyConfigInput,
  strategyConfigSchema,
} from './strategies/strategy-config.js'
export {
  type Coordinator,
  type CoordinatorComponents,
  type CoordinatorInit,
  type CoordinatorLogger,
  type CoordinatorMetrics,
  clientSeed,
  createCoordinator,
  createJobStrategy,
  type JobLive,
  type SubmitOptions,
} from './coordinator.js'
export {
  announcedUpdateLength,
  type ClientUpdatePipeline,
  createClientUpdatePipeline,
  decodeClientUpdate,
  type LocalTrainOptions,
  localTrainOptions,
  parameterLayout,
  type PreparedUpdate,
  toDeltaInPlace,
  updateShapeProblem,
} from './client-task.js'
export {
  DP_MODES,
  type DpClientHints,
  type DpConfig,
  dpConfigSchema,
  type PrivacyControl,
  type PrivacySpent,
  type SecureAggregationConfig,
  secureAggregationConfigSchema,
  type SecureSum,
  SUM_STRATEGIES,
  withDifferentialPrivacy,
} from './privacy.js'
export { type ClientOffer, ineligibility } from './eligibility.js'
export { type JobSpec, minResults, parseJobSpec } from './job-spec.js'
export {
  type EvaluationMetrics,
  type JobEvent,
  type JobRecord,
  type JobStatus,
  type JobStore,
  type MemoryJobStoreInit,
  memoryJobStore,
  type RoundMetrics,
  type RoundRecord,
  type UpdateRecord,
} from './job-store.js'
export { DELTA_TENSOR, MASKED_TENSOR, MODEL_TENSOR, modelHash, setVector, vectorSet } from './model-set.js'
export type {
  Admission,
  CentralEvaluator,
  ClientEvaluation,
  CoordinatorTransport,
  EvaluateAssignment,
  HandOutProgress,
  Outcome,
  TrainAssignment,
  UpdateHeader,
} from './transport.js'
export {
  type CompressionConfig,
  type CompressionConfigInput,
  compressionConfigSchema,
  createUpdateEncoder,
  decodeUpdate,
  encodedUpdateBytes,
  INDICES_TENSOR,
  InvalidUpdateError,
  type RandomSource,
  SCALES_TENSOR,
  topkCount,
  type UpdateEncoder,
  VALUES_TENSOR,
} from './compression.js'
export {
  type AttackConfig,
  type AttackConfigInput,
  alieZ,
  attackConfigSchema,
  attackerIds,
  type ColludingRound,
  craftLocalMaliciousUpdate,
  craftMaliciousUpdates,
  flipLabels,
  type LabelArray,
  normalQuantile,
} from './attacks.js'
export {
  roundOfSession,
  SECURE_ATTEMPTS,
  type SecAggReply,
  type SecAggTransport,
  SecureClientSessions,
  secureInput,
  SecureRound,
  secureSessionId,
  type SecureSumResult,
  type SecureTaskHint,
} from './secure-aggregation.js'
