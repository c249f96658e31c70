// The behavioural suite every Strategy implementation runs: the laws of aggregation, checked with fast-check.
import { type ClientTrainHints, type ClientUpdate, NotEnoughUpdatesError, type Strategy, type StrategyState } from '@weft/fl'
import fc from 'fast-check'
import { expect, it } from 'vitest'

export interface StrategyComplianceInit {
  /** A fresh strategy (fresh server state) on every call; `paramCount` passed through when given. */
  setup(init?: { readonly paramCount?: number }): Strategy
  /** The metadata the strategy must report. */
  readonly expected: {
    readonly name: Strategy['name']
    readonly streaming: boolean
    readonly asynchronous: boolean
    readonly minUpdates: number
    readonly bufferSize?: number
    readonly hints: ClientTrainHints
    /** Tensor names of the exported server state after a round ([] for stateless rules). */
    readonly stateTensors: readonly string[]
    /**
     * The state carries scalars from the start (the DP wrapper's accountant): a fresh strategy exports them, and an
     * import must bring them all. Default false: a fresh strategy exports empty state.
     */
    readonly scalarState?: boolean
  }
  /** Largest difference between client orders, relative to 1 + |value|: 0 (exact) for order statistics. */
  readonly orderTolerance: number
  /** The model that `minUpdates` copies of `update` give from a fresh strategy. */
  single(global: Float32Array, update: ClientUpdate): Float32Array
  /** Why `single` is not `global + delta`, when it is not (FedAdam's step, FedBuff's division by K). */
  readonly singleNote?: string
  readonly singleTolerance: number
  /**
   * Where each coordinate of the result must lie: between the clients' models (`global + delta`), between
   * those and `global`, or nowhere in particular (with the reason).
   */
  readonly bounds: 'clients' | 'clients-and-global' | { readonly skip: string }
  /** Most updates a round takes (FedBuff's K), when bounded. */
  readonly maxUpdates?: number
}

interface Round {
  readonly global: Float32Array
  readonly updates: ClientUpdate[]
}

const value = { min: -100, max: 100, noNaN: true } as const
const vector = (p: number) => fc.float32Array({ ...value, minLength: p, maxLength: p })
const updatesOf = (p: number, min: number, max: number) =>
  fc
    .array(
      fc.record({ delta: vector(p), numExamples: fc.integer({ min: 1, max: 1000 }), staleness: fc.integer({ min: 0, max: 5 }) }),
      { minLength: min, maxLength: max },
    )
    .map((us) => us.map((u, i): ClientUpdate => ({ clientId: `c${i}`, ...u })))

/** One round: a model of 1-8 parameters and between `min` and `max` updates. */
export function roundArb(min: number, max: number): fc.Arbitrary<Round> {
  return fc.integer({ min: 1, max: 8 }).chain((p) => fc.record({ global: vector(p), updates: updatesOf(p, min, max) }))
}

/** Two consecutive rounds over the same model size. */
function twoRoundsArb(min: number, max: number): fc.Arbitrary<[Round, ClientUpdate[]]> {
  return fc
    .integer({ min: 1, max: 8 })
    .chain((p) => fc.tuple(fc.record({ global: vector(p), updates: updatesOf(p, min, max) }), updatesOf(p, min, max)))
}

export function run(strategy: Strategy, global: Float32Array, updates: readonly ClientUpdate[]) {
  const agg = strategy.begin(global)
  for (const u of updates) agg.add(u)
  return agg.finish()
}

