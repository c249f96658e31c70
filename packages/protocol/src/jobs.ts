// The wire surface of orchestration and the contribution ledger: gossip topics, RPC methods and their limits.
import {
  DeliverReceiptRequestSchema,
  DeliverReceiptResponseSchema,
  GetLedgerRequestSchema,
  GetLedgerResponseSchema,
  PlacementStatusRequestSchema,
  PlacementStatusResponseSchema,
  ReleaseRequestSchema,
  ReleaseResponseSchema,
  ReserveRequestSchema,
  ReserveResponseSchema,
  SignReceiptRequestSchema,
  SignReceiptResponseSchema,
  StartRequestSchema,
  StartResponseSchema,
  TaskRequestSchema,
  TaskResponseSchema,
} from './gen/weft/jobs/v1/jobs_pb.js'
import { rpcMethod } from './rpc-method.js'

/** Owners gossip their jobs' signed announcements here. */
export const JOBS_TOPIC = 'weft/jobs/1'
/** Nodes gossip their signed ledger heads here. */
export const LEDGER_TOPIC = 'weft/ledger/1'

/** Owner → node: hold capacity for one placement until the lease ends (asked again to renew). */
export const JOBS_RESERVE = rpcMethod('jobs', 'reserve', ReserveRequestSchema, ReserveResponseSchema)
/** Owner → node: let a reservation go. */
export const JOBS_RELEASE = rpcMethod('jobs', 'release', ReleaseRequestSchema, ReleaseResponseSchema)
/** Owner → node: start an FL coordinator, swarm peer or served model on a reserved placement. */
export const JOBS_START = rpcMethod('jobs', 'start', StartRequestSchema, StartResponseSchema)
/** Owner → node: its placements' states and usage (the heartbeat; renews their reservations). */
export const JOBS_STATUS = rpcMethod('jobs', 'status', PlacementStatusRequestSchema, PlacementStatusResponseSchema)
/** Owner → node: run one batch task on a reserved placement; answered with its result and the worker's signature. */
export const JOBS_TASK = rpcMethod('jobs', 'task', TaskRequestSchema, TaskResponseSchema)
/** Owner → worker: a countersigned receipt for the worker's ledger. */
export const JOBS_RECEIPT = rpcMethod('jobs', 'receipt', DeliverReceiptRequestSchema, DeliverReceiptResponseSchema)
/** Owner → worker: sign a receipt the owner built for the worker's FL update or served session (refused with a reason). */
export const JOBS_SIGN = rpcMethod('jobs', 'sign', SignReceiptRequestSchema, SignReceiptResponseSchema)
/** Anyone → node: entries of its ledger and its signed head. */
export const LEDGER_GET = rpcMethod('ledger', 'get', GetLedgerRequestSchema, GetLedgerResponseSchema)

/** Longest job id, placement id and task id. */
export const MAX_JOB_ID = 128
/** Largest job or task spec carried on the wire (JSON). */
export const MAX_JOB_SPEC_BYTES = 64 * 1024
/** Largest batch task result (canonical JSON). */
export const MAX_TASK_RESULT_BYTES = 1024 * 1024
/** Largest gossiped announcement or ledger head. */
export const MAX_JOB_ANNOUNCEMENT_BYTES = MAX_JOB_SPEC_BYTES + 4096
export const MAX_LEDGER_HEAD_BYTES = 1024
/** Largest encoded signed receipt, and most ledger entries in one answer. */
export const MAX_RECEIPT_BYTES = 4096
export const MAX_LEDGER_ENTRIES_PER_CALL = 256
/** Longest lease a node grants on its capacity in one reservation. */
export const MAX_RESERVATION_LEASE_MS = 5 * 60_000
