// Every aggregation strategy through the compliance suite, plus known answers, robustness and config parsing.
import { readFileSync } from 'node:fs'
import {
  type ClientUpdate,
  InvalidStrategyConfigError,
  type Strategy,
  type StrategyConfig,
  type StrategyConfigInput,
  bulyan,
  createStrategy,
  dpConfigSchema,
  fedAdam,
  fedAvg,
  fedAvgM,
  fedBuff,
  fedMedian,
  fedTrimmedAvg,
  krum,
  multiKrum,
  parseStrategyConfig,
  strategyConfigSchema,
  withDifferentialPrivacy,
} from '@weft/fl'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type StrategyComplianceInit, expectClose, run, strategyLaws } from './strategy-compliance.js'

const plus = (g: Float32Array, u: ClientUpdate) => g.map((x, i) => x + u.delta[i]!)
const noHints = {}
const robust = { streaming: false, asynchronous: false, hints: noHints, stateTensors: [] }
const mean = { streaming: true, asynchronous: false, minUpdates: 1, hints: noHints, stateTensors: [] }

/** FedAdam/FedYogi/FedAdagrad from fresh state (m = 0, v = τ²) on one pseudo-gradient Δ, defaults η = 0.01, β₁ = 0.9, β₂ = 0.99, τ = 1e-3. */
function adaptiveStep(variant: 'adam' | 'yogi' | 'adagrad') {
  const [lr, b1, b2, tau] = [0.01, 0.9, 0.99, 1e-3]
  return (g: Float32Array, u: ClientUpdate) =>
    g.map((x, i) => {
      const d = u.delta[i]!
      const v0 = tau * tau
      const v =
        variant === 'adam' ? b2 * v0 + (1 - b2) * d * d : variant === 'yogi' ? v0 - (1 - b2) * d * d * Math.sign(v0 - d * d) : v0 + d * d
      return x + (lr * (1 - b1) * d) / (Math.sqrt(v) + tau)
    })
}
const adaptive = {
  expected: { ...mean, stateTensors: ['m', 'v'] },
  orderTolerance: 1e-5,
  singleTolerance: 1e-5,
  singleNote: 'an adaptive step of about η per coordinate, η·(1−β₁)Δ/(√v + τ)',
  bounds: { skip: 'an adaptive step is a fixed-size move per coordinate, not a combination of the client models' },
} as const

const table: readonly (Omit<StrategyComplianceInit, 'setup'> & { readonly config: StrategyConfigInput })[] = [
  { config: { name: 'fedavg' }, expected: { ...mean, name: 'fedavg' }, orderTolerance: 1e-6, single: plus, singleTolerance: 1e-6, bounds: 'clients' },
  {
    config: { name: 'fedprox', mu: 0.05 },
    expected: { ...mean, name: 'fedprox', hints: { proximalMu: 0.05 } },
    orderTolerance: 1e-6,
    single: plus,
    singleTolerance: 1e-6,
    bounds: 'clients',
  },
  {
    config: { name: 'fedavgm' },
    expected: { ...mean, name: 'fedavgm', stateTensors: ['v'] },
    orderTolerance: 1e-6,
    single: plus, // first round: v = Δ̄, serverLr 1
    singleTolerance: 1e-6,
    bounds: 'clients', // first round from fresh state only
  },
  { ...adaptive, config: { name: 'fedadam' }, expected: { ...adaptive.expected, name: 'fedadam' }, single: adaptiveStep('adam') },
  { ...adaptive, config: { name: 'fedyogi' }, expected: { ...adaptive.expected, name: 'fedyogi' }, single: adaptiveStep('yogi') },
  { ...adaptive, config: { name: 'fedadagrad' }, expected: { ...adaptive.expected, name: 'fedadagrad' }, single: adaptiveStep('adagrad') },
  { config: { name: 'fedmedian' }, expected: { ...robust, name: 'fedmedian', minUpdates: 1 }, orderTolerance: 0, single: plus, singleTolerance: 0, bounds: 'clients' },
  {
    config: { name: 'fedtrimmedavg', beta: 0.2 },
    expected: { ...robust, name: 'fedtrimmedavg', minUpdates: 1 },
    orderTolerance: 0,
    single: plus,
    singleTolerance: 0,
    bounds: 'clients',
  },
  { config: { name: 'krum', f: 1 }, expected: { ...robust, name: 'krum', minUpdates: 5 }, orderTolerance: 0, single: plus, singleTolerance: 0, bounds: 'clients' },
  {
    config: { name: 'multikrum', f: 1 },
    expected: { ...robust, name: 'multikrum', minUpdates: 5 },
    orderTolerance: 0,
    single: plus,
    singleTolerance: 0,
    bounds: 'clients',
  },
  { config: { name: 'bulyan', f: 1 }, expected: { ...robust, name: 'bulyan', minUpdates: 7 }, orderTolerance: 0, single: plus, singleTolerance: 0, bounds: 'clients' },
  {
    config: { name: 'fedbuff', bufferSize: 4 },
    expected: { ...mean, name: 'fedbuff', asynchronous: true, bufferSize: 4 },
    orderTolerance: 1e-6,
    single: (g, u) => g.map((x, i) => x + (u.delta[i]! * (1 + u.staleness) ** -0.5) / 4),
    singleNote: 'FedBuff divides the staleness-weighted sum by K = 4 (Nguyen et al. 2022), so one update moves the model by Δ/((1+s)^½·K)',
    singleTolerance: 1e-6,
    bounds: 'clients-and-global',
    maxUpdates: 4,
  },
]

