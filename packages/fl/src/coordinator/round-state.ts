// The state of the round in progress (one server step for asynchronous jobs): who was asked, who is pending,
// delivered or dropped, and the round's running measurements.
import type { RoundMetrics } from '../contracts/job-store.js'
import type { RoundAggregator } from '../contracts/strategy.js'
import type { SecureRound } from '../secure-aggregation.js'

/** What one accepted update adds to a round's measurements. */
export interface UpdateAccount {
  readonly examples: number
  readonly trainLoss: number
  readonly trainAccuracy: number
  readonly trainSeconds: number
  readonly uploadSeconds: number
  readonly bytes: number
  readonly staleness: number
}

export class RoundState {
  readonly participants: Set<string>
  readonly pending = new Set<string>()
  readonly delivered = new Set<string>()
  readonly dropped = new Set<string>()
  open = true
  sampled = 0
  refused = 0
  examples = 0
  lossSum = 0
  accSum = 0
  bytesUp = 0
  bytesDown = 0
  maxTrain = 0
  maxUpload = 0
  aggSeconds = 0
  stalenessSum = 0
  lastAckAt: number
  /** Secure aggregation's session of this round attempt, and each client's weight in it. */
  secure?: SecureRound
  readonly weights = new Map<string, number>()
  secureSummary?: NonNullable<RoundMetrics['secureAggregation']>

  constructor(
    readonly round: number,
    participants: readonly string[],
    readonly inputHash: string,
    readonly agg: RoundAggregator,
    readonly startedAt: number,
  ) {
    this.participants = new Set(participants)
    this.lastAckAt = startedAt
  }

  /** Counts a client's accepted update. */
  account(client: string, u: UpdateAccount): void {
    this.delivered.add(client)
    this.pending.delete(client)
    this.dropped.delete(client)
    this.examples += u.examples
    this.lossSum += u.trainLoss * u.examples
    this.accSum += u.trainAccuracy * u.examples
    this.bytesUp += u.bytes
    this.maxTrain = Math.max(this.maxTrain, u.trainSeconds)
    this.maxUpload = Math.max(this.maxUpload, u.uploadSeconds)
    this.stalenessSum += u.staleness
  }

  /** Moves a pending client to dropped. @returns false when it was not pending (already in, out or never asked) */
  drop(client: string): boolean {
    if (!this.pending.delete(client)) return false
    this.dropped.add(client)
    return true
  }

  /** Closes the round: clients still pending become late drops. @returns them */
  close(): string[] {
    this.open = false
    const late = [...this.pending]
    for (const c of late) this.dropped.add(c)
    this.pending.clear()
    return late
  }
}
