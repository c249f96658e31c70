// The RDP accountant: ε of a sequence of sampled-Gaussian releases, the noise needed for a target ε, and a
// stateful, serializable Accountant that a coordinator keeps with each DP job.
import { checkConversionArgs, type Conversion, epsilonFloor, epsilonFromRdp, type PrivacyGuarantee } from './conversion.js'
import { DpStateError, UnreachableEpsilonError } from './errors.js'
import { checkOrders, checkRelease, DEFAULT_ORDERS, type GaussianRelease, rdpOfRelease } from './rdp.js'

/** Options shared by the ε computations. */
export interface EpsilonOptions {
  /** 'classic' (default) or 'tight'. */
  readonly conversion?: Conversion
  /** Rényi orders to minimise over; DEFAULT_ORDERS when absent. */
  readonly orders?: readonly number[]
}

/**
 * ε(δ) after the given releases, composed (RDP adds order by order).
 * @param releases one release or a list of them (heterogeneous q, z and steps are fine)
 * @param delta δ in (0, 1)
 * @returns ε, δ, the optimal order and the conversion used
 * @throws RangeError if a release, δ or an order is out of range
 */
export function computeEpsilon(releases: GaussianRelease | readonly GaussianRelease[], delta: number, options: EpsilonOptions = {}): PrivacyGuarantee {
  const orders = options.orders ?? DEFAULT_ORDERS
  const list = Array.isArray(releases) ? (releases as readonly GaussianRelease[]) : [releases as GaussianRelease]
  const rdp = orders.map(() => 0)
  for (const release of list) addInto(rdp, rdpOfRelease(release, orders))
  return epsilonFromRdp(rdp, orders, delta, options.conversion ?? 'classic')
}

function addInto(total: number[], more: readonly number[]): void {
  for (let i = 0; i < total.length; i++) total[i] = (total[i] as number) + (more[i] as number)
}

/** What `noiseMultiplierFor` needs: the target, the sampling and the length of training. */
export interface NoiseMultiplierQuery extends EpsilonOptions {
  /** ε that the whole run may spend, > 0. */
  readonly targetEpsilon: number
  /** Poisson sampling rate q in (0, 1]. */
  readonly sampleRate: number
  /** Number of steps (rounds), ≥ 1. */
  readonly steps: number
  /** δ in (0, 1). */
  readonly delta: number
  /** Stop bisecting when the bracket is narrower than this fraction of z; default 1e-6. */
  readonly relativeTolerance?: number
}

/** Noise multipliers beyond this are treated as unreachable: the run would be pure noise. */
const MAX_NOISE_MULTIPLIER = 2 ** 20
/** Below this the search stops going down: such a target allows essentially no noise. */
const MIN_NOISE_MULTIPLIER = 2 ** -10

/**
 * The smallest noise multiplier z (within the tolerance) whose run meets the target: ε(z) ≤ targetEpsilon.
 * ε falls monotonically as z grows, so this brackets z by doubling/halving, then bisects. The returned z is
 * the upper end of the final bracket, so it always meets the target and is at most a relative tolerance
 * above the exact answer.
 * @returns z > 0
 * @throws RangeError if an argument is out of range
 * @throws UnreachableEpsilonError if the target is at or below the conversion's floor for these orders and δ,
 *   or needs z > 2^20
 */
export function noiseMultiplierFor(query: NoiseMultiplierQuery): number {
  const { targetEpsilon, sampleRate, steps, delta } = query
  const conversion = query.conversion ?? 'classic'
  const orders = query.orders ?? DEFAULT_ORDERS
  const tolerance = query.relativeTolerance ?? 1e-6
  checkNoiseQuery(query, tolerance)
  checkConversionArgs(delta, conversion)
  checkOrders(orders)
  const floor = epsilonFloor(orders, delta, conversion)
  if (targetEpsilon <= floor) {
    throw new UnreachableEpsilonError(targetEpsilon, floor, `with delta ${delta}, the ${conversion} conversion over these orders never gives less than ${floor}`)
  }
  const meets = (z: number): boolean =>
    computeEpsilon({ sampleRate, noiseMultiplier: z, steps }, delta, { conversion, orders }).epsilon <= targetEpsilon
  let [low, high] = bracket(meets)
  if (high > MAX_NOISE_MULTIPLIER) {
    throw new UnreachableEpsilonError(targetEpsilon, floor, `it needs a noise multiplier above ${MAX_NOISE_MULTIPLIER}`)
  }
  while (high - low > tolerance * high) {
    const mid = (low + high) / 2
    if (meets(mid)) high = mid
    else low = mid
  }
  return high
}

