// Differential privacy as a wrapper around the sum-type strategies (DP-FedAvg, McMahan et al. 2018): clip, add
// Gaussian noise to the sum, divide by the expected number of clients, then let the wrapped strategy take that
// noised mean as its one update. The accountant and the clip norm live in the strategy state, so they commit
// atomically with each round and a restarted coordinator never re-spends budget.
import {
  Accountant,
  adaptiveClipping,
  adaptiveUpdateNoiseMultiplier,
  addCentralNoise,
  clipToNorm,
  DEFAULT_ORDERS,
  fixedDenominatorMean,
  noiseMultiplierFor,
  type UniformSource,
  updateClipNorm,
} from '@weft/dp'
import { z } from 'zod'
import { NotEnoughUpdatesError } from './errors.js'
import { checkUpdate } from './strategies/argument-checks.js'
import type {
  AggregateResult,
  ClientTrainHints,
  ClientUpdate,
  DpSettings,
  PrivacyControl,
  RoundAggregator,
  SecureSum,
  Strategy,
  StrategyName,
  StrategyState,
} from './contracts/strategy.js'

/** Strategies whose aggregate is a (weighted) sum of the updates: the ones DP and secure aggregation compose with. */
export const SUM_STRATEGIES: ReadonlySet<StrategyName> = new Set(['fedavg', 'fedavgm', 'fedprox', 'fedadam', 'fedyogi', 'fedadagrad'])

/**
 * Where clipping and noise happen:
 * - `central`: the coordinator clips each update and adds the noise (it sees individual updates: no secure aggregation);
 * - `client`: each client clips its own update, the coordinator adds the noise to the sum (works with secure aggregation);
 * - `local`: each client clips and adds its own noise (works with secure aggregation; far noisier).
 */
export const DP_MODES = ['central', 'client', 'local'] as const

export const dpConfigSchema = z
  .object({
    mode: z.enum(DP_MODES).default('client'),
    /** C: the L2 bound on one client's update (the initial bound when clipping is adaptive). */
    clipNorm: z.number().gt(0).default(1),
    /** Adaptive clipping (Andrew et al. 2021): C follows the targetQuantile of the update norms. Not in local mode. */
    adaptiveClipping: z
      .object({
        targetQuantile: z.number().gt(0).lt(1).default(0.5),
        learningRate: z.number().gt(0).default(0.2),
        /** σ_b, the noise on the count of clients within C; must exceed z / 2 (default: max(m / 20, z)). */
        countNoiseStd: z.number().gt(0).optional(),
      })
      .strict()
      .optional(),
    /** z: noise standard deviation over C. Give this or targetEpsilon. */
    noiseMultiplier: z.number().gt(0).optional(),
    /** The ε to spend over all the job's rounds; z is derived from it at the first round. */
    targetEpsilon: z.number().gt(0).optional(),
    delta: z.number().gt(0).lt(1).default(1e-5),
    /** The job stops before a round would take ε past this (default: targetEpsilon, else no limit). */
    epsilonLimit: z.number().gt(0).optional(),
    /** N, the client population for the sampling rate q = m / N (default, and at most: the eligible clients at the first round). */
    population: z.number().int().min(1).optional(),
  })
  .strict()
  .refine((d) => (d.noiseMultiplier === undefined) !== (d.targetEpsilon === undefined), {
    message: 'give exactly one of noiseMultiplier and targetEpsilon',
  })
  .refine((d) => d.mode !== 'local' || d.adaptiveClipping === undefined, { message: 'adaptive clipping needs the server to count clipped updates; not in local mode' })
  .refine(
    (d) => d.noiseMultiplier === undefined || d.adaptiveClipping?.countNoiseStd === undefined || d.adaptiveClipping.countNoiseStd > d.noiseMultiplier / 2,
    { message: 'adaptiveClipping.countNoiseStd must exceed noiseMultiplier / 2, or no budget is left for the update' },
  )

export type DpConfig = z.output<typeof dpConfigSchema>
// The validated config is what the strategy contract's DpSettings describes (checked here, at compile time).
const _dpConfigIsDpSettings = (c: DpConfig): DpSettings => c
void _dpConfigIsDpSettings

export const secureAggregationConfigSchema = z
  .object({
    /** The largest fraction of a round's clients expected to drop out mid-round (δ). */
    dropoutRate: z.number().min(0).lt(0.5).default(0.1),
    /** The largest fraction of clients that may collude with the coordinator (γ). */
    corruptRate: z.number().min(0).lt(0.5).default(0),
    /** Each coordinate of an update is clipped to [−clip, clip] before fixed-point quantization. */
    clip: z.number().gt(0).default(1),
    /** Fixed-point bits per coordinate (default: the most that cannot overflow the sum of the round's clients). */
    bits: z.number().int().min(2).max(30).optional(),
  })
  .strict()