describe.each(table)('Strategy compliance: $config.name', (entry) => {
  const config = parseStrategyConfig(entry.config)
  strategyLaws({ ...entry, setup: (init) => createStrategy(config, init) })
})

/**
 * The DP wrapper is a Strategy too: DP-FedAvg over FedAvg, configured for one expected client per round, with a clip
 * norm far above the updates, so its aggregate is the plain sum of the deltas (over m = 1): in local mode exactly
 * (the server adds no noise), in central mode up to noise of standard deviation z·C = 1e-12.
 */
const dpEntries = [
  { mode: 'local', noiseMultiplier: 1, orderTolerance: 1e-5 },
  { mode: 'central', noiseMultiplier: 1e-16, orderTolerance: 1e-5 },
] as const
describe.each(dpEntries)('Strategy compliance: DP-FedAvg ($mode mode) over fedavg', ({ mode, noiseMultiplier, orderTolerance }) => {
  const dp = dpConfigSchema.parse({ mode, clipNorm: 1e4, noiseMultiplier })
  strategyLaws({
    setup: (init) => {
      // A uniform source cycling two values (the polar method accepts every pair at once; a constant 0.5 would
      // never be accepted). Central noise of std 1e-12 vanishes in float32 rounding, so a strategy restored from
      // another's state gives the same next rounds whatever position its source is at.
      let draws = 0
      const uniform = { next: () => (draws++ % 2 === 0 ? 0.3 : 0.6) }
      const s = withDifferentialPrivacy(createStrategy(parseStrategyConfig({ name: 'fedavg' }), init), dp, uniform)
      s.privacy.configure(10, 1, 1_000)
      return s
    },
    expected: { ...mean, name: 'fedavg', hints: { dp: { clipNorm: 1e4, noiseStd: mode === 'local' ? 1e4 : 0 } }, stateTensors: [], scalarState: true },
    orderTolerance,
    single: plus,
    singleNote: 'one update over m = 1 expected client: the update itself (the clip norm is far above it)',
    singleTolerance: 1e-5,
    bounds: { skip: 'DP-FedAvg divides the sum by the expected client count m, not by the count received: more than m updates move past the clients' },
  })
})

interface Vector {
  readonly description: string
  readonly config: StrategyConfigInput
  readonly global: number[]
  readonly tolerance: number
  readonly rounds: readonly {
    readonly updates: readonly { clientId: string; delta: number[]; numExamples: number; staleness: number }[]
    readonly expected?: number[]
    readonly selected?: string[]
    readonly error?: string
  }[]
}
const vectors = (
  JSON.parse(readFileSync(new URL('./vectors/strategies.json', import.meta.url), 'utf8')) as { vectors: Vector[] }
).vectors

