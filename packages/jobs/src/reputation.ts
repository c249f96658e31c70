// Workers' reputations and how many results a batch task sent to one of them needs: BOINC's adaptive replication.
//
// How it follows BOINC (https://boinc.berkeley.edu/trac/wiki/AdaptiveReplication): BOINC counts, per host and app
// version, the consecutive valid results CV(H, V), zeroed by an invalid one; a host with CV < 10 is never trusted, and a
// trusted host's job goes out unreplicated (one result, quorum 1), so that replication costs only the 5–10% of spot
// checks instead of the 100% of always replicating. Here: `consecutiveValid` per worker, zeroed by an invalid result;
// a worker is trusted from `trustAfter` (10) consecutive valid results; its task needs one result, except with
// probability `spotCheck`, when it is replicated to `quorum` results anyway.
//
// Where it differs:
// - The spot-check probability falls with the streak as in BOINC (which replicates a trusted host's job with
//   probability 1/CV): spotCheck · trustAfter / consecutiveValid, so spotCheck (0.1) when the worker is first trusted,
//   half that at twice the streak. Unlike BOINC it never falls below `spotCheckFloor` (0.02): a worker that turns bad
//   after a long clean run (a cheater building reputation first) is still caught at a known rate. `decay: false`
//   keeps the rate fixed at spotCheck (predictable overhead, faster catching).
// - A worker whose last invalid result lies within its last `trustAfter` results needs quorum + 1 results, not quorum:
//   with its result likely wrong, one more result keeps the task from failing for want of agreement. BOINC has no
//   such tier (it only stops trusting the host).
// - Reputation is per worker (peer id), not per worker and app version: Weft has no app versions; a job that wants
//   per-runtime reputations keeps one Reputation per runtime.
// - As in BOINC, only results checked against others should be recorded (a task that ran with quorum ≥ 2): a lone
//   accepted result proves nothing about its worker. That is the caller's rule; record() cannot tell.
// - Peers are cheap identities: a new peer id starts unknown (quorum), never trusted, so a worker caught lying that
//   comes back under a new key gains nothing over its old, zeroed record.

/** How many results a task needs, and when a worker is trusted. */
export interface ReputationPolicy {
  /** Agreeing results that accept a replicated task (default 2). */
  readonly quorum: number
  /** Consecutive valid results before a worker is trusted (default 10). */
  readonly trustAfter: number
  /** Probability that a trusted worker's task is replicated anyway when it is first trusted (default 0.1). */
  readonly spotCheck: number
  /** Whether the spot-check probability falls as the streak grows (BOINC's 1/CV, default true). */
  readonly decay: boolean
  /** The lowest spot-check probability a falling one reaches (default 0.02; at most spotCheck). */
  readonly spotCheckFloor: number
}

/** What is known of one worker. */
export interface ReputationRecord {
  readonly worker: string
  readonly valid: number
  readonly invalid: number
  readonly consecutiveValid: number
  /** When its last invalid result was recorded (ms since the epoch), or null. */
  readonly lastInvalidAt: number | null
}

const DEFAULT_POLICY: ReputationPolicy = Object.freeze({ quorum: 2, trustAfter: 10, spotCheck: 0.1, decay: true, spotCheckFloor: 0.02 })

const nonNegativeCount = (x: number): boolean => Number.isSafeInteger(x) && x >= 0

/** Workers' records of valid and invalid results, and the replication each one's tasks need. */
export class Reputation {
  readonly #policy: ReputationPolicy
  readonly #records = new Map<string, ReputationRecord>()