export type SecureAggregationConfig = z.output<typeof secureAggregationConfigSchema>

const STATE = {
  population: 'dp.population',
  expectedClients: 'dp.expectedClients',
  noiseMultiplier: 'dp.noiseMultiplier',
  clipNorm: 'dp.clipNorm',
  rounds: 'dp.rounds',
  rdp: (i: number) => `dp.rdp.${i}`,
} as const

const INNER = 'inner.'

/**
 * Wraps a sum-type strategy with DP-FedAvg. Each round: updates (clipped by the server in central mode, by the
 * clients otherwise) are summed; N(0, (z_Δ C)²) is added (not in local mode); the sum is divided by the expected
 * client count m; the wrapped strategy takes the result as one update. The accountant composes one release
 * (q = m/N, z) per round; in local mode q = 1, as if every client took part in every round.
 * @throws RangeError when the wrapped strategy is not a sum-type one
 */
export function withDifferentialPrivacy(inner: Strategy, config: DpConfig, uniform?: UniformSource): Strategy & { readonly privacy: PrivacyControl } {
  if (!SUM_STRATEGIES.has(inner.name)) throw new RangeError(`differential privacy works with ${[...SUM_STRATEGIES].join(', ')}; not with ${inner.name}`)
  const noise = uniform === undefined ? {} : { uniform }
  let population = 0
  let expectedClients = 0
  let noiseMultiplier = config.noiseMultiplier ?? 0
  let clipNorm = config.clipNorm
  let rounds = 0
  let accountant = new Accountant()
  const sampleRate = (): number => (config.mode === 'local' ? 1 : Math.min(1, expectedClients / population))
  const limit = config.epsilonLimit ?? config.targetEpsilon
  // Andrew et al. suggest σ_b = m/20; it must exceed z/2 for the update to keep any budget, hence the floor at z.
  const countNoiseStd = (): number => config.adaptiveClipping?.countNoiseStd ?? Math.max(expectedClients / 20, noiseMultiplier)
  /** The z applied to the update: part of the budget goes to the clip count under adaptive clipping. */
  const updateNoiseMultiplier = (): number =>
    config.adaptiveClipping === undefined ? noiseMultiplier : adaptiveUpdateNoiseMultiplier(noiseMultiplier, countNoiseStd())

  const privacy: PrivacyControl = {
    config,
    get configured() {
      return population > 0
    },
    configure(n, m, totalRounds) {
      if (population > 0) return
      // q = m / N: a declared N above the eligible clients would report ε too small (N = 10^9 gives ε ≈ 0), so N is
      // at most the clients eligible now; a smaller declared N only makes the accounting more conservative.
      population = Math.min(config.population ?? n, n)
      expectedClients = m
      if (config.targetEpsilon !== undefined) {
        noiseMultiplier = noiseMultiplierFor({ targetEpsilon: config.targetEpsilon, sampleRate: sampleRate(), steps: totalRounds, delta: config.delta })
      }
      updateNoiseMultiplier() // fails now, not mid-job, when σ_b is too small for z
    },
    spent() {
      const { epsilon } = accountant.epsilon(config.delta)
      return { epsilon, delta: config.delta, noiseMultiplier, clipNorm, sampleRate: population > 0 ? sampleRate() : 0, rounds, mode: config.mode }
    },
    allowsAnotherRound() {
      if (limit === undefined || population === 0) return true
      return accountant.epsilonAfter({ sampleRate: sampleRate(), noiseMultiplier, steps: 1 }, config.delta).epsilon <= limit * (1 + 1e-9)
    },
  }

  const finishRound = (aggregator: RoundAggregator, sum: Float64Array, count: number, withinClipCount: number | undefined): AggregateResult => {
    if (config.mode !== 'local') addCentralNoise(sum, { noiseMultiplier: updateNoiseMultiplier(), clipNorm }, noise)
    const mean = fixedDenominatorMean(sum, expectedClients)
    aggregator.add({ clientId: 'dp-mean', delta: mean, numExamples: 1, staleness: 0 })
    const result = aggregator.finish()
    accountant.compose({ sampleRate: sampleRate(), noiseMultiplier, steps: 1 })
    rounds++
    if (config.adaptiveClipping !== undefined && withinClipCount !== undefined) {
      const state = adaptiveClipping({ clipNorm, targetQuantile: config.adaptiveClipping.targetQuantile, learningRate: config.adaptiveClipping.learningRate, countNoiseStd: countNoiseStd() })
      clipNorm = updateClipNorm(state, { withinNormCount: withinClipCount, participants: count, expectedClients }, noise).state.clipNorm
    }
    return result
  }

  return Object.freeze({
    name: inner.name,
    streaming: true,
    asynchronous: false,
    minUpdates: 1,
    privacy,
    clientHints(): ClientTrainHints {
      const local = config.mode === 'local'
      return { ...inner.clientHints(), dp: { clipNorm, noiseStd: local ? noiseMultiplier * clipNorm : 0 } }
    },
    begin(global: Float32Array): RoundAggregator & { addSum(sum: SecureSum): void } {
      if (population === 0) throw new Error('differential privacy: configure() must run before the first round')
      // The wrapped rule checks the global model and takes the noised mean as its one update at finish.
      let aggregator: RoundAggregator | undefined = inner.begin(global)
      const sum = new Float64Array(global.length)
      let count = 0
      let withinClip = 0
      let sums = false
      const open = (what: string): RoundAggregator => {
        if (aggregator === undefined) throw new Error(`${inner.name} (DP).${what}: the round is finished; begin a new one`)
        return aggregator
      }
      return Object.freeze({
        get count() {
          return count
        },
        add(update: ClientUpdate) {
          open('add')
          checkUpdate(update, inner.name, global.length)
          if (sums) throw new Error('a DP round takes one secure sum, or individual updates, not both')
          let delta = update.delta
          // Local-DP updates carry their noise: clipping them again would scale the noise down with the data.
          if (config.mode !== 'local') {
            delta = delta.slice()
            const { clipped } = clipToNorm(delta, clipNorm)
            if (config.mode === 'central' ? !clipped : update.withinClip !== false) withinClip++
          }
          for (let i = 0; i < delta.length; i++) sum[i] = (sum[i] as number) + (delta[i] as number)
          count++
        },
        addSum(secure: SecureSum) {
          open('addSum')
          if (sums || count > 0) throw new Error('a DP round takes one secure sum, or individual updates, not both')
          if (secure.sum.length !== sum.length) throw new RangeError(`secure sum of ${secure.sum.length} values for a model of ${sum.length}`)
          sums = true
          for (let i = 0; i < sum.length; i++) sum[i] = secure.sum[i] as number
          count = secure.count
          withinClip = secure.withinClipCount ?? count
        },
        finish(): AggregateResult {
          const agg = open('finish')
          if (count < 1) throw new NotEnoughUpdatesError(inner.name, 1, count)
          aggregator = undefined
          return finishRound(agg, sum, count, config.adaptiveClipping === undefined ? undefined : withinClip)
        },
      })
    },
    exportState(): StrategyState {
      const innerState = inner.exportState()
      const tensors: Record<string, Float32Array> = {}
      for (const [k, v] of Object.entries(innerState.tensors)) tensors[INNER + k] = v
      const scalars: Record<string, number> = {
        [STATE.population]: population,
        [STATE.expectedClients]: expectedClients,
        [STATE.noiseMultiplier]: noiseMultiplier,
        [STATE.clipNorm]: clipNorm,
        [STATE.rounds]: rounds,
      }
      for (const [k, v] of Object.entries(innerState.scalars)) scalars[INNER + k] = v
      accountant.rdp.forEach((value, i) => {
        scalars[STATE.rdp(i)] = value
      })
      return { tensors, scalars }
    },
    importState(state: StrategyState) {
      const tensors: Record<string, Float32Array> = {}
      const scalars: Record<string, number> = {}
      for (const [k, v] of Object.entries(state.tensors)) {
        if (!k.startsWith(INNER)) throw new RangeError(`state.tensors.${k}: not a tensor of the DP wrapper (${INNER}* only)`)
        tensors[k.slice(INNER.length)] = v
      }
      for (const [k, v] of Object.entries(state.scalars)) {
        if (k.startsWith(INNER)) scalars[k.slice(INNER.length)] = v
        else if (!k.startsWith('dp.')) throw new RangeError(`state.scalars.${k}: not a scalar of the DP wrapper (dp.* or ${INNER}*)`)
      }
      const read = (key: string): number => {
        const v = state.scalars[key]
        if (v === undefined || !Number.isFinite(v)) throw new RangeError(`DP state lacks state.scalars.${key}`)
        return v
      }
      // Everything is read and checked before anything changes: a state that does not fit leaves this one intact.
      const next = {
        population: read(STATE.population),
        expectedClients: read(STATE.expectedClients),
        noiseMultiplier: read(STATE.noiseMultiplier),
        clipNorm: read(STATE.clipNorm),
        rounds: read(STATE.rounds),
        rdp: DEFAULT_ORDERS.map((_, i) => read(STATE.rdp(i))),
      }
      inner.importState({ tensors, scalars })
      population = next.population
      expectedClients = next.expectedClients
      noiseMultiplier = next.noiseMultiplier
      clipNorm = next.clipNorm
      rounds = next.rounds
      accountant = Accountant.fromJSON({
        version: 1,
        orders: DEFAULT_ORDERS,
        rdp: next.rdp,
        releases: rounds > 0 ? [{ sampleRate: sampleRate(), noiseMultiplier, steps: rounds }] : [],
      })
    },
  })
}
