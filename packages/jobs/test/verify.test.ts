// Quorum verification of batch results: canonical JSON, result CIDs, agreement, quorum decisions and reputations.
import { agree, canonicalJson, decideQuorum, effectiveQuorum, Reputation, resultCid, type TaskResult } from '@weft/jobs'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'

const utf8 = new TextEncoder()
const task = (worker: string, result: unknown): TaskResult => ({ worker, result, resultCid: resultCid(utf8.encode(canonicalJson(result))) })

/** A seeded uniform random in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Shuffles an object's keys, recursively (the same value, another insertion order). */
function reorder(value: unknown, random: () => number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, random))
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(() => random() - 0.5)
    return Object.fromEntries(entries.map(([k, v]) => [k, reorder(v, random)]))
  }
  return value
}

const json = fc.jsonValue({ maxDepth: 4 })

describe('canonicalJson', () => {
  it('is JSON that parses back to the same value', () => {
    fc.assert(
      fc.property(json, (v) => {
        expect(canonicalJson(JSON.parse(canonicalJson(v)))).toBe(canonicalJson(v))
        expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)))
      }),
    )
  })

  it('does not depend on key order, and has no whitespace outside strings', () => {
    fc.assert(
      fc.property(json, fc.integer(), (v, seed) => {
        const text = canonicalJson(v)
        expect(canonicalJson(reorder(v, seeded(seed)))).toBe(text)
        // JSON.stringify writes no whitespace (it may order integer-like keys differently, hence the length).
        expect(JSON.stringify(JSON.parse(text)).length).toBe(text.length)
      }),
    )
  })

  it('sorts keys at every level and writes -0 as 0', () => {
    expect(canonicalJson({ b: 1, a: [{ z: null, y: true }, 'x'], c: -0 })).toBe('{"a":[{"y":true,"z":null},"x"],"b":1,"c":0}')
    expect(canonicalJson({ '\u00e9': 1, e: 2, E: 3 })).toBe('{"E":3,"e":2,"\u00e9":1}')
  })

  it('refuses what has no JSON form', () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic['self'] = cyclic
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, undefined, () => 1, { a: undefined }, [1, undefined], cyclic, 1n, Symbol('s'), new Date(0), new Uint8Array(2)]) {
      expect(() => canonicalJson(bad)).toThrow(RangeError)
    }
    let deep: unknown = 1
    for (let i = 0; i < 10_000; i++) deep = [deep]
    expect(() => canonicalJson(deep)).toThrow(RangeError)
  })

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { x: 1 }
    expect(canonicalJson([shared, { shared }])).toBe('[{"x":1},{"shared":{"x":1}}]')
  })
})

describe('resultCid', () => {
  it('is a CIDv1 of the raw codec with a sha2-256 digest, base32', () => {
    const cid = resultCid(utf8.encode('{"a":1}'))
    expect(cid.startsWith('bafkrei')).toBe(true)
    const parsed = CID.parse(cid)
    expect(parsed.version).toBe(1)
    expect(parsed.code).toBe(0x55)
    expect(parsed.multihash.code).toBe(0x12)
    // Known answer: sha-256 of the empty string.
    expect(resultCid(new Uint8Array())).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
  })

  it('differs for different bytes', () => {
    expect(resultCid(utf8.encode('1'))).not.toBe(resultCid(utf8.encode('2')))
  })
})

describe('agree', () => {
  it('with tolerance 0 is canonical equality', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(agree(a, b, 0)).toBe(canonicalJson(a) === canonicalJson(b))
        expect(agree(a, a, 0)).toBe(true)
      }),
    )
  })

  it('is symmetric', () => {
    fc.assert(fc.property(json, json, fc.double({ min: 0, max: 1, noNaN: true }), (a, b, t) => {
        expect(agree(a, b, t)).toBe(agree(b, a, t))
      }),
    )
  })

  it('lets numbers differ by tolerance·max(1, |a|, |b|), nothing else', () => {
    expect(agree({ loss: 0.5, w: [1000, 2] }, { loss: 0.5000009, w: [1000.0009, 2] }, 1e-6)).toBe(true)
    expect(agree({ loss: 0.5 }, { loss: 0.500002 }, 1e-6)).toBe(false)
    expect(agree([1e6], [1e6 + 0.9], 1e-6)).toBe(true)
    expect(agree([1e6], [1e6 + 1.1], 1e-6)).toBe(false)
    // Strings, booleans, structure: exact.
    expect(agree({ label: 'cat' }, { label: 'cab' }, 0.5)).toBe(false)
    expect(agree({ ok: true }, { ok: false }, 0.5)).toBe(false)
    expect(agree([1, 2], [1, 2, 3], 0.5)).toBe(false)
    expect(agree({ a: 1 }, { b: 1 }, 0.5)).toBe(false)
    expect(agree({ a: 1 }, { a: 1, b: 2 }, 0.5)).toBe(false)
    expect(agree(null, 0, 0.5)).toBe(false)
    expect(agree('1', 1, 0.5)).toBe(false)
  })

  it('never lets a non-JSON value agree (NaN, Infinity, undefined)', () => {
    expect(agree(Number.NaN, Number.NaN, 0.1)).toBe(false)
    expect(agree(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 0.1)).toBe(false)
    expect(agree([Number.NaN], [Number.NaN], 0)).toBe(false)
    expect(agree(undefined, undefined, 0)).toBe(false)
    const cyclic: unknown[] = []
    cyclic.push(cyclic)
    expect(agree(cyclic, cyclic, 0.1)).toBe(false)
  })

  it('refuses a bad tolerance', () => {
    expect(() => agree(1, 1, -1)).toThrow(RangeError)
    expect(() => agree(1, 1, Number.NaN)).toThrow(RangeError)
  })
})