  /**
   * @param policy - overrides of the defaults (quorum 2, trustAfter 10, spotCheck 0.1, decay, spotCheckFloor 0.02)
   * @param records - records kept from before (e.g. loaded from a store); a later record of the same worker wins
   * @throws RangeError on a quorum that is not an integer ≥ 1, a trustAfter that is not an integer ≥ 1, a spotCheck
   *   outside [0, 1], or a record with negative or fractional counts
   */
  constructor(policy: Partial<ReputationPolicy> = {}, records: readonly ReputationRecord[] = []) {
    const p = { ...DEFAULT_POLICY, ...definedOnly(policy) }
    if (!Number.isSafeInteger(p.quorum) || p.quorum < 1) throw new RangeError(`Reputation: policy.quorum must be an integer ≥ 1, got ${p.quorum}`)
    if (!Number.isSafeInteger(p.trustAfter) || p.trustAfter < 1) {
      throw new RangeError(`Reputation: policy.trustAfter must be an integer ≥ 1, got ${p.trustAfter}`)
    }
    if (!(p.spotCheck >= 0 && p.spotCheck <= 1)) throw new RangeError(`Reputation: policy.spotCheck must be in [0, 1], got ${p.spotCheck}`)
    if (!(p.spotCheckFloor >= 0 && p.spotCheckFloor <= 1)) throw new RangeError(`Reputation: policy.spotCheckFloor must be in [0, 1], got ${p.spotCheckFloor}`)
    this.#policy = Object.freeze(p)
    for (const r of records) {
      if (!nonNegativeCount(r.valid) || !nonNegativeCount(r.invalid) || !nonNegativeCount(r.consecutiveValid) || r.consecutiveValid > r.valid) {
        throw new RangeError(`Reputation: records: bad counts for ${r.worker} (valid ${r.valid}, invalid ${r.invalid}, consecutiveValid ${r.consecutiveValid})`)
      }
      this.#records.set(r.worker, Object.freeze({ ...r }))
    }
  }

  /** The policy in force, defaults filled in. */
  get policy(): ReputationPolicy {
    return this.#policy
  }

  /**
   * Records a verified result of `worker`: valid when its result was in the accepted group, invalid otherwise (which
   * zeroes its streak). Record only results checked against a quorum of two or more (see the file's notes).
   * @param at - when (ms since the epoch)
   */
  record(worker: string, valid: boolean, at: number): void {
    const r = this.get(worker)
    this.#records.set(
      worker,
      Object.freeze(
        valid
          ? { ...r, valid: r.valid + 1, consecutiveValid: r.consecutiveValid + 1 }
          : { ...r, invalid: r.invalid + 1, consecutiveValid: 0, lastInvalidAt: at },
      ),
    )
  }

  /**
   * How many agreeing results a task first sent to `worker` needs (decideQuorum's quorum): 1 for a trusted worker
   * (quorum with the spot-check probability), quorum for one not yet trusted, quorum + 1 for one whose last invalid result
   * lies within its last trustAfter results.
   * @param random - uniform in [0, 1) (injected, so that tests and simulations are deterministic); called once, and
   *   only for a trusted worker
   */
  replicasFor(worker: string, random: () => number): number {
    const { quorum, spotCheck, decay, spotCheckFloor, trustAfter } = this.#policy
    if (this.trusted(worker)) {
      const p = decay ? Math.max(Math.min(spotCheckFloor, spotCheck), (spotCheck * trustAfter) / this.get(worker).consecutiveValid) : spotCheck
      return random() < p ? quorum : 1
    }
    return this.get(worker).invalid > 0 ? quorum + 1 : quorum
  }

  /** Whether `worker` has trustAfter or more consecutive valid results. */
  trusted(worker: string): boolean {
    return this.get(worker).consecutiveValid >= this.#policy.trustAfter
  }

  /** The worker's record (zeros for a worker never seen). */
  get(worker: string): ReputationRecord {
    return this.#records.get(worker) ?? { worker, valid: 0, invalid: 0, consecutiveValid: 0, lastInvalidAt: null }
  }

  /** Every worker's record, to keep in a store. */
  records(): ReputationRecord[] {
    return [...this.#records.values()]
  }
}

function definedOnly(policy: Partial<ReputationPolicy>): Partial<ReputationPolicy> {
  return Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined))
}
