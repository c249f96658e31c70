// A peer's live view of its swarm, from the members' gossiped reports: who is there, where each is, and how far the
// swarm together is in the current outer step.
import type { GroupMember } from './groups.js'
import type { ProgressReport } from './transport.js'

/** A member as the view holds it. */
export interface MemberView {
  readonly report: ProgressReport
  /** When its latest report arrived (ms on the peer's clock). */
  readonly seenAt: number
}

/** The members a peer knows, with expiry, and the peers it no longer averages with. */
export class MemberTable {
  readonly #self: string
  readonly #expiryMs: number
  readonly #now: () => number
  readonly #members = new Map<string, MemberView>()
  readonly #banned = new Map<string, string>()
  /** Bounds the table: a swarm past this many members ignores newcomers until some expire. */
  readonly #max: number

  constructor(self: string, expiryMs: number, now: () => number, max = 4096) {
    this.#self = self
    this.#expiryMs = expiryMs
    this.#now = now
    this.#max = max
  }

  /** Takes a member's report; one that is not newer than the one held (a replay or a reordering) is ignored. */
  add(report: ProgressReport): void {
    if (report.peer === this.#self || this.#banned.has(report.peer)) return
    if (report.leaving) {
      this.#members.delete(report.peer)
      return
    }
    const held = this.#members.get(report.peer)
    if (held !== undefined) {
      const older = report.step < held.report.step || (report.step === held.report.step && report.totalSamples < held.report.totalSamples)
      if (older) return
    } else if (this.#members.size >= this.#max) {
      this.#expire()
      if (this.#members.size >= this.#max) return
    }
    this.#members.set(report.peer, { report, seenAt: this.#now() })
  }

  /** Stops averaging with a peer (it sent a bad part) and drops it from the view. */
  ban(peer: string, reason: string): void {
    if (peer === this.#self) return
    this.#banned.set(peer, reason)
    this.#members.delete(peer)
  }

  /** Banned peers and why. */
  banned(): ReadonlyMap<string, string> {
    return this.#banned
  }

  /** Live members other than this peer. */
  others(): MemberView[] {
    this.#expire()
    return [...this.#members.values()]
  }

  /**
   * Live members that average in `step`, as group members, this peer (with its own bandwidth) included. A member more
   * than one step behind (joining, or catching up from a state) is left out: it would not send its parts for `step`.
   */
  groupMembers(step: number, selfBandwidth: number): GroupMember[] {
    const taking = this.others().filter((m) => m.report.step >= step - 1)
    return [{ peer: this.#self, bandwidth: selfBandwidth }, ...taking.map((m) => ({ peer: m.report.peer, bandwidth: m.report.bandwidth }))]
  }

  /**
   * Samples the other members reported for `step`. A member already past it counts as having done its share, and no
   * member counts for more than twice an equal share (2 · target / members): one that claims to have processed the
   * whole target cannot end everyone's inner phase by itself. A whole number (shares are rounded down).
   */
  samplesIn(step: number, target: number): number {
    const others = this.others()
    const cap = (2 * target) / (others.length + 1)
    let s = 0
    for (const m of others) {
      if (m.report.step === step) s += Math.min(cap, m.report.stepSamples)
      else if (m.report.step > step) s += Math.min(cap, target / (others.length + 1))
    }
    return Math.floor(s)
  }

  /** The member whose saved state is furthest along, when one is past `step` (states in `skip` left out). */
  aheadOf(step: number, skip?: ReadonlySet<string>): ProgressReport | undefined {
    let best: ProgressReport | undefined
    for (const m of this.others()) {
      const r = m.report
      if (r.stateCid === '' || r.stateStep <= step || skip?.has(r.stateCid) === true) continue
      if (best === undefined || r.stateStep > best.stateStep) best = r
    }
    return best
  }

  #expire(): void {
    const cutoff = this.#now() - this.#expiryMs
    for (const [peer, m] of this.#members) if (m.seenAt < cutoff) this.#members.delete(peer)
  }
}