/** Element-wise |a − b| ≤ tol·(1 + |b|), with tol 0 meaning exactly equal (−0 equals +0). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'result'): void {
  expect(actual.length, `${what} length`).toBe(expected.length)
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!
    const e = expected[i]!
    const ok = tol === 0 ? a === e : Math.abs(a - e) <= tol * (1 + Math.abs(e))
    if (!ok) expect.fail(`${what}[${i}] = ${a}, expected ${e}${tol === 0 ? ' exactly' : ` within ${tol} relative`}`)
  }
}

const copies = (u: ClientUpdate, n: number) => Array.from({ length: n }, (_, i) => ({ ...u, clientId: `c${i}` }))
const upd = (delta: number[], over: Partial<ClientUpdate> = {}): ClientUpdate => ({
  clientId: 'a',
  delta: Float32Array.from(delta),
  numExamples: 1,
  staleness: 0,
  ...over,
})

/** Registers the suite's tests in the current `describe`. */
export function strategyLaws(init: StrategyComplianceInit): void {
  const { expected } = init
  const min = expected.minUpdates
  const max = Math.min(init.maxUpdates ?? min + 4, min + 4)

  it('reports its name, flags, minUpdates and hints, and is frozen', () => {
    const s = init.setup()
    expect(s.name).toBe(expected.name)
    expect(s.streaming).toBe(expected.streaming)
    expect(s.asynchronous).toBe(expected.asynchronous)
    expect(s.minUpdates).toBe(expected.minUpdates)
    expect(s.bufferSize).toBe(expected.bufferSize)
    expect(s.clientHints()).toEqual(expected.hints)
    expect(Object.isFrozen(s)).toBe(true)
    const fresh = s.exportState()
    expect(fresh.tensors).toEqual({})
    if (expected.scalarState === true) expect(Object.keys(fresh.scalars).length).toBeGreaterThan(0)
    else expect(fresh.scalars).toEqual({})
  })

  it(`gives the same model in any client order (property, ${init.orderTolerance === 0 ? 'exact' : `within ${init.orderTolerance}`})`, () => {
    const arb = roundArb(min, max).chain((r) =>
      fc.tuple(fc.constant(r), fc.shuffledSubarray(r.updates, { minLength: r.updates.length, maxLength: r.updates.length })),
    )
    fc.assert(
      fc.property(arb, ([{ global, updates }, shuffled]) => {
        const globalBefore = global.slice()
        const deltasBefore = updates.map((u) => u.delta.slice())
        const a = run(init.setup(), global, updates)
        const b = run(init.setup(), global, shuffled)
        expectClose(b.global, a.global, init.orderTolerance, 'shuffled result')
        expect(b.selected === undefined ? undefined : [...b.selected].sort()).toEqual(
          a.selected === undefined ? undefined : [...a.selected].sort(),
        )
        expect(a.global).not.toBe(global)
        expect(global).toEqual(globalBefore)
        for (const [i, u] of updates.entries()) expect(u.delta).toEqual(deltasBefore[i])
      }),
      { numRuns: 60 },
    )
  })

  const singleTitle =
    init.singleNote === undefined
      ? `maps ${min === 1 ? 'one update' : `${min} identical updates`} to that client's model (property)`
      : `maps ${min === 1 ? 'one update' : `${min} identical updates`} to the expected model, not the client's: ${init.singleNote} (property)`
  it(singleTitle, () => {
    fc.assert(
      fc.property(roundArb(1, 1), ({ global, updates }) => {
        const result = run(init.setup(), global, copies(updates[0]!, min))
        expectClose(result.global, init.single(global, updates[0]!), init.singleTolerance)
      }),
      { numRuns: 60 },
    )
  })

  const { bounds } = init
  if (typeof bounds === 'object') {
    // Skipped for rules whose step is not a combination of the client models (FedAdam/Yogi/Adagrad); the reason is
    // the table entry's `bounds.skip`, shown in the test name.
    it.skip(`keeps each coordinate inside the clients' range — skipped: ${bounds.skip}`, () => {})
  } else {
    const title = bounds === 'clients' ? "the clients' models" : "the clients' models and the global model"
    it(`keeps each coordinate between ${title} (property)`, () => {
      fc.assert(
        fc.property(roundArb(min, max), ({ global, updates }) => {
          const out = run(init.setup(), global, updates).global
          for (let j = 0; j < global.length; j++) {
            const models = updates.map((u) => Math.fround(global[j]! + u.delta[j]!))
            if (bounds === 'clients-and-global') models.push(global[j]!)
            const lo = Math.min(...models)
            const hi = Math.max(...models)
            const slack = init.orderTolerance * (1 + Math.max(Math.abs(lo), Math.abs(hi)))
            expect(out[j]!, `coordinate ${j}`).toBeGreaterThanOrEqual(lo - slack)
            expect(out[j]!, `coordinate ${j}`).toBeLessThanOrEqual(hi + slack)
          }
        }),
        { numRuns: 60 },
      )
    })
  }

  if (expected.streaming) {
    it('keeps no reference to a delta once added (property: deltas overwritten after add change nothing)', () => {
      fc.assert(
        fc.property(roundArb(min, max), ({ global, updates }) => {
          const reference = run(init.setup(), global, updates)
          const agg = init.setup().begin(global)
          for (const u of updates) {
            const scratch = { ...u, delta: u.delta.slice() }
            agg.add(scratch)
            scratch.delta.fill(1e30)
          }
          expectClose(agg.finish().global, reference.global, 0, 'result after overwriting deltas')
        }),
        { numRuns: 40 },
      )
    })
  } else {
    // Skipped for non-streaming rules: the contract lets them keep their updates until finish.
    it.skip('keeps no reference to a delta once added — skipped: not streaming, so it keeps updates until finish as the contract allows', () => {})
  }

  it('round-trips its state: a fresh strategy importing the export gives identical next rounds (property)', () => {
    fc.assert(
      fc.property(twoRoundsArb(min, max), ([{ global, updates }, second]) => {
        const a = init.setup()
        const first = run(a, global, updates).global
        const exported = a.exportState()
        expect(Object.keys(exported.tensors).sort()).toEqual([...expected.stateTensors].sort())
        const pristine = cloneState(exported)
        for (const t of Object.values(exported.tensors)) t.fill(7) // the export is a copy: a's next round ignores this
        const b = init.setup()
        b.importState(pristine)
        for (const t of Object.values(pristine.tensors)) t.fill(9) // the import is copied too
        expectClose(run(b, first, second).global, run(a, first, second).global, 0, 'next round after import')
        expect(cloneState(b.exportState())).toEqual(cloneState(a.exportState()))
      }),
      { numRuns: 30 },
    )
  })

  it('importState rejects state that does not fit, naming the tensor', () => {
    const s = init.setup({ paramCount: 3 })
    expect(() => s.importState({ tensors: { bogus: new Float32Array(3) }, scalars: {} })).toThrow(RangeError)
    expect(() => s.importState({ tensors: {}, scalars: { bogus: 1 } })).toThrow(RangeError)
    if (expected.scalarState === true) {
      // The scalars are the state: an import without them is refused by name, and changes nothing.
      const before = s.exportState()
      expect(() => s.importState({ tensors: {}, scalars: {} })).toThrow(/state\.scalars\./)
      expect(s.exportState()).toEqual(before)
      s.importState(before)
    } else {
      s.importState({ tensors: {}, scalars: {} })
    }
    const names = expected.stateTensors
    if (names.length > 0) {
      const of = (n: number) => Object.fromEntries(names.map((k) => [k, new Float32Array(n)]))
      expect(() => s.importState({ tensors: of(4), scalars: {} })).toThrow(new RegExp(`state\\.tensors\\.${names[0]}.*expected 3`))
      if (names.length > 1) {
        expect(() => s.importState({ tensors: { [names[0]!]: new Float32Array(3) }, scalars: {} })).toThrow(/missing tensor/)
      }
      expect(() => s.importState({ tensors: { ...of(3), [names[0]!]: [0, 0, 0] } as never, scalars: {} })).toThrow(TypeError)
      s.importState({ tensors: of(3), scalars: {} })
    }
  })

  it('begin rejects a global that is not a non-empty Float32Array of paramCount values', () => {
    const s = init.setup({ paramCount: 3 })
    expect(() => s.begin(new Float32Array(4))).toThrow(/global has 4 parameters, expected 3/)
    expect(() => s.begin([1, 2, 3] as never)).toThrow(TypeError)
    expect(() => init.setup().begin(new Float32Array(0))).toThrow(RangeError)
    expect(s.begin(new Float32Array(3)).count).toBe(0)
  })

  it('rejects bad updates with errors naming the field, and keeps what it had accepted', () => {
    const global = Float32Array.from([1, 2, 3])
    const agg = init.setup().begin(global)
    const good = upd([0.5, -1, 2])
    agg.add(good)
    expect(() => agg.add(upd([1, 2]))).toThrow(/update\.delta .*2 values, expected 3/)
    expect(() => agg.add(upd([1, 2, 3, 4]))).toThrow(RangeError)
    expect(() => agg.add({ ...good, delta: [1, 2, 3] as never })).toThrow(TypeError)
    for (const numExamples of [0, -1, 1.5, Number.NaN]) {
      expect(() => agg.add({ ...good, numExamples })).toThrow(/update\.numExamples/)
    }
    for (const staleness of [-1, 0.5, Number.POSITIVE_INFINITY]) {
      expect(() => agg.add({ ...good, staleness })).toThrow(/update\.staleness/)
    }
    expect(agg.count).toBe(1)
    const rest = copies(good, min).slice(1)
    for (const u of rest) agg.add(u)
    expectClose(agg.finish().global, run(init.setup(), global, copies(good, min)).global, 0, 'result after rejected updates')
  })

  it(`finish refuses ${min - 1} updates (minUpdates ${min}) with NotEnoughUpdatesError, and loses nothing`, () => {
    const global = Float32Array.from([1, 2])
    const all = copies(upd([1, -1]), min)
    const agg = init.setup().begin(global)
    for (const u of all.slice(0, min - 1)) agg.add(u)
    let caught: unknown
    try {
      agg.finish()
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(NotEnoughUpdatesError)
    expect((caught as Error).name).toBe('NotEnoughUpdatesError')
    expect(caught).toMatchObject({ strategy: expected.name, needed: min, got: min - 1 })
    agg.add(all[min - 1]!)
    expect(agg.count).toBe(min)
    expectClose(agg.finish().global, run(init.setup(), global, all).global, 0)
  })

  it('refuses add and finish once finished', () => {
    const agg = init.setup().begin(Float32Array.from([0]))
    for (const u of copies(upd([1]), min)) agg.add(u)
    agg.finish()
    expect(() => agg.add(upd([1]))).toThrow(/finished/)
    expect(() => agg.finish()).toThrow(/finished/)
  })

  if (init.maxUpdates !== undefined) {
    const k = init.maxUpdates
    it(`refuses more than ${k} updates per buffer`, () => {
      const agg = init.setup().begin(Float32Array.from([0]))
      for (const u of copies(upd([1]), k)) agg.add(u)
      expect(() => agg.add(upd([1]))).toThrow(new RegExp(`already holds ${k} updates`))
      expect(agg.count).toBe(k)
    })
  }
}

function cloneState(s: StrategyState): StrategyState {
  return {
    tensors: Object.fromEntries(Object.entries(s.tensors).map(([k, t]) => [k, t.slice()])),
    scalars: { ...s.scalars },
  }
}
