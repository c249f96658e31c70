// @weft/jobs: the job model, placement, verification of batch results and the contribution ledger.

export {
  type ChainVerdict,
  type Credit,
  countersign,
  creditByWorker,
  encodeReceipt,
  entryHash,
  GENESIS,
  Ledger,
  LedgerError,
  type LedgerStore,
  MemoryLedgerStore,
  type ReceiptVerdict,
  receiptHash,
  type Signer,
  signerFromKey,
  signHead,
  verifyChain,
  verifyHead,
  verifyReceipt,
  workerSign,
} from './ledger.js'
export {
  type Assignment,
  capacityFromAd,
  misfit,
  type NodeCapacity,
  type PlacementRequest,
  type PlacementResult,
  place,
  REFERENCE_MATMUL_GFLOPS,
} from './placement.js'
export { Reputation, type ReputationPolicy, type ReputationRecord } from './reputation.js'
export {
  type BatchSpec,
  type BatchTask,
  type Constraints,
  expandBatch,
  type JobKind,
  type JobSpec,
  JobSpecError,
  type LabelRule,
  MAX_BATCH_TASKS,
  type PlacementStrategy,
  parseBytes,
  parseDuration,
  parseJobSpec,
  type ResourceRequest,
} from './spec.js'
export { agree, canonicalJson, decideQuorum, effectiveQuorum, type QuorumDecision, resultCid, type TaskResult } from './verify.js'
