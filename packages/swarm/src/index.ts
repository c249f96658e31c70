// Public API of @weft/swarm (hand-written list of exports): serverless distributed training, browser-safe.
export {
  type AllReduceInit,
  type AllReduceResult,
  allReduce,
  type Contribution,
  layoutFor,
  MAX_PART_VALUES,
  type OwnerStep,
  PartServer,
  type PartServerInit,
  type ReductionRule,
  reduceContributions,
  rmsDistance,
} from './allreduce.js'
export { decodePart, encodePart, maxPartBytes, type PartCompression, PartEncoder } from './codec.js'
export { type Group, type GroupMember, gridDimensions, groupFor, type Part, partsOf } from './groups.js'
export { MemberTable, type MemberView } from './members.js'
export { MemoryHub } from './memory-transport.js'
export { createMeshSwarmTransport, createSwarmRpcHost, type MeshSwarmTransportInit, type SwarmRpcHost } from './mesh-transport.js'
export { applyOuterStep, type OuterState } from './outer.js'
export { type Evaluation, NoStateError, NothingToJoinError, type StepRecord, type SwarmPeer, type SwarmPeerEvent, type SwarmPeerInit, type SwarmTrainer, startSwarmPeer } from './peer.js'
export { runSwarmSimulation, type SwarmSimulationInit, type SwarmSimulationResult } from './simulate.js'
export { InvalidSwarmSpecError, isTransformerModel, outerSteps, parseSwarmSpec, type SwarmModelSpec, type SwarmSpec, type SwarmSpecInput, type TransformerModelSpec } from './spec.js'
export { decodeSwarmState, encodeSwarmState } from './state-codec.js'
export { type PoolTrainerInit, poolTrainer, type TransformerTrainerInit, transformerTrainer } from './trainer.js'
export {
  PartRefusedError,
  type PartRequest,
  type PartResponse,
  type ProgressReport,
  type SwarmState,
  type SwarmStateStore,
  type SwarmTransport,
} from './transport.js'
