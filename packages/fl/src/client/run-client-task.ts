// The client's side of one round, written once for every client: a node's participant, the simulator's virtual
// clients and (later) a browser tab. Train on the local data from the global model, turn the result into the
// update the job asks for (clipped, noised, compressed, or masked for secure aggregation), and send it.
import type { DatasetSource, PoolTrainResult, TrainingPool } from '@weft/runtime'
import type { TensorSet } from '@weft/protocol'
import type { ClientTrainHints } from '../contracts/strategy.js'
import type { UpdateHeader } from '../contracts/transport.js'
import type { JobSpec } from '../job-spec.js'
import { maskedSet } from '../model-set.js'
import { type SecureClientSessions, secureInput } from '../secure-aggregation.js'
import { type ClientUpdatePipeline, localTrainOptions, toDeltaInPlace } from './update-pipeline.js'

/** One round's task, as the coordinator handed it out. */
export interface ClientTask {
  readonly jobId: string
  readonly round: number
  readonly spec: JobSpec
  /** Hash of the global model the client trains from (hex). */
  readonly baseHash: string
  /** The global model. Not modified. */
  readonly global: Float32Array
  readonly seed: number
  readonly hints: ClientTrainHints
  /** The client's local data (a shared-memory descriptor the pool can train on). */
  readonly dataset: DatasetSource
  /** The examples the client reports (its data set's size). */
  readonly examples: number
}

/** An update ready to leave the client: its header and the tensors on the wire. */
export interface PreparedClientUpdate {
  readonly header: UpdateHeader
  /** The encoded update, or under secure aggregation one uint32 vector `masked`. */
  readonly set: TensorSet
  /** Secure aggregation: the masked input itself (also in `set`). */
  readonly masked?: Uint32Array
}

/** What sending an update came to: accepted, or refused / undeliverable with the reason. */
export type ClientSendOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string }

export interface ClientTaskComponents {
  /** The engine pool this job trains on. */
  readonly pool: TrainingPool
  /** This job's update pipeline (it keeps compression's error feedback across rounds). */
  readonly pipeline: ClientUpdatePipeline
  /** The client's secure-aggregation sessions (needed when the task's hints ask for secure aggregation). */
  readonly secure?: SecureClientSessions
  /** Replaces the honest delta before it is prepared (attack evaluation only). */
  readonly transformDelta?: (honest: Float32Array) => Float32Array | Promise<Float32Array>
  /** Sends the update to the coordinator (retrying as the transport sees fit). */
  readonly send: (update: PreparedClientUpdate) => Promise<ClientSendOutcome>
  /** Longest the secure session may take to make the mask (ms). Default 120 000. */
  readonly maskTimeoutMs?: number
  readonly signal?: AbortSignal
}

/**
 * How a task ended. `stage` says where a failure happened: `train` and `prepare` failures are the client's own and
 * are reported to the coordinator, so its round stops waiting; `send` failures are the coordinator's answer.
 */
export type ClientTaskOutcome =
  | { readonly ok: true; readonly trainSeconds: number; readonly examples: number; readonly trainLoss: number }
  | { readonly ok: false; readonly stage: 'train' | 'prepare' | 'send'; readonly reason: string; readonly trainSeconds?: number }

/**
 * Runs one round's task: trains, prepares the update, sends it.
 * @returns the outcome (never throws for a failed stage; the reason says what failed)
 */
export async function runClientTask(task: ClientTask, c: ClientTaskComponents): Promise<ClientTaskOutcome> {
  const t0 = performance.now()
  let trained: PoolTrainResult
  try {
    trained = await c.pool.train({
      spec: task.spec.model,
      params: task.global,
      copyParams: true,
      dataset: task.dataset,
      options: localTrainOptions(task.spec, task.seed, task.hints.proximalMu, task.global),
    })
  } catch (err) {
    const e = err as Error
    return { ok: false, stage: 'train', reason: `local training on ${c.pool.engine} failed: ${e.name}: ${e.message}` }
  }
  const trainSeconds = (performance.now() - t0) / 1000
  let update: PreparedClientUpdate
  try {
    const honest = toDeltaInPlace(trained.params, task.global)
    const delta = c.transformDelta === undefined ? honest : await c.transformDelta(honest)
    const prepared = c.pipeline.prepare(delta, task.hints)
    const header: UpdateHeader = {
      jobId: task.jobId,
      round: task.round,
      baseHash: task.baseHash,
      examples: task.examples,
      trainLoss: trained.result.meanLoss,
      trainAccuracy: 0,
      trainSeconds,
      length: 0,
      ...(prepared.withinClip === undefined ? {} : { withinClip: prepared.withinClip }),
    }
    const secure = task.hints.secure
    const config = task.spec.privacy.secureAggregation
    if (secure !== undefined && config !== undefined) {
      if (c.secure === undefined) throw new Error('the task asks for secure aggregation; this client has no secure sessions')
      // The clipped update, weighted, masked in the round's session: the coordinator sees only the sum.
      const input = secureInput(delta, secure, prepared.withinClip, config.clip)
      const masked = await c.secure.mask(task.jobId, secure.session, input, c.maskTimeoutMs ?? 120_000, c.signal)
      update = {
        header: { ...header, length: masked.vector.length, secureSession: secure.session },
        set: maskedSet(masked.vector),
        masked: masked.vector,
      }
    } else {
      update = { header, set: prepared.set }
    }
  } catch (err) {
    return { ok: false, stage: 'prepare', reason: `could not prepare the update: ${(err as Error).message}`, trainSeconds }
  }
  const sent = await c.send(update)
  if (!sent.ok) return { ok: false, stage: 'send', reason: sent.reason, trainSeconds }
  return { ok: true, trainSeconds, examples: task.examples, trainLoss: trained.result.meanLoss }
}
