// The behavioural suite every Runtime implementation runs, through a `{ setup, teardown }` pair.
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ARCHITECTURES,
  type ModelSpec,
  type Runtime,
  paramCount,
  paramInfo,
} from '@weft/runtime'
import { arrayDataset, quadrantImages } from './synthetic.js'

export interface RuntimeComplianceInit {
  setup(): Promise<Runtime>
  teardown(runtime: Runtime): Promise<void>
  /** Input side of the synthetic task per architecture (smaller is faster on slow backends). */
  readonly sides?: Partial<Record<ModelSpec['architecture'], number>>
  /** Architectures whose learning test is skipped, with the reason. */
  readonly skipLearning?: Partial<Record<ModelSpec['architecture'], string>>
}

const logreg: ModelSpec = { architecture: 'logreg', inputShape: [8, 8, 1], numClasses: 4 }

export function runtimeCompliance(name: string, init: RuntimeComplianceInit): void {
  describe(`Runtime compliance: ${name}`, () => {
    let rt: Runtime
    beforeAll(async () => {
      rt = await init.setup()
    })
    afterAll(async () => {
      await init.teardown(rt)
    })

    it('reports its name, backend and capabilities', () => {
      expect(rt.name).toMatch(/\S/)
      expect(rt.backend).toMatch(/\S/)
      expect([...rt.capabilities.architectures]).toEqual(expect.arrayContaining([...ARCHITECTURES]))
      expect(rt.capabilities.training).toBe(true)
    })

    it('builds every architecture with the registry parameter list and a seeded initialization', async () => {
      for (const architecture of ARCHITECTURES) {
        const spec = { architecture, inputShape: [16, 16, 1], numClasses: 4 } as ModelSpec
        const a = await rt.createModel(spec, { seed: 7 })
        const b = await rt.createModel(spec, { seed: 7 })
        const c = await rt.createModel(spec, { seed: 8 })
        expect(a.paramInfo()).toEqual(paramInfo(spec))
        expect(a.paramCount).toBe(paramCount(spec))
        const pa = a.getParams()
        expect(pa.length).toBe(paramCount(spec))
        expect(pa.every(Number.isFinite)).toBe(true)
        expect(b.getParams()).toEqual(pa)
        expect(c.getParams()).not.toEqual(pa)
        for (const m of [a, b, c]) m.dispose()
      }
    })

    it('getParams returns what setParams was given (property)', async () => {
      const m = await rt.createModel(logreg)
      const n = m.paramCount
      fc.assert(
        fc.property(fc.float32Array({ minLength: n, maxLength: n, noNaN: true, noDefaultInfinity: true }), (w) => {
          m.setParams(w)
          expect(Array.from(m.getParams())).toEqual(Array.from(w).map((v) => (Object.is(v, -0) ? -0 : v)))
        }),
        { numRuns: 20 },
      )
      m.dispose()
    })

    it('rejects parameters of the wrong length with a RangeError naming expected and got', async () => {
      const m = await rt.createModel(logreg)
      const before = m.getParams()
      const err = (() => {
        try {
          m.setParams(new Float32Array(m.paramCount - 1))
        } catch (e) {
          return e as Error
        }
        return undefined
      })()
      expect(err).toBeInstanceOf(RangeError)
      expect(err?.name).toBe('ParamsLengthError')
      expect(err?.message).toContain(String(m.paramCount))
      expect(err?.message).toContain(String(m.paramCount - 1))
      expect(m.getParams()).toEqual(before)
      m.dispose()
    })

    it('rejects NaN or infinite weights naming the parameter, keeping the old ones', async () => {
      const m = await rt.createModel(logreg)
      const before = m.getParams()
      const w = before.slice()
      w[w.length - 1] = Number.NaN
      expect(() => m.setParams(w)).toThrow(expect.objectContaining({ name: 'NonFiniteParamError', message: expect.stringContaining('dense/bias') }))
      w[w.length - 1] = 0
      w[0] = Number.POSITIVE_INFINITY
      expect(() => m.setParams(w)).toThrow(/dense\/kernel/)
      expect(m.getParams()).toEqual(before)
      m.dispose()
    })

    it('rejects invalid specs with errors naming the field', async () => {
      await expect(rt.createModel({ architecture: 'resnet', inputShape: [4], numClasses: 2 } as unknown as ModelSpec)).rejects.toThrow(
        expect.objectContaining({ name: 'UnknownArchitectureError' }),
      )
      await expect(rt.createModel({ architecture: 'cnn-lenet', inputShape: [784], numClasses: 10 })).rejects.toThrow(/inputShape/)
      await expect(rt.createModel({ architecture: 'mlp', inputShape: [4], numClasses: 2, hidden: [0] })).rejects.toThrow(/spec\.hidden/)
    })

    it('rejects a data set that does not fit the model and invalid options', async () => {
      const m = await rt.createModel({ architecture: 'logreg', inputShape: [4, 4, 1], numClasses: 4 })
      const ds = quadrantImages(8, 2)
      await expect(m.train(ds, { epochs: 1, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.1 } })).rejects.toThrow(
        expect.objectContaining({ name: 'DatasetMismatchError' }),
      )
      const ok = await rt.createModel(logreg)
      await expect(ok.train(ds, { batchSize: 4, optimizer: { kind: 'sgd', lr: 0.1 } })).rejects.toThrow(/epochs/)
      await expect(ok.train(ds, { steps: 1, batchSize: 4, optimizer: { kind: 'sgd', lr: -1 } })).rejects.toThrow(/optimizer\.lr/)
      await expect(
        ok.train(ds, { steps: 1, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.1 }, proximal: { mu: 1, reference: new Float32Array(3) } }),
      ).rejects.toThrow(/proximal\.reference/)
      m.dispose()
      ok.dispose()
    })

    for (const architecture of ARCHITECTURES) {
      const reason = init.skipLearning?.[architecture]
      const side = init.sides?.[architecture] ?? 16
      it.skipIf(reason !== undefined)(`${architecture} learns a separable synthetic task${reason ? ` (skipped: ${reason})` : ''}`, async () => {
        const spec = { architecture, inputShape: [side, side, 1], numClasses: 4 } as ModelSpec
        const ds = quadrantImages(side, 16)
        const m = await rt.createModel(spec, { seed: 3 })
        const before = await m.evaluate(ds)
        const result = await m.train(ds, { epochs: 4, batchSize: 16, optimizer: { kind: 'adam', lr: 0.003 }, seed: 1 })
        const after = await m.evaluate(ds)
        expect(result.steps).toBe(16)
        expect(result.examples).toBe(256)
        expect(after.loss).toBeLessThan(0.35)
        expect(after.loss).toBeLessThan(before.loss / 2)
        expect(after.accuracy).toBeGreaterThan(0.95)
        m.dispose()
      })
    }

    it('trains reproducibly for a fixed seed, and differently for another seed', async () => {
      const spec: ModelSpec = { architecture: 'mlp', inputShape: [8, 8, 1], numClasses: 4, hidden: [16] }
      const ds = quadrantImages(8, 8)
      const run = async (seed: number) => {
        const m = await rt.createModel(spec, { seed: 5 })
        await m.train(ds, { epochs: 2, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9 }, seed })
        const p = m.getParams()
        m.dispose()
        return p
      }
      const a = await run(1)
      expect(await run(1)).toEqual(a)
      expect(await run(2)).not.toEqual(a)
    })

    it('counts steps, reports progress and honours an AbortSignal', async () => {
      const m = await rt.createModel(logreg)
      const ds = quadrantImages(8, 8)
      const seen: number[] = []
      const r = await m.train(ds, { steps: 5, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.1 }, onProgress: (p) => seen.push(p.step) })
      expect(r.steps).toBe(5)
      expect(seen).toEqual([1, 2, 3, 4, 5])
      const ac = new AbortController()
      const aborted = m.train(ds, {
        epochs: 100,
        batchSize: 4,
        optimizer: { kind: 'sgd', lr: 0.1 },
        signal: ac.signal,
        onProgress: (p) => {
          if (p.step === 3) ac.abort()
        },
      })
      await expect(aborted).rejects.toThrow(expect.objectContaining({ name: 'TrainingAbortedError' }))
      m.dispose()
    })

    it('awaits onEpochEnd after each epoch, where the model can be evaluated', async () => {
      const m = await rt.createModel(logreg)
      const ds = quadrantImages(8, 4)
      const ends: Array<[number, number, number]> = []
      await m.train(ds, {
        epochs: 3,
        batchSize: 5,
        optimizer: { kind: 'adam', lr: 0.01 },
        onEpochEnd: async (e) => {
          const ev = await m.evaluate(ds)
          ends.push([e.epoch, e.steps, ev.examples])
        },
      })
      expect(ends).toEqual([
        [1, 4, 16],
        [2, 8, 16],
        [3, 12, 16],
      ])
      m.dispose()
    })

    it('stops with NonFiniteLossError on a diverging step, keeping the last finite weights', async () => {
      const m = await rt.createModel(logreg, { seed: 4 })
      const before = m.getParams()
      const huge = arrayDataset('huge', [8, 8, 1], 4, new Float32Array(4 * 64).fill(3e38), Int32Array.from([0, 1, 2, 3]))
      await expect(m.train(huge, { steps: 3, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.1 } })).rejects.toThrow(
        expect.objectContaining({ name: 'NonFiniteLossError', message: expect.stringContaining('step 1') }),
      )
      expect(m.getParams()).toEqual(before)
      m.dispose()
    })

    it('a strong proximal term keeps the weights near the reference', async () => {
      const ds = quadrantImages(8, 8)
      const opts = { epochs: 3, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.05 } } as const
      const free = await rt.createModel(logreg, { seed: 1 })
      const prox = await rt.createModel(logreg, { seed: 1 })
      const ref = free.getParams()
      await free.train(ds, opts)
      await prox.train(ds, { ...opts, proximal: { mu: 10, reference: ref } })
      const dist = (p: Float32Array) => Math.hypot(...Array.from(p, (v, i) => v - ref[i]!))
      expect(dist(prox.getParams())).toBeLessThan(dist(free.getParams()) / 3)
      free.dispose()
      prox.dispose()
    })

    it('optimizers sgd, adam and adamw all reduce the loss, and adamw decays weights', async () => {
      const ds = quadrantImages(8, 8)
      const losses: Record<string, number> = {}
      for (const optimizer of [
        { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
        { kind: 'adam', lr: 0.01 },
        { kind: 'adamw', lr: 0.01, weightDecay: 0.1 },
      ] as const) {
        const m = await rt.createModel(logreg, { seed: 2 })
        const before = (await m.evaluate(ds)).loss
        await m.train(ds, { epochs: 3, batchSize: 8, optimizer })
        losses[optimizer.kind] = (await m.evaluate(ds)).loss
        expect(losses[optimizer.kind]).toBeLessThan(before)
        m.dispose()
      }
    })

    it('carries optimizer state between train calls: two calls train like one, and a bad state is refused', async () => {
      const ds = quadrantImages(8, 8)
      const spec: ModelSpec = { architecture: 'mlp', inputShape: [8, 8, 1], numClasses: 4, hidden: [16] }
      for (const optimizer of [
        { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true },
        { kind: 'adam', lr: 0.01 },
        { kind: 'adamw', lr: 0.01, weightDecay: 0.1 },
      ] as const) {
        const once = await rt.createModel(spec, { seed: 3 })
        await once.train(ds, { epochs: 2, batchSize: 8, optimizer, seed: 4 })
        const twice = await rt.createModel(spec, { seed: 3 })
        const first = await twice.train(ds, { epochs: 1, batchSize: 8, optimizer, seed: 4, exportOptimizerState: true })
        const state = first.optimizerState
        expect(state?.kind).toBe(optimizer.kind)
        expect(state?.step).toBe(first.steps)
        expect(state?.buffers.length).toBe((optimizer.kind === 'sgd' ? 1 : 2) * twice.paramCount)
        expect(state?.buffers.some((v) => v !== 0)).toBe(true)
        const fresh = await rt.createModel(spec, { seed: 3 })
        fresh.setParams(twice.getParams())
        await twice.train(ds, { epochs: 1, batchSize: 8, optimizer, seed: 4, startEpoch: 1, ...(state === undefined ? {} : { optimizerState: state }) })
        const a = once.getParams()
        const b = twice.getParams()
        for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i] as number, 4)
        // Without the state the second call starts its moments from zero and ends elsewhere.
        await fresh.train(ds, { epochs: 1, batchSize: 8, optimizer, seed: 4, startEpoch: 1 })
        expect(Math.max(...fresh.getParams().map((v, i) => Math.abs(v - (a[i] as number))))).toBeGreaterThan(1e-3)
        for (const m of [once, twice, fresh]) m.dispose()
      }
      const m = await rt.createModel(logreg, { seed: 2 })
      const bad = [
        { kind: 'adam' as const, step: 1, buffers: new Float32Array(m.paramCount) },
        { kind: 'sgd' as const, step: 1, buffers: new Float32Array(2 * m.paramCount) },
        { kind: 'adam' as const, step: -1, buffers: new Float32Array(2 * m.paramCount) },
        { kind: 'adam' as const, step: 1, buffers: new Float32Array(2 * m.paramCount).fill(Number.NaN) },
      ]
      for (const optimizerState of bad) {
        await expect(m.train(ds, { epochs: 1, batchSize: 8, optimizer: { kind: 'adam', lr: 0.01 }, optimizerState })).rejects.toThrow(/optimizerState/)
      }
      m.dispose()
    })

    it('predicts logits for a batch', async () => {
      const m = await rt.createModel(logreg)
      const out = await m.predict(new Float32Array(3 * 64), 3)
      expect(out.length).toBe(12)
      await expect(m.predict(new Float32Array(5), 3)).rejects.toThrow(RangeError)
      m.dispose()
    })
  })
}