describe('strategies: known answers (test/vectors/strategies.json)', () => {
  it('covers every strategy', () => {
    const names = new Set(vectors.map((v) => v.config.name))
    expect([...names].sort()).toEqual(strategyConfigSchema.def.in.options.map((o) => o.shape.name.value).sort())
  })

  it.each(vectors)('$description', (v) => {
    const strategy = createStrategy(parseStrategyConfig(v.config))
    let global: Float32Array = Float32Array.from(v.global)
    for (const [r, round] of v.rounds.entries()) {
      const agg = strategy.begin(global)
      for (const u of round.updates) agg.add({ ...u, delta: Float32Array.from(u.delta) })
      if (round.error !== undefined) {
        expect(() => agg.finish()).toThrow(expect.objectContaining({ name: round.error }))
        continue
      }
      const result = agg.finish()
      expectClose(result.global, round.expected!, v.tolerance, `round ${r + 1}`)
      expect(result.selected).toEqual(round.selected)
      global = result.global
    }
  })
})

describe('strategies: robustness to far outliers (property)', () => {
  const cases: readonly { name: string; strategy: () => Strategy; n: number; outliers: number }[] = [
    { name: 'fedmedian (2 of 5)', strategy: () => fedMedian(), n: 5, outliers: 2 },
    { name: 'fedtrimmedavg β = 0.2 (1 of 5)', strategy: () => fedTrimmedAvg({ beta: 0.2 }), n: 5, outliers: 1 },
    { name: 'krum f = 2 (2 of 7)', strategy: () => krum({ f: 2 }), n: 7, outliers: 2 },
    { name: 'multikrum f = 2 (2 of 7)', strategy: () => multiKrum({ f: 2 }), n: 7, outliers: 2 },
    { name: 'bulyan f = 1 (1 of 7)', strategy: () => bulyan({ f: 1 }), n: 7, outliers: 1 },
    { name: 'bulyan f = 2 (2 of 11)', strategy: () => bulyan({ f: 2 }), n: 11, outliers: 2 },
  ]
  it.each(cases)('$name stays within the honest clients’ range', ({ strategy, n, outliers }) => {
    const p = 4
    const honest = fc.float32Array({ min: -1, max: 1, noNaN: true, minLength: p, maxLength: p })
    const far = fc.tuple(fc.constantFrom(-1, 1), fc.float32Array({ min: 1e3, max: 1e4, noNaN: true, minLength: p, maxLength: p }))
    const arb = fc.tuple(fc.array(honest, { minLength: n - outliers, maxLength: n - outliers }), fc.array(far, { minLength: outliers, maxLength: outliers }))
    fc.assert(
      fc.property(arb, ([good, bad]) => {
        const deltas = [...bad.map(([sign, d]) => d.map((x) => sign * x)), ...good]
        const updates = deltas.map((delta, i) => ({ clientId: `c${i}`, delta, numExamples: i < bad.length ? 1000 : 1, staleness: 0 }))
        const result = run(strategy(), new Float32Array(p), updates)
        for (let j = 0; j < p; j++) {
          expect(result.global[j]!).toBeGreaterThanOrEqual(Math.min(...good.map((d) => d[j]!)))
          expect(result.global[j]!).toBeLessThanOrEqual(Math.max(...good.map((d) => d[j]!)))
        }
        for (const id of result.selected ?? []) expect(Number(id.slice(1))).toBeGreaterThanOrEqual(bad.length)
      }),
      { numRuns: 40 },
    )
  })

  it('multikrum averages at most n − f updates, and m of them when m is set', () => {
    const updates = [0, 1, 2, 3, 4].map((i) => ({ clientId: `c${i}`, delta: Float32Array.from([i]), numExamples: 1, staleness: 0 }))
    expect(run(multiKrum({ f: 1 }), new Float32Array(1), updates).selected).toHaveLength(4)
    expect(run(multiKrum({ f: 1, m: 10 }), new Float32Array(1), updates).selected).toHaveLength(4)
    expect(run(multiKrum({ f: 1, m: 2 }), new Float32Array(1), updates).selected).toHaveLength(2)
  })

  it('krum breaks score ties by clientId, whatever the arrival order', () => {
    const updates = ['d', 'b', 'e', 'a', 'c'].map((clientId) => ({ clientId, delta: Float32Array.from([1]), numExamples: 1, staleness: 0 }))
    expect(run(krum({ f: 1 }), new Float32Array(1), updates).selected).toEqual(['a'])
  })
})

