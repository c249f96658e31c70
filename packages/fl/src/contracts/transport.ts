// How a coordinator reaches its clients: the contract the mesh (or a simulation) implements. Types only.
import type { SecAggMessage } from '@weft/secagg'
import type { JobSpec } from '../job-spec.js'
import type { ClientTrainHints } from './strategy.js'

/** The answer of a client to one secure-aggregation message. */
export type SecAggReply = { readonly ok: true; readonly reply?: SecAggMessage; readonly bytes: number } | { readonly ok: false; readonly reason: string }

/** How a coordinator reaches clients for secure aggregation. */
export interface SecAggTransport {
  /**
   * Sends `message` to `clientId`; resolves with the client's reply (setup, neighbour keys and unmask requests have one).
   * The reply must come from `clientId` itself (on a mesh: the RPC's authenticated peer): the coordinator attributes it
   * to `clientId` and refuses it when the sender it names differs.
   */
  secagg(clientId: string, message: SecAggMessage, signal: AbortSignal): Promise<SecAggReply>
}

/** Expected outcomes are values: a refusal, a timeout or a gone peer is `{ ok: false, reason }`. */
export type Outcome<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly reason: string }

/** A training task for one client. */
export interface TrainAssignment {
  readonly jobId: string
  readonly round: number
  readonly modelHash: string
  /** The global model (the transport sends it unless the client already holds `modelHash`). Do not modify. */
  readonly params: Float32Array
  readonly seed: number
  readonly hints: ClientTrainHints
}

export interface EvaluateAssignment {
  readonly jobId: string
  readonly round: number
  readonly modelHash: string
  readonly params: Float32Array
}

export interface ClientEvaluation {
  readonly loss: number
  readonly accuracy: number
  readonly examples: number
}

/** The header of an update, known before its data arrives. */
export interface UpdateHeader {
  readonly jobId: string
  readonly round: number
  readonly baseHash: string
  readonly examples: number
  readonly trainLoss: number
  readonly trainAccuracy: number
  readonly trainSeconds: number
  /** Values in the update (the model's parameter count once decoded). */
  readonly length: number
  /** Differential privacy with client-side clipping: whether the update was within the clip norm before clipping. */
  readonly withinClip?: boolean
  /** Secure aggregation: the session the masked input belongs to. */
  readonly secureSession?: number
}

/** Whether an update is accepted; a refusal's reason goes back to the client. */
export type Admission = { readonly ok: true } | { readonly ok: false; readonly reason: string }

/** What a transport reports while it hands a task out. */
export interface HandOutProgress {
  /** The model's bytes have all been handed to the link (or the client held the model): the link is free. */
  modelSent(): void
}

export interface CoordinatorTransport {
  /** Clients eligible for `spec` and reachable now (peer ids or virtual ids), without the coordinator itself. */
  candidates(spec: JobSpec): readonly string[]
  /** Asks a client to join. */
  invite(clientId: string, jobId: string, spec: JobSpec, signal: AbortSignal): Promise<Outcome<{ readonly examples: number }>>
  /**
   * Makes sure the client holds the model and hands it a training task; resolves once the client acknowledged it.
   * Calls `progress.modelSent()` once the model's bytes are on their way (or none had to move), so the coordinator
   * can start the next hand-out on the shared link without waiting for this one's acknowledgement.
   */
  train(clientId: string, task: TrainAssignment, signal: AbortSignal, progress?: HandOutProgress): Promise<Outcome<{ readonly bytesDown: number }>>
  evaluate(clientId: string, task: EvaluateAssignment, signal: AbortSignal): Promise<Outcome<ClientEvaluation>>
  /** Tells a client the job ended (best effort). */
  release(clientId: string, jobId: string, reason: string): Promise<void>
  /** Secure aggregation's messages (absent: this transport cannot run jobs with privacy.secureAggregation). */
  secagg?: SecAggTransport['secagg']
}

/** Centralized evaluation on a data set the coordinator holds. */
export interface CentralEvaluator {
  /** Why `dataset` cannot evaluate `spec`'s model here, or undefined when it can (checked at submit). */
  check?(spec: JobSpec, dataset: string): string | undefined
  evaluate(spec: JobSpec, dataset: string, params: Float32Array): Promise<ClientEvaluation>
}