describe('effectiveQuorum (adaptive replication)', () => {
  const trusted = (w: string) => w === 'honest-trusted'

  it("keeps a trusted worker's lowered quorum of one, and the job's quorum as set", () => {
    expect(effectiveQuorum([task('honest-trusted', 1)], 1, 2, trusted)).toBe(1)
    expect(effectiveQuorum([], 1, 2, trusted)).toBe(1)
    expect(effectiveQuorum([task('a', 1), task('b', 1)], 2, 2, trusted)).toBe(2)
    expect(effectiveQuorum([task('a', 1)], 0, 1, trusted)).toBe(1)
    // One more after a recent bad result stays one more.
    expect(effectiveQuorum([task('a', 1)], 3, 2, trusted)).toBe(3)
  })

  // Found by the chaos harness (batch-node-loss, long form): a task first sent to a trusted worker needed one result;
  // the trusted worker was killed mid-task, the task went on to the cheater, and its lone wrong result was accepted
  // on the trusted worker's quorum (3 tasks in 184 jobs).
  it("holds a cheater's lone result, sent on after the trusted worker failed the task, to the job's quorum", () => {
    const lie = task('cheater', { classCounts: [122, 125] })
    const quorum = effectiveQuorum([lie], 1, 2, trusted)
    expect(quorum).toBe(2)
    expect(decideQuorum([lie], quorum, 0, 4)).toEqual({ state: 'pending', need: 1 })
    // The honest worker asked next outvotes nobody yet: the two disagree, and a third decides.
    const truth = task('honest', { classCounts: [121, 124] })
    expect(decideQuorum([lie, truth], effectiveQuorum([lie, truth], quorum, 2, trusted), 0, 4)).toEqual({ state: 'pending', need: 1 })
    const second = task('honest-2', { classCounts: [121, 124] })
    expect(decideQuorum([lie, truth, second], effectiveQuorum([lie, truth, second], quorum, 2, trusted), 0, 4)).toMatchObject({ state: 'accepted', valid: ['honest', 'honest-2'], invalid: ['cheater'] })
    // Before the fix the task's quorum of one accepted the lie at once.
    expect(decideQuorum([lie], 1, 0, 4)).toMatchObject({ state: 'accepted', valid: ['cheater'] })
  })
})

