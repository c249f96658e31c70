// Public API of @weft/fl (hand-written list of exports).
export { HierarchyUnsupportedError, InvalidJobSpecError, InvalidStrategyConfigError, isStorageFull, NotEnoughUpdatesError } from './errors.js'
export type {
  AggregateResult,
  ClientTrainHints,
  ClientUpdate,
  RoundAggregator,
  Strategy,
  StrategyName,
  StrategyState,
  DpClientHints,
  DpMode,
  DpSettings,
  PrivacyControl,
  PrivacySpent,
  SecureSum,
  SecureTaskHint,
} from './contracts/strategy.js'
export type { Clock, TimerHandle } from './contracts/clock.js'
export type { JobEvent, JobEventInput, JobEventMap, JobEventType } from './contracts/events.js'
export { ManualClock, settle, systemClock, timeoutSignal } from './clock.js'
export { describeJobEvent, isJobEvent, MAX_EVENT_STRING, truncateEventString, withMessage } from './job-events.js'
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
export { type Coordinator, createCoordinator } from './coordinator/coordinator.js'
export type { TransferInfo } from './coordinator/job-run.js'
export type {
  CoordinatorComponents,
  CoordinatorInit,
  CoordinatorLogger,
  CoordinatorMetrics,
  JobLive,
  SubmitOptions,
} from './coordinator/options.js'
export { type AdmissionRound, type AdmissionView, admitUpdate, headerNumbersProblem } from './coordinator/admission.js'
export { clientSeed, createJobStrategy } from './coordinator/seeds.js'
export {
  type ClientSendOutcome,
  type ClientTask,
  type ClientTaskComponents,
  type ClientTaskOutcome,
  type PreparedClientUpdate,
  runClientTask,
} from './client/run-client-task.js'

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
} from './client/update-pipeline.js'
export {
  DP_MODES,
  type DpConfig,
  dpConfigSchema,
  type SecureAggregationConfig,
  secureAggregationConfigSchema,
  SUM_STRATEGIES,
  withDifferentialPrivacy,
} from './privacy.js'
export { type ClientOffer, ineligibility } from './eligibility.js'
export { type JobSpec, minResults, parseJobSpec } from './job-spec.js'
export type {
  EvaluationMetrics,
  JobRecord,
  JobStatus,
  JobStore,
  MemberRecord,
  RoundMetrics,
  RoundRecord,
  UpdateRecord,
} from './contracts/job-store.js'
export { checkMaxEvents, DEFAULT_MAX_EVENTS_PER_JOB, type MemoryJobStoreInit, memoryJobStore } from './memory-job-store.js'
export { DELTA_TENSOR, MASKED_TENSOR, MODEL_TENSOR, maskedInputProblem, maskedSet, modelHash, setVector, vectorSet } from './model-set.js'
export type {
  Admission,
  CentralEvaluator,
  ClientEvaluation,
  CoordinatorTransport,
  EvaluateAssignment,
  HandOutProgress,
  Outcome,
  SecAggReply,
  SecAggTransport,
  TrainAssignment,
  UpdateHeader,
} from './contracts/transport.js'
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
  trainingData,
  withFlippedLabels,
} from './attacks.js'
export {
  roundOfSession,
  SECURE_ATTEMPTS,
  type SecureClientComponents,
  SecureClientSessions,
  secureCohortMinimum,
  secureInput,
  SecureRound,
  secureSessionId,
  type SecureSumResult,
} from './secure-aggregation.js'
export {
  hierarchyProblem,
  runSiteTask,
  type SiteAggregate,
  type SiteAggregateInit,
  type SiteAggregateOutcome,
  siteAggregate,
  type SiteMember,
  type SiteMemberDrop,
  type SiteSecureChannel,
  type SiteTaskComponents,
  type SiteTaskOutcome,
} from './hierarchy.js'
export { type ClientPrivacyPolicy, examplesPerUpdate, policyRefusesJob, policyRefusesTask } from './client/privacy-policy.js'
