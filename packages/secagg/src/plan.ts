// Parameter planning for SecAgg+: the graph degree k and Shamir threshold t that tolerate the declared dropout rate
// and keep inputs private against the declared share of corrupt clients, plus the fixed-point bits.
import { InfeasibleParamsError } from './errors.js'
import { checkQuantization, maxQuantizationBits } from './quantize.js'

/** What the planner needs to know about a round. */
export interface SecAggPlanInit {
  /** Clients in the round (n), at least 2. */
  readonly clients: number
  /** Largest expected fraction of clients that drop out during the round (delta), in [0, 1). */
  readonly dropoutRate: number
  /** Largest fraction of clients that may collude with the server (gamma), in [0, 1). */
  readonly corruptRate: number
  /** Inputs are clipped to [-clip, clip] before quantization. */
  readonly clip: number
  /** Fixed-point bits per coordinate; default and maximum 32 - ceil(log2 n). */
  readonly bits?: number
  /** A sparse graph may fail privacy with probability at most 2^-securityBits (default 40). */
  readonly securityBits?: number
  /** A sparse graph may fail to unmask (abort the round) with probability at most 2^-correctnessBits (default 20). */
  readonly correctnessBits?: number
}

/** The parameters of a round, as `planSecAgg` chose them. Frozen. */
export interface SecAggPlan {
  readonly clients: number
  /** Neighbours per client (k); clients - 1 when `complete`. */
  readonly degree: number
  /** Shares needed to rebuild a secret (t). */
  readonly threshold: number
  /** Whether every client neighbours every other (Bonawitz et al.'s full SecAgg) rather than a sparse graph. */
  readonly complete: boolean
  readonly bits: number
  readonly clip: number
  readonly dropoutRate: number
  readonly corruptRate: number
  readonly securityBits: number
  readonly correctnessBits: number
}

const DEFAULT_SECURITY_BITS = 40
const DEFAULT_CORRECTNESS_BITS = 20

/**
 * Chooses the graph degree k and the threshold t of a round.
 *
 * The rule. A client u shares its self-mask seed b_u and its mask key s_u among its k neighbours with threshold t.
 * - Correctness: u's secrets must still be rebuildable when its neighbours drop, so t <= floor(k (1 - delta)), and
 *   with D the number of u's neighbours that drop, D <= k - t.
 * - Security: an honest neighbour hands the server a share of b_u or of s_u, never both; a corrupt one hands over both.
 *   With C corrupt neighbours, the adversary holds C + h_b shares of b_u and C + h_s of s_u, where h_b + h_s <= k - C
 *   are the honest neighbours' answers, so it can reach t shares of both only when 2t <= k + C. Hence
 *   t > (k + gamma k) / 2, and C < 2t - k.
 * For a complete graph (k = n - 1) D and C are at most floor(delta n) and floor(gamma n), which gives exact bounds.
 * For a sparse graph (Bell et al.'s SecAgg+: a circulant graph over a random permutation of the clients, degree k
 * even) D and C are random, nearly Binomial(k, delta) and Binomial(k, gamma), and k is the smallest even degree for
 * which, over all n clients (union bound):
 * - P[some client has D > k - t] <= 2^-correctnessBits,
 * - P[some client has C >= 2t - k] <= 2^-securityBits, and
 * - the honest clients that survive stay connected (otherwise the server would learn the sums of the parts): a cut
 *   needs two runs of k/2 consecutive bad (dropped or corrupt) positions on the ring, P <= (n (delta + gamma)^(k/2))^2
 *   <= 2^-securityBits.
 * When no sparse degree below n - 1 qualifies (small n), the plan is the complete graph. Among the thresholds that
 * qualify, the planner takes the middle one, which leaves equal slack to both failure modes.
 *
 * @returns the frozen plan.
 * @throws RangeError for arguments out of range.
 * @throws InfeasibleParamsError when no degree and threshold meet the rates (2 delta + gamma must stay below 1).
 */
export function planSecAgg(init: SecAggPlanInit): SecAggPlan {
  const { clients: n, dropoutRate: delta, corruptRate: gamma } = init
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`clients must be an integer >= 2, got ${n}`)
  checkRate('dropoutRate', delta)
  checkRate('corruptRate', gamma)
  const securityBits = init.securityBits ?? DEFAULT_SECURITY_BITS
  const correctnessBits = init.correctnessBits ?? DEFAULT_CORRECTNESS_BITS
  checkBitsOption('securityBits', securityBits)
  checkBitsOption('correctnessBits', correctnessBits)
  const bits = init.bits ?? maxQuantizationBits(n)
  checkQuantization({ clip: init.clip, bits }, n)
  const budget = { n, delta, gamma, securityBits, correctnessBits }
  const chosen = sparseChoice(budget) ?? completeChoice(budget)
  return Object.freeze({
    clients: n,
    ...chosen,
    bits,
    clip: init.clip,
    dropoutRate: delta,
    corruptRate: gamma,
    securityBits,
    correctnessBits,
  })
}