/** [low, high] with meets(high) and not meets(low), found by doubling or halving from 1. */
function bracket(meets: (z: number) => boolean): [number, number] {
  if (meets(1)) {
    let high = 1
    while (high > MIN_NOISE_MULTIPLIER && meets(high / 2)) high /= 2
    return [high / 2, high]
  }
  let low = 1
  while (low <= MAX_NOISE_MULTIPLIER && !meets(low * 2)) low *= 2
  return [low, low * 2]
}

function checkNoiseQuery(query: NoiseMultiplierQuery, tolerance: number): void {
  if (!(query.targetEpsilon > 0 && Number.isFinite(query.targetEpsilon))) {
    throw new RangeError(`targetEpsilon must be a finite number > 0, got ${query.targetEpsilon}`)
  }
  if (!(query.sampleRate > 0 && query.sampleRate <= 1)) throw new RangeError(`sampleRate must be in (0, 1], got ${query.sampleRate}`)
  if (!(Number.isSafeInteger(query.steps) && query.steps >= 1)) throw new RangeError(`steps must be a positive integer, got ${query.steps}`)
  if (!(tolerance > 0 && tolerance < 1)) throw new RangeError(`relativeTolerance must be in (0, 1), got ${tolerance}`)
}

/** The JSON form of an Accountant: what a coordinator stores with a job so budget survives restarts. */
export interface AccountantState {
  readonly version: 1
  /** The Rényi orders tracked. */
  readonly orders: readonly number[]
  /** Total RDP spent so far, one value per order. */
  readonly rdp: readonly number[]
  /** Every release composed so far, consecutive releases with the same q and z merged into one. */
  readonly releases: readonly GaussianRelease[]
}

/** Options for a new Accountant. */
export interface AccountantInit {
  /** Rényi orders to track; DEFAULT_ORDERS when absent. */
  readonly orders?: readonly number[]
}

/**
 * Tracks the privacy spent by a DP training job: compose each release as it happens, ask ε at any δ, and ask
 * what ε would be after the next release before running it (so a job stops before it passes its budget).
 */
export class Accountant {
  readonly #orders: readonly number[]
  readonly #rdp: number[]
  readonly #releases: GaussianRelease[] = []

  /** @throws RangeError if an order is not a finite number > 1 */
  constructor(init: AccountantInit = {}) {
    const orders = init.orders ?? DEFAULT_ORDERS
    checkOrders(orders)
    this.#orders = Object.freeze([...orders])
    this.#rdp = orders.map(() => 0)
  }

  /** The Rényi orders tracked. */
  get orders(): readonly number[] {
    return this.#orders
  }