describe('strategies: large models (the WebAssembly SIMD path) match a float64 reference', () => {
  const p = 20_011 // above the wasm threshold, not a multiple of 4
  const rand = (seed: number) => {
    let s = seed
    return () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0
      return s / 2 ** 32 - 0.5
    }
  }
  const makeRound = (seed: number, n: number) => {
    const r = rand(seed)
    const global = Float32Array.from({ length: p }, r)
    const updates = Array.from({ length: n }, (_, i) => ({
      clientId: `c${i}`,
      delta: Float32Array.from({ length: p }, () => r() * 0.1),
      numExamples: 1 + i * 37,
      staleness: i % 3,
    }))
    return { global, updates }
  }
  const reference = (global: Float32Array, updates: readonly ClientUpdate[], weight: (u: ClientUpdate) => number, divide: number) =>
    global.map((g, j) => g + updates.reduce((s, u) => s + weight(u) * u.delta[j]!, 0) / divide)

  it('fedAvg, over consecutive rounds and two interleaved aggregators (pooled memory is zeroed)', () => {
    const s = fedAvg()
    for (const seed of [1, 2, 3]) {
      const { global, updates } = makeRound(seed, 6)
      const total = updates.reduce((t, u) => t + u.numExamples, 0)
      expectClose(run(s, global, updates).global, reference(global, updates, (u) => u.numExamples, total), 1e-6)
    }
    const a = makeRound(4, 3)
    const b = makeRound(5, 4)
    const aggA = s.begin(a.global)
    const aggB = s.begin(b.global)
    for (let i = 0; i < 4; i++) {
      if (a.updates[i] !== undefined) aggA.add(a.updates[i]!)
      aggB.add(b.updates[i]!)
    }
    const totalA = a.updates.reduce((t, u) => t + u.numExamples, 0)
    const totalB = b.updates.reduce((t, u) => t + u.numExamples, 0)
    expectClose(aggB.finish().global, reference(b.global, b.updates, (u) => u.numExamples, totalB), 1e-6)
    expectClose(aggA.finish().global, reference(a.global, a.updates, (u) => u.numExamples, totalA), 1e-6)
  })

  it('fedBuff (staleness weights, divide by K)', () => {
    const { global, updates } = makeRound(6, 5)
    const result = run(fedBuff({ bufferSize: 5 }), global, updates).global
    expectClose(result, reference(global, updates, (u) => (1 + u.staleness) ** -0.5, 5), 1e-6)
  })

  it('fedAdam and fedAvgM agree with fedAvg on the pseudo-gradient', () => {
    const { global, updates } = makeRound(7, 5)
    const avg = run(fedAvg(), global, updates).global
    expectClose(run(fedAvgM(), global, updates).global, avg, 1e-6)
    const step = run(fedAdam({ serverLr: 1, beta1: 0, beta2: 0, tau: 1e-12 }), global, updates).global
    // β₁ = β₂ = 0: m = Δ, v = Δ², so the step is η·sign(Δ) wherever Δ is not tiny
    for (let j = 0; j < p; j += 997) {
      const delta = avg[j]! - global[j]!
      if (Math.abs(delta) > 1e-4) expect(step[j]! - global[j]!).toBeCloseTo(Math.sign(delta), 3)
    }
  })
})

