// The round-driver interface: how one round (or server step) of a job runs. Three drivers implement it: plain
// synchronous rounds, secure-aggregation rounds, and asynchronous buffered steps (FedBuff); the job run picks one.
import type { RoundRecord } from '../../contracts/job-store.js'
import type { HandoutQueue } from '../handouts.js'
import type { JobContext } from '../job-context.js'
import { JobFailure } from '../job-context.js'
import type { Membership } from '../membership.js'
import type { RoundState } from '../round-state.js'

/** Runs round `round` until it commits. @throws JobFailure to fail the job */
export interface RoundDriver {
  readonly kind: 'sync' | 'secure' | 'buffered'
  run(round: number): Promise<void>
}

/** What the job run lends its round drivers. */
export interface RoundServices {
  readonly ctx: JobContext
  readonly members: Membership
  readonly handouts: HandoutQueue
  /** Asynchronous jobs: clients training now, with the step they were dispatched in. */
  readonly inflight: Map<string, number>
  /** Makes `rs` the round in progress: admission, drops and the live view see it. */
  setRound(rs: RoundState): void
  /** Folds the updates a resumed round had already accepted. @returns how many */
  refold(rs: RoundState): number
  /** Drops a pending client from the round, with the reason (an event). */
  drop(rs: RoundState, client: string, reason: string): void
  /** Aggregates the round, stores it with the new model, evaluates it, and moves the job to the next round. */
  commit(rs: RoundState): Promise<void>
}

/** A synchronous round's participants: those of a stored open round (a resumed one), else a fresh sample. */
export async function beginRound(s: RoundServices, r: number): Promise<{ participants: string[]; resumed: RoundRecord | undefined }> {
  const { ctx } = s
  const stored = ctx.components.store.getRound(ctx.id, r)
  let participants: string[]
  if (stored?.status === 'open') {
    participants = [...stored.participants]
    for (const p of participants) s.members.restore(p)
  } else {
    participants = await s.members.pick(r, r)
    ctx.components.store.openRound(ctx.id, r, participants, ctx.job.modelHash, ctx.clock.now())
  }
  // DP fixes its population N, clients per round m and noise at the first round; the state keeps them after.
  const privacy = ctx.strategy.privacy
  try {
    privacy?.configure(Math.max(participants.length, s.members.available().length), participants.length, ctx.spec.rounds)
  } catch (err) {
    throw new JobFailure(`privacy.dp: ${(err as Error).message}`)
  }
  return { participants, resumed: stored?.status === 'open' ? stored : undefined }
}