describe('decideQuorum', () => {
  it('accepts when quorum results agree', () => {
    const d = decideQuorum([task('a', { y: 42 }), task('b', { y: 42 })], 2, 0, 3)
    expect(d).toEqual({ state: 'accepted', result: { y: 42 }, resultCid: task('x', { y: 42 }).resultCid, valid: ['a', 'b'], invalid: [] })
  })

  it('counts what is still needed while pending', () => {
    expect(decideQuorum([], 2, 0, 3)).toEqual({ state: 'pending', need: 2 })
    expect(decideQuorum([task('a', 1)], 2, 0, 3)).toEqual({ state: 'pending', need: 1 })
    expect(decideQuorum([task('a', 1), task('b', 2)], 2, 0, 3)).toEqual({ state: 'pending', need: 1 })
    expect(decideQuorum([task('a', 1)], 3, 0, 5)).toEqual({ state: 'pending', need: 2 })
  })

  it('fails once a quorum can no longer be reached', () => {
    const d = decideQuorum([task('a', 1), task('b', 2), task('c', 3)], 2, 0, 3)
    expect(d.state).toBe('failed')
    if (d.state === 'failed') expect(d.invalid).toEqual(['a', 'b', 'c'])
    // Reachable in principle, but not within maxResults.
    expect(decideQuorum([task('a', 1), task('b', 2)], 3, 0, 3).state).toBe('failed')
    expect(decideQuorum([task('a', 1), task('b', 2)], 3, 0, 4)).toEqual({ state: 'pending', need: 2 })
  })

  it('outvotes a liar and names it invalid', () => {
    const d = decideQuorum([task('liar', { y: 0 }), task('a', { y: 42 }), task('b', { y: 42 })], 2, 0, 3)
    expect(d).toMatchObject({ state: 'accepted', result: { y: 42 }, valid: ['a', 'b'], invalid: ['liar'] })
  })

  it('counts a worker once: a second result of the same worker is ignored', () => {
    // A Sybil-free liar answering twice cannot make a quorum of one.
    expect(decideQuorum([task('liar', 0), task('liar', 0)], 2, 0, 3)).toEqual({ state: 'pending', need: 1 })
    // Its first answer stands; a later change of mind is not counted.
    const d = decideQuorum([task('w', 0), task('a', 42), task('w', 42), task('b', 42)], 2, 0, 3)
    expect(d).toMatchObject({ state: 'accepted', result: 42, valid: ['a', 'b'], invalid: ['w'] })
    // Repeats do not use up maxResults either.
    expect(decideQuorum([task('a', 1), task('a', 2), task('a', 3)], 2, 0, 2)).toEqual({ state: 'pending', need: 1 })
  })

  it('only the first maxResults workers count', () => {
    const d = decideQuorum([task('a', 1), task('b', 2), task('c', 3), task('d', 3)], 2, 0, 3)
    expect(d.state).toBe('failed')
  })

  it('groups results within the tolerance', () => {
    const results = [task('a', { loss: 0.3, w: [1, 2] }), task('b', { loss: 0.30000001, w: [1, 2.0000001] }), task('c', { loss: 0.31, w: [1, 2] })]
    expect(decideQuorum(results, 2, 1e-6, 3)).toMatchObject({ state: 'accepted', result: { loss: 0.3, w: [1, 2] }, valid: ['a', 'b'], invalid: ['c'] })
    // Exactly: no two agree.
    expect(decideQuorum(results, 2, 0, 3).state).toBe('failed')
    // A result joins the first group whose first member it agrees with.
    const chain = [task('a', 1), task('b', 1.15), task('c', 1.3), task('d', 1.15)]
    expect(decideQuorum(chain, 3, 0.2, 4)).toMatchObject({ state: 'accepted', result: 1, valid: ['a', 'b', 'd'], invalid: ['c'] })
  })

  it('refuses a result whose CID is not its own, so a liar cannot attach a good result to a bad CID', () => {
    const good = task('a', { y: 42 })
    const forged: TaskResult = { worker: 'liar', result: { y: 42 }, resultCid: task('x', { y: 0 }).resultCid }
    expect(decideQuorum([forged, good], 2, 0, 3)).toEqual({ state: 'pending', need: 1 })
    const d = decideQuorum([forged, good, task('b', { y: 42 })], 2, 0, 3)
    expect(d).toMatchObject({ state: 'accepted', resultCid: good.resultCid, valid: ['a', 'b'], invalid: ['liar'] })
    const nan: TaskResult = { worker: 'n', result: Number.NaN, resultCid: good.resultCid }
    expect(decideQuorum([nan], 1, 0, 1).state).toBe('failed')
  })

  it('with quorum 1 accepts the first well-formed result', () => {
    expect(decideQuorum([task('trusted', [1, 2])], 1, 0, 1)).toMatchObject({ state: 'accepted', result: [1, 2], valid: ['trusted'], invalid: [] })
  })

  it('refuses bad parameters', () => {
    expect(() => decideQuorum([], 0, 0, 1)).toThrow(RangeError)
    expect(() => decideQuorum([], 2, 0, 1)).toThrow(RangeError)
    expect(() => decideQuorum([], 2, -1, 3)).toThrow(RangeError)
    expect(() => decideQuorum([], 1.5, 0, 3)).toThrow(RangeError)
  })

  it('accepts only a result that a quorum agreed on, whatever the order (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: 0, max: 2 })), { maxLength: 8 }), ([...rs]) => {
        const d = decideQuorum(
          rs.map(([w, v]) => task(w, v)),
          2,
          0,
          4,
        )
        if (d.state === 'accepted') {
          expect(d.valid.length).toBeGreaterThanOrEqual(2)
          expect(new Set([...d.valid, ...d.invalid]).size).toBe(d.valid.length + d.invalid.length)
        }
        if (d.state === 'pending') expect(d.need).toBeGreaterThanOrEqual(1)
      }),
    )
  })
})

