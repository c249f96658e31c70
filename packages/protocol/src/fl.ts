// The wire surface of federated learning: RPC methods of service "fl", the two tensor purposes and their limits.
import { rpcMethod } from './rpc-method.js'
import {
  CancelRequestSchema,
  CancelResponseSchema,
  EvaluateRequestSchema,
  EvaluateResponseSchema,
  InviteRequestSchema,
  InviteResponseSchema,
  JobStatusRequestSchema,
  JobStatusResponseSchema,
  SecAggRequestSchema,
  SecAggResponseSchema,
  SubmitRequestSchema,
  SubmitResponseSchema,
  TaskFailedRequestSchema,
  TaskFailedResponseSchema,
  TrainRequestSchema,
  TrainResponseSchema,
} from './gen/weft/fl/v1/fl_pb.js'

/** Coordinator → client: join a job. */
export const FL_INVITE = rpcMethod('fl', 'invite', InviteRequestSchema, InviteResponseSchema)
/** Coordinator → client: train one round from a model sent before on `fl-model`. */
export const FL_TRAIN = rpcMethod('fl', 'train', TrainRequestSchema, TrainResponseSchema)
/** Coordinator → client: evaluate a model on local data. */
export const FL_EVALUATE = rpcMethod('fl', 'evaluate', EvaluateRequestSchema, EvaluateResponseSchema)
/** Coordinator → client: the job ended. */
export const FL_CANCEL = rpcMethod('fl', 'cancel', CancelRequestSchema, CancelResponseSchema)
/** Any node → a node that is to coordinate: run this job. */
export const FL_SUBMIT = rpcMethod('fl', 'submit', SubmitRequestSchema, SubmitResponseSchema)
/** Coordinator → client: one secure-aggregation message (keys, shares, unmasking) of a round's session. */
export const FL_SECAGG = rpcMethod('fl', 'secagg', SecAggRequestSchema, SecAggResponseSchema)
/** Client → coordinator: its task of a round failed (with the reason), so the round stops waiting for it. */
export const FL_TASK_FAILED = rpcMethod('fl', 'task-failed', TaskFailedRequestSchema, TaskFailedResponseSchema)
/** Longest failure reason kept from a client's report. */
export const MAX_FAILURE_REASON = 1024
/** Any node → a coordinator: a job's status. */
export const FL_STATUS = rpcMethod('fl', 'status', JobStatusRequestSchema, JobStatusResponseSchema)

/** Tensor purpose of global models (coordinator → client), declined when the client holds the hash. */
export const FL_MODEL = 'fl-model'
/** Tensor purpose of updates (client → coordinator). */
export const FL_UPDATE = 'fl-update'

/** Largest job spec accepted on the wire (JSON bytes). */
export const MAX_SPEC_JSON = 64 * 1024

/** Most providers a hand-out by CID names (`TrainRequest.model_providers`). */
export const MAX_HANDOUT_PROVIDERS = 16
/** Most peers a client is asked to serve a round's model to (`TrainRequest.serve_to`). */
export const MAX_HANDOUT_PEERS = 1024
