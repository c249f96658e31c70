// Colluding attackers of a simulation (robustness evaluation only): ALIE and IPM attackers wait for the round's
// benign updates and craft theirs from the benign mean and spread; the other attacks change only their own update.
import { type AttackConfig, alieZ, craftMaliciousUpdates } from '@weft/fl'

/** Whether an attack needs the round's benign updates (then benign clients share theirs with the attackers). */
export function isColluding(attack: AttackConfig | undefined): boolean {
  return attack?.kind === 'alie' || attack?.kind === 'ipm'
}

/** What colluding attackers of one round learn of it: the benign updates, once every benign client has trained. */
export class CollusionRound {
  readonly benign: Float32Array[] = []
  benignDispatched = 0
  attackersDispatched = 0
  #finished = 0
  #changed = Promise.withResolvers<void>()

  /** A benign client's task ended: with its update (copied), or undefined when it failed. */
  benignDone(delta: Float32Array | undefined): void {
    if (delta !== undefined) this.benign.push(delta.slice())
    this.#finished++
    this.#changed.resolve()
    this.#changed = Promise.withResolvers<void>()
  }

  async allBenignDone(): Promise<void> {
    while (this.#finished < this.benignDispatched) await this.#changed.promise
  }

  /** The update an attacker of this round sends in place of its honest one. */
  async maliciousUpdate(attack: AttackConfig, honest: Float32Array): Promise<Float32Array> {
    if (!isColluding(attack)) return craftMaliciousUpdates(attack, { benign: [], attackerCount: 1, attackerUpdates: [honest] })[0] as Float32Array
    await this.allBenignDone()
    if (this.benign.length === 0) return honest
    const n = this.benignDispatched + this.attackersDispatched
    const crafted = attack.kind === 'alie' ? { ...attack, z: attack.z ?? alieZ(n, this.attackersDispatched) } : attack
    return craftMaliciousUpdates(crafted, { benign: this.benign, attackerCount: 1, totalClients: n })[0] as Float32Array
  }
}