describe('Reputation', () => {
  it('trusts a worker after trustAfter consecutive valid results', () => {
    const rep = new Reputation({ trustAfter: 3 })
    for (let i = 0; i < 2; i++) rep.record('w', true, i)
    expect(rep.trusted('w')).toBe(false)
    rep.record('w', true, 2)
    expect(rep.trusted('w')).toBe(true)
    expect(rep.get('w')).toEqual({ worker: 'w', valid: 3, invalid: 0, consecutiveValid: 3, lastInvalidAt: null })
  })

  it('resets the streak on an invalid result', () => {
    const rep = new Reputation({ trustAfter: 3 })
    for (let i = 0; i < 5; i++) rep.record('w', true, i)
    rep.record('w', false, 99)
    expect(rep.trusted('w')).toBe(false)
    expect(rep.get('w')).toEqual({ worker: 'w', valid: 5, invalid: 1, consecutiveValid: 0, lastInvalidAt: 99 })
  })

  it('replicates less for a long valid record and more after a bad result', () => {
    const rep = new Reputation({ quorum: 2, trustAfter: 10, spotCheck: 0 })
    const never = (): number => 0.999
    expect(rep.replicasFor('new', never)).toBe(2)
    for (let i = 0; i < 10; i++) rep.record('good', true, i)
    expect(rep.replicasFor('good', never)).toBe(1)
    rep.record('good', false, 10)
    expect(rep.replicasFor('good', never)).toBe(3)
    // Its bad result stays within its last trustAfter results for 9 more valid ones…
    for (let i = 0; i < 9; i++) rep.record('good', true, 11 + i)
    expect(rep.replicasFor('good', never)).toBe(3)
    // …and with the tenth it is trusted again.
    rep.record('good', true, 20)
    expect(rep.replicasFor('good', never)).toBe(1)
  })

  it('spot-checks a trusted worker at about spotCheck, with a seeded random', () => {
    const rep = new Reputation({ quorum: 2, trustAfter: 1, spotCheck: 0.1 })
    rep.record('w', true, 0)
    const random = seeded(7)
    const n = 20_000
    let replicated = 0
    for (let i = 0; i < n; i++) if (rep.replicasFor('w', random) === 2) replicated++
    expect(replicated / n).toBeGreaterThan(0.09)
    expect(replicated / n).toBeLessThan(0.11)
    // An untrusted worker never draws: it is always replicated.
    let draws = 0
    expect(rep.replicasFor('stranger', () => ++draws)).toBe(2)
    expect(draws).toBe(0)
  })

  it('spot-checks less the longer the streak (BOINC), never below the floor; a fixed rate when decay is off', () => {
    const rate = (rep: Reputation, n = 20_000): number => {
      const random = seeded(11)
      let replicated = 0
      for (let i = 0; i < n; i++) if (rep.replicasFor('w', random) === 2) replicated++
      return replicated / n
    }
    const rep = new Reputation({ trustAfter: 10, spotCheck: 0.1 })
    for (let i = 0; i < 40; i++) rep.record('w', true, i)
    // 0.1 · 10 / 40 = 0.025
    expect(rate(rep)).toBeGreaterThan(0.02)
    expect(rate(rep)).toBeLessThan(0.03)
    for (let i = 0; i < 960; i++) rep.record('w', true, 40 + i)
    // 0.1 · 10 / 1000 = 0.001, held at the floor 0.02
    expect(rate(rep)).toBeGreaterThan(0.016)
    expect(rate(rep)).toBeLessThan(0.024)
    const fixed = new Reputation({ trustAfter: 10, spotCheck: 0.1, decay: false }, rep.records())
    expect(rate(fixed)).toBeGreaterThan(0.09)
  })

  it('keeps records across instances and refuses corrupt ones', () => {
    const a = new Reputation({ trustAfter: 2 })
    a.record('w', true, 1)
    a.record('w', true, 2)
    const b = new Reputation({ trustAfter: 2 }, a.records())
    expect(b.trusted('w')).toBe(true)
    expect(() => new Reputation({}, [{ worker: 'w', valid: 1, invalid: -1, consecutiveValid: 0, lastInvalidAt: null }])).toThrow(RangeError)
    expect(() => new Reputation({}, [{ worker: 'w', valid: 1, invalid: 0, consecutiveValid: 5, lastInvalidAt: null }])).toThrow(RangeError)
  })

  it('refuses a bad policy and fills defaults', () => {
    expect(new Reputation().policy).toEqual({ quorum: 2, trustAfter: 10, spotCheck: 0.1, decay: true, spotCheckFloor: 0.02 })
    expect(() => new Reputation({ spotCheckFloor: -0.1 })).toThrow(RangeError)
    expect(() => new Reputation({ quorum: 0 })).toThrow(RangeError)
    expect(() => new Reputation({ trustAfter: 0 })).toThrow(RangeError)
    expect(() => new Reputation({ spotCheck: 1.5 })).toThrow(RangeError)
    expect(() => new Reputation({ spotCheck: Number.NaN })).toThrow(RangeError)
  })
})