  /** Total RDP spent, one value per order (a copy). */
  get rdp(): readonly number[] {
    return [...this.#rdp]
  }

  /** The releases composed so far (copies), consecutive ones with equal q and z merged. */
  get releases(): readonly GaussianRelease[] {
    return this.#releases.map((r) => ({ ...r }))
  }

  /**
   * Records a release: its RDP is added to the total.
   * @throws RangeError if the release is out of range (nothing is recorded then)
   */
  compose(release: GaussianRelease): void {
    addInto(this.#rdp, rdpOfRelease(release, this.#orders))
    const { sampleRate, noiseMultiplier, steps } = release
    const last = this.#releases.at(-1)
    if (last !== undefined && last.sampleRate === sampleRate && last.noiseMultiplier === noiseMultiplier) {
      this.#releases[this.#releases.length - 1] = { sampleRate, noiseMultiplier, steps: last.steps + steps }
    } else {
      this.#releases.push({ sampleRate, noiseMultiplier, steps })
    }
  }

  /**
   * ε(δ) spent so far.
   * @param delta δ in (0, 1)
   * @param conversion 'classic' (default) or 'tight'
   * @throws RangeError if δ or the conversion is out of range
   */
  epsilon(delta: number, conversion: Conversion = 'classic'): PrivacyGuarantee {
    return epsilonFromRdp(this.#rdp, this.#orders, delta, conversion)
  }

  /**
   * ε(δ) as it would be after the given further releases, without recording them: run a round only if this
   * stays within budget.
   * @throws RangeError if a release, δ or the conversion is out of range
   */
  epsilonAfter(next: GaussianRelease | readonly GaussianRelease[], delta: number, conversion: Conversion = 'classic'): PrivacyGuarantee {
    const rdp = [...this.#rdp]
    const list = Array.isArray(next) ? (next as readonly GaussianRelease[]) : [next as GaussianRelease]
    for (const release of list) addInto(rdp, rdpOfRelease(release, this.#orders))
    return epsilonFromRdp(rdp, this.#orders, delta, conversion)
  }

  /** The state as a plain JSON-safe object; `Accountant.fromJSON` restores it. */
  toJSON(): AccountantState {
    return { version: 1, orders: [...this.#orders], rdp: [...this.#rdp], releases: this.releases }
  }

  /**
   * Restores an accountant from `toJSON()` output (e.g. read back from a store), checking every field.
   * @throws DpStateError naming the first malformed field
   */
  static fromJSON(value: unknown): Accountant {
    const state = parseAccountantState(value)
    const accountant = new Accountant({ orders: state.orders })
    state.rdp.forEach((r, i) => {
      accountant.#rdp[i] = r
    })
    accountant.#releases.push(...state.releases)
    return accountant
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function numberList(value: unknown, field: string, valid: (n: number) => boolean, expected: string): number[] {
  if (!Array.isArray(value)) throw new DpStateError(field, `expected an array, got ${JSON.stringify(value)}`)
  for (const [i, n] of value.entries()) {
    if (typeof n !== 'number' || !valid(n)) throw new DpStateError(`${field}.${i}`, `expected ${expected}, got ${JSON.stringify(n)}`)
  }
  return value as number[]
}

function parseRelease(value: unknown, field: string): GaussianRelease {
  if (!isRecord(value)) throw new DpStateError(field, `expected an object, got ${JSON.stringify(value)}`)
  const { sampleRate, noiseMultiplier, steps } = value
  if (typeof sampleRate !== 'number' || typeof noiseMultiplier !== 'number' || typeof steps !== 'number') {
    throw new DpStateError(field, `expected numbers sampleRate, noiseMultiplier and steps, got ${JSON.stringify(value)}`)
  }
  const release = { sampleRate, noiseMultiplier, steps }
  try {
    checkRelease(release)
  } catch (err) {
    throw new DpStateError(field, (err as Error).message)
  }
  return release
}

function parseAccountantState(value: unknown): AccountantState {
  if (!isRecord(value)) throw new DpStateError('(root)', `expected an object, got ${JSON.stringify(value)}`)
  if (value['version'] !== 1) throw new DpStateError('version', `expected 1, got ${JSON.stringify(value['version'])}`)
  const orders = numberList(value['orders'], 'orders', (n) => n > 1 && Number.isFinite(n), 'a finite number > 1')
  if (orders.length === 0) throw new DpStateError('orders', 'expected at least one order')
  const rdp = numberList(value['rdp'], 'rdp', (n) => n >= 0 && Number.isFinite(n), 'a finite number >= 0')
  if (rdp.length !== orders.length) throw new DpStateError('rdp', `expected ${orders.length} values (one per order), got ${rdp.length}`)
  const releases = value['releases']
  if (!Array.isArray(releases)) throw new DpStateError('releases', `expected an array, got ${JSON.stringify(releases)}`)
  return { version: 1, orders, rdp, releases: releases.map((r, i) => parseRelease(r, `releases.${i}`)) }
}