describe('strategy config (strategyConfigSchema, parseStrategyConfig, createStrategy)', () => {
  const defaults: readonly StrategyConfig[] = [
    { name: 'fedavg', serverLr: 1 },
    { name: 'fedavgm', serverLr: 1, momentum: 0.9 },
    { name: 'fedprox', mu: 0.01, serverLr: 1 },
    { name: 'fedadam', serverLr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
    { name: 'fedyogi', serverLr: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
    { name: 'fedadagrad', serverLr: 0.01, beta1: 0.9, tau: 1e-3 },
    { name: 'fedmedian' },
    { name: 'fedtrimmedavg', beta: 0.1 },
    { name: 'fedbuff', bufferSize: 10, serverLr: 1, stalenessExponent: 0.5, concurrency: 20 },
  ]
  it.each(defaults)('fills the defaults of $name', (expected) => {
    expect(parseStrategyConfig({ name: expected.name })).toEqual(expected)
    const s = createStrategy(expected)
    expect(s.name).toBe(expected.name)
    expect(s.bufferSize).toBe(expected.name === 'fedbuff' ? 10 : undefined)
  })

  it('requires f for krum, multikrum and bulyan, and keeps multikrum m optional', () => {
    for (const name of ['krum', 'multikrum', 'bulyan'] as const) {
      expect(() => parseStrategyConfig({ name })).toThrow(/^invalid strategy config: f: /)
      expect(parseStrategyConfig({ name, f: 2 })).toEqual({ name, f: 2 })
      expect(createStrategy(parseStrategyConfig({ name, f: 2 })).minUpdates).toBe(name === 'bulyan' ? 11 : 7)
    }
    expect(parseStrategyConfig({ name: 'multikrum', f: 1, m: 3 })).toEqual({ name: 'multikrum', f: 1, m: 3 })
  })

  it('fills fedbuff concurrency with 2 × bufferSize unless given', () => {
    expect(parseStrategyConfig({ name: 'fedbuff', bufferSize: 7 })).toMatchObject({ bufferSize: 7, concurrency: 14 })
    expect(parseStrategyConfig({ name: 'fedbuff', bufferSize: 7, concurrency: 3 })).toMatchObject({ concurrency: 3 })
  })

  const bad: readonly [string, unknown, RegExp][] = [
    ['a non-positive serverLr', { name: 'fedavg', serverLr: 0 }, /serverLr: Too small/],
    ['a fractional bufferSize', { name: 'fedbuff', bufferSize: 2.5 }, /bufferSize: /],
    ['beta2 = 1', { name: 'fedadam', beta2: 1 }, /beta2: Too big/],
    ['momentum as a string', { name: 'fedavgm', momentum: '0.9' }, /momentum: Invalid input: expected number/],
    ['a negative f', { name: 'bulyan', f: -1 }, /f: Too small/],
    ['beta = 0.5 for the trimmed mean', { name: 'fedtrimmedavg', beta: 0.5 }, /beta: Too big/],
    ['a misspelt field', { name: 'fedavg', serverlr: 0.5 }, /serverlr: unknown field/],
    ['beta2 on fedadagrad', { name: 'fedadagrad', beta2: 0.9 }, /beta2: unknown field/],
    ['an unknown name', { name: 'fedsgd' }, /name: /],
    ['no object', 'fedavg', /invalid strategy config/],
  ]
  it.each(bad)('rejects %s with InvalidStrategyConfigError naming the field', (_, input, message) => {
    let caught: unknown
    try {
      parseStrategyConfig(input)
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(InvalidStrategyConfigError)
    expect((caught as Error).name).toBe('InvalidStrategyConfigError')
    expect((caught as Error).message).toMatch(message)
  })

  it('reports zod issues with the path of the bad field', () => {
    const r = strategyConfigSchema.safeParse({ name: 'fedbuff', bufferSize: 0, stalenessExponent: -1 })
    expect(r.success).toBe(false)
    expect(r.error?.issues.map((i) => i.path)).toEqual([['bufferSize'], ['stalenessExponent']])
  })

  it('factories check their arguments, naming them', () => {
    expect(() => fedAvg({ serverLr: -1 })).toThrow(/fedAvg: init\.serverLr must be a finite number > 0, got -1/)
    expect(() => fedAvgM({ momentum: 1 })).toThrow(RangeError)
    expect(() => fedBuff({ bufferSize: 0 })).toThrow(/init\.bufferSize/)
    expect(() => fedTrimmedAvg({ beta: 0.5 })).toThrow(/init\.beta/)
    expect(() => krum({} as never)).toThrow(TypeError)
    expect(() => krum({ f: 1.5 })).toThrow(/krum: init\.f must be an integer >= 0/)
    expect(() => multiKrum({ f: 1, m: 0 })).toThrow(/init\.m/)
    expect(() => fedAvg({ paramCount: 0 })).toThrow(/init\.paramCount/)
    expect(() => fedAvg({ serverLr: '1' as never })).toThrow(TypeError)
  })

  it('createStrategy passes paramCount on, so begin rejects other model sizes', () => {
    for (const config of defaults) {
      expect(() => createStrategy(config, { paramCount: 5 }).begin(new Float32Array(6))).toThrow(RangeError)
    }
  })
})