interface Budget {
  readonly n: number
  readonly delta: number
  readonly gamma: number
  readonly securityBits: number
  readonly correctnessBits: number
}

interface Choice {
  readonly degree: number
  readonly threshold: number
  readonly complete: boolean
}

function checkRate(name: string, rate: number): void {
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`${name} must be in [0, 1), got ${rate}`)
}

function checkBitsOption(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 256) {
    throw new RangeError(`${name} must be an integer in [1, 256], got ${value}`)
  }
}

/** The thresholds the deterministic inequalities allow for degree k: t > k (1 + gamma) / 2 and t <= floor(k (1 - delta)). */
function thresholdRange(k: number, delta: number, gamma: number): [number, number] {
  return [Math.floor((k * (1 + gamma)) / 2) + 1, Math.floor(k * (1 - delta))]
}

/** The smallest even degree below n - 1 whose failure probabilities meet the budget, if any. */
function sparseChoice(budget: Budget): Choice | undefined {
  const { n, delta, gamma, securityBits, correctnessBits } = budget
  // Large k only narrows the room between the inequalities towards the ratio (1 - delta) - (1 + gamma) / 2.
  if ((1 + gamma) / 2 >= 1 - delta) return undefined
  const log2n = Math.log2(n)
  for (let k = 2; k <= n - 2; k += 2) {
    let [low, high] = thresholdRange(k, delta, gamma)
    if (low > high) continue
    // Both tail conditions are monotone in t: security holds from some t up, correctness up to some t.
    const droppedTail = binomialTails(k, delta)
    const corruptTail = binomialTails(k, gamma)
    while (low <= high && log2n + log2At(corruptTail, 2 * low - k) > -securityBits) low++
    while (low <= high && log2n + log2At(droppedTail, k - high + 1) > -correctnessBits) high--
    if (low > high) continue
    const log2Disconnect = 2 * (log2n + (k / 2) * Math.log2(delta + gamma))
    if (log2Disconnect > -securityBits) continue
    return { degree: k, threshold: Math.ceil((low + high) / 2), complete: false }
  }
  return undefined
}

/** The complete graph (k = n - 1) with worst-case counts of dropped and corrupt neighbours. */
function completeChoice(budget: Budget): Choice {
  const { n, delta, gamma } = budget
  const k = n - 1
  const [ratioLow, ratioHigh] = thresholdRange(k, delta, gamma)
  const maxDropped = Math.floor(delta * n)
  const maxCorrupt = Math.floor(gamma * n)
  const low = Math.max(ratioLow, Math.floor((k + maxCorrupt) / 2) + 1)
  const high = Math.min(ratioHigh, k - maxDropped)
  if (low > high) {
    const hint =
      2 * delta + gamma >= 1
        ? `2 * dropoutRate + corruptRate must stay below 1 (here ${2 * delta + gamma})`
        : 'too few clients for these rates: add clients or lower the rates'
    throw new InfeasibleParamsError(
      `no graph degree works for ${n} clients with dropoutRate ${delta} and corruptRate ${gamma}: even the complete ` +
        `graph (degree ${k}) needs a threshold t with t >= ${low} (more than half of k plus the corrupt neighbours) and ` +
        `t <= ${high} (k less the dropped neighbours); ${hint}`,
    )
  }
  return { degree: k, threshold: Math.ceil((low + high) / 2), complete: true }
}

/** tails[j] = P[X >= j] for X ~ Binomial(k, p), j = 0..k, from a pmf computed in log space (no early underflow). */
function binomialTails(k: number, p: number): Float64Array {
  const tails = new Float64Array(k + 2)
  if (p === 0) {
    tails[0] = 1
    return tails
  }
  const pmf = new Float64Array(k + 1)
  let logChoose = 0
  for (let j = 0; j <= k; j++) {
    if (j > 0) logChoose += Math.log((k - j + 1) / j)
    pmf[j] = Math.exp(logChoose + j * Math.log(p) + (k - j) * Math.log1p(-p))
  }
  for (let j = k; j >= 0; j--) tails[j] = tails[j + 1]! + pmf[j]!
  return tails
}

/** log2 P[X >= from]: 0 for from <= 0, -Infinity beyond k. */
function log2At(tails: Float64Array, from: number): number {
  if (from <= 0) return 0
  return Math.log2(tails[Math.min(from, tails.length - 1)]!)
}
