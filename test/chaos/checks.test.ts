// The chaos checks against histories made by hand: a clean one passes every check, and each kind of violation is
// caught by its check (a check that cannot fail proves nothing).
import { describe, expect, it } from 'vitest'
import {
  batchResultsHonest,
  batchVerdicts,
  checkHistory,
  dpBudget,
  inferenceCorrect,
  inferenceRecovers,
  liveness,
  noDoubleCount,
  noLostUpdate,
  roundsMonotonic,
  secureNoIndividualUpdate,
  storeNoLostArtifact,
  storeReplicationRestored,
  swarmModelSound,
  swarmStepsMonotonic,
} from './checks.js'
import type { HistoryEntry } from './history.js'

const ack = (at: number, node: string, round: number, job = 'j'): HistoryEntry => ({ at, kind: 'client-ack', node, peerId: `peer-${node}`, job, round })
const accepted = (seq: number, round: number, node: string, session?: number): HistoryEntry => ({
  at: seq,
  kind: 'job-event',
  job: 'j',
  seq,
  type: 'update-accepted',
  round,
  data: { client: `peer-${node}`, ...(session === undefined ? {} : { session }) },
})
const started = (seq: number, round: number): HistoryEntry => ({ at: seq, kind: 'job-event', job: 'j', seq, type: 'round-started', round, data: {} })
const final = (rounds: { round: number; delivered: string[]; results?: number; session?: number; epsilon?: number }[]): HistoryEntry => ({
  at: 900,
  kind: 'final-job',
  job: 'j',
  status: 'finished',
  rounds: rounds.map((r) => ({
    round: r.round,
    delivered: r.delivered.map((n) => `peer-${n}`),
    results: r.results ?? r.delivered.length,
    ...(r.session === undefined ? {} : { session: r.session }),
    ...(r.epsilon === undefined ? {} : { epsilon: r.epsilon }),
  })),
})
const clean: HistoryEntry[] = [
  { at: 0, kind: 'op', op: 'submit', job: 'j' },
  started(1, 1),
  accepted(2, 1, 'a'),
  ack(3, 'a', 1),
  accepted(4, 1, 'b'),
  ack(5, 'b', 1),
  { at: 6, kind: 'fault', fault: 'kill-coordinator', target: 'coordinator' },
  { at: 8, kind: 'heal', fault: 'kill-coordinator', target: 'coordinator' },
  started(9, 2),
  accepted(10, 2, 'a'),
  ack(11, 'a', 2),
  { at: 20, kind: 'op', op: 'ended', job: 'j', status: 'finished' },
  final([
    { round: 1, delivered: ['a', 'b'] },
    { round: 2, delivered: ['a'] },
  ]),
]

describe('chaos checks', () => {
  it('a clean history passes every check, and each check counts what it read', () => {
    const results = checkHistory(clean, 1_000)
    expect(results.map((r) => [r.name, r.ok])).toEqual([
      ['fl-no-lost-update', true],
      ['fl-no-double-count', true],
      ['fl-rounds-monotonic', true],
      ['liveness', true],
      ['dp-budget', true],
      ['secure-no-individual-update', true],
      ['nodes-stay-up', true],
    ])
    expect(results.map((r) => r.checked)).toEqual([3, 5, 2, 1, 0, 0, 1])
  })

  it('an acknowledged update missing from its finished round is lost; one of an aborted secure session is excused', () => {
    const lost = noLostUpdate([...clean.slice(0, -1), final([{ round: 1, delivered: ['a'] }, { round: 2, delivered: ['a'] }])])
    expect(lost.violations).toEqual(["b's accepted update of round 1 (job j) is not among the round's 1 delivered clients"])
    // b's masked input was accepted in session 4, which aborted; the round committed session 5 without b.
    const secure = [...clean.slice(0, 4), accepted(4, 1, 'b', 4), ack(5, 'b', 1), ...clean.slice(6, -1), final([{ round: 1, delivered: ['a'], session: 5 }, { round: 2, delivered: ['a'] }])]
    expect(noLostUpdate(secure).violations).toEqual([])
  })

  it('a client counted twice in a round, a result count that does not match, or one update accepted twice is caught', () => {
    const twice = noDoubleCount([...clean.slice(0, -1), final([{ round: 1, delivered: ['a', 'a'], results: 2 }, { round: 2, delivered: ['a'], results: 2 }])])
    expect(twice.violations).toEqual(['job j round 1 lists a delivered client twice: peer-a, peer-a', 'job j round 1 counts 2 results from 1 distinct clients', 'job j round 2 counts 2 results from 1 distinct clients'])
    expect(noDoubleCount([...clean, accepted(12, 1, 'a')]).violations).toEqual(['update-accepted 2 times for (job round client) j 1 peer-a'])
    // The same client's masked inputs in two sessions of one round are two attempts, not a double count.
    expect(noDoubleCount([...clean.slice(0, -1), accepted(12, 3, 'a', 12), accepted(13, 3, 'a', 13)]).violations).toEqual([])
  })

  it('a round that starts after a later one is caught', () => {
    expect(roundsMonotonic([...clean, started(12, 1)]).violations).toEqual(['job j: round 1 started (event 12) after round 2'])
  })

  it('a job that never ends, ends past the bound, or fails with no reason is caught', () => {
    const open = clean.filter((e) => !(e.kind === 'op' && e.op === 'ended'))
    expect(liveness(open, 1_000).violations).toEqual(['job j did not end'])
    expect(liveness([...open, { at: 5_000, kind: 'op', op: 'ended', job: 'j', status: 'finished' }], 1_000).violations).toEqual([
      'job j ended 4992 ms after the last fault, past the bound of 1000 ms',
    ])
    expect(liveness([...open, { at: 20, kind: 'op', op: 'ended', job: 'j', status: 'failed' }], 1_000).violations).toEqual(['job j ended failed with no reason'])
  })

  it('an ε that falls, passes its limit, or rises by more than the round before (spent twice) is caught', () => {
    const rounds = (eps: number[]) => [final(eps.map((epsilon, i) => ({ round: i + 1, delivered: ['a'], epsilon })))]
    // A concave spend: each round adds a little less (RDP's minimum over orders).
    expect(dpBudget(rounds([1.0, 1.8, 2.5, 3.1]), 4).violations).toEqual([])
    expect(dpBudget(rounds([1.0, 1.8, 1.7]), 4).violations).toEqual(['job j round 3: ε fell from 1.8 to 1.7'])
    expect(dpBudget(rounds([1.0, 1.8, 2.5, 4.2]), 4).violations).toEqual([
      'job j round 4: ε 4.2 is past the limit 4',
      'job j round 4: ε rose by 1.70000, more than the round before (0.700000): spent twice?',
    ])
  })

  it("a client's update tensor stored by a secure coordinator is caught; a plain job's is not", () => {
    const snapshot = (updates: { job: string; client: string; round: number }[], at = 3): HistoryEntry => ({ at, kind: 'coordinator-store', updates })
    const secureFinal = final([{ round: 1, delivered: ['a', 'b'], session: 1 }])
    const plainFinal: HistoryEntry = { ...(final([{ round: 1, delivered: ['a'] }]) as Extract<HistoryEntry, { kind: 'final-job' }>), job: 'p' }
    const rows = [
      { job: 'p', client: 'peer-a', round: 1 },
      { job: 'j', client: 'peer-b', round: 1 },
    ]
    const result = secureNoIndividualUpdate([snapshot([]), snapshot(rows), snapshot(rows, 4), secureFinal, plainFinal])
    expect(result.violations).toEqual(["the coordinator stored peer-b's update of round 1 of secure job j"])
    expect(result.checked).toBe(3)
    expect(secureNoIndividualUpdate([snapshot([rows[0] as (typeof rows)[number]]), secureFinal, plainFinal]).violations).toEqual([])
  })

  it('a node that exits without being killed is caught, with its last lines', () => {
    const exit: HistoryEntry = { at: 7, kind: 'node-exit', node: 'coordinator', code: 1, signal: null, tail: ['Error: ENOSPC'] }
    expect(checkHistory([...clean, exit], 1_000).find((c) => c.name === 'nodes-stay-up')?.violations).toEqual(['coordinator exited (code 1) at 7 ms; its last lines:\n    Error: ENOSPC'])
  })

  const faults: HistoryEntry[] = [
    { at: 5, kind: 'fault', fault: 'kill-client', target: 'client-0' },
    { at: 9, kind: 'heal', fault: 'kill-client', target: 'client-0' },
  ]

  describe('swarm', () => {
    const step = (at: number, node: string, s: number, life = 0): HistoryEntry => ({ at, kind: 'swarm-step', node, swarm: 'w', life, step: s, accuracy: 0.9 })
    const end = (node: string, accuracy: number | null, state = 'done', swarmSamples = 2048): HistoryEntry => ({
      at: 60,
      kind: 'final-swarm',
      node,
      swarm: 'w',
      state,
      step: 8,
      totalSteps: 8,
      accuracy,
      swarmSamples,
      totalSamples: 2048,
    })
    const good = [
      { at: 0, kind: 'op', op: 'submit', job: 'w' } as HistoryEntry,
      step(1, 'a', 0),
      step(2, 'b', 0),
      ...faults,
      step(10, 'a', 1),
      // b was killed at step 0 and joined again: its new life starts at a later step.
      step(12, 'b', 2, 1),
      end('a', 0.95),
      end('b', 0.95),
      { at: 61, kind: 'op', op: 'ended', job: 'w', status: 'finished' } as HistoryEntry,
    ]

    it('peers that step forward, across a restart, and end done alike pass', () => {
      expect(checkHistory(good, 100, { workload: 'swarm', accuracyFloor: 0.8 }).map((c) => [c.name, c.ok, c.checked])).toEqual([
        ['swarm-steps-monotonic', true, 4],
        ['swarm-model-sound', true, 2],
        ['liveness', true, 1],
        ['nodes-stay-up', true, 1],
      ])
    })

    it('a step completed twice or an earlier one after a restart is caught', () => {
      expect(swarmStepsMonotonic([...good, step(13, 'a', 1)]).violations).toEqual(['a completed step 1 of swarm w (life 0) after step 1 (life 0)'])
      expect(swarmStepsMonotonic([...good, step(14, 'b', 1, 2)]).violations).toEqual(['b completed step 1 of swarm w (life 2) after step 2 (life 1)'])
    })

    it('a done peer short of samples, under the floor, with no accuracy, or disagreeing with the others is caught', () => {
      expect(swarmModelSound([end('a', 0.95), end('b', 0.94, 'done', 1024)], 0.8).violations).toEqual(['b ended swarm w done at 1024 of its 2048 samples'])
      expect(swarmModelSound([end('a', 0.5), end('b', null)], 0.8).violations).toEqual([
        'a ended swarm w with test accuracy 0.5, under the floor 0.8',
        'b ended swarm w with no score of the model it ended with',
      ])
      expect(swarmModelSound([end('a', 0.95), end('b', 0.85)], 0.8).violations).toEqual(['the done peers of swarm w disagree: accuracies 0.950, 0.850'])
      // A peer that failed (with its reason) is liveness's business, not the model's.
      expect(swarmModelSound([end('a', 0.95), end('b', 0.1, 'failed')], 0.8).violations).toEqual([])
    })
  })

  describe('inference', () => {
    const asked = (after: number, result: { ok: boolean; text?: string; error?: string }): HistoryEntry => ({ at: after + 1, kind: 'completion', after, expected: 'right', ms: 1, ...result })

    it('right texts and clear errors pass; a wrong text, a silent error or a hang is caught', () => {
      const good = [asked(1, { ok: true, text: 'right' }), ...faults, asked(6, { ok: false, error: 'cannot reach the node API' }), asked(10, { ok: true, text: 'right' })]
      expect(checkHistory(good, 100, { workload: 'inference' }).map((c) => [c.name, c.ok, c.checked])).toEqual([
        ['inference-correct', true, 3],
        ['inference-recovers', true, 1],
        ['nodes-stay-up', true, 1],
      ])
      expect(inferenceCorrect([asked(1, { ok: true, text: 'wrong' }), asked(2, { ok: false, error: ' ' }), asked(3, { ok: false, error: 'no answer within 60 s' })]).violations).toEqual([
        'completion asked at 1 ms gave "wrong", not "right"',
        'completion asked at 2 ms failed with no reason',
        'completion asked at 3 ms hung: no answer within 60 s',
      ])
    })

    it('no right completion after the last heal, or one past the bound, is caught', () => {
      expect(inferenceRecovers([...faults, asked(10, { ok: false, error: 'no route' })], 100).violations).toEqual(['no completion asked after the last heal gave the right text (1 asked)'])
      expect(inferenceRecovers([...faults, asked(500, { ok: true, text: 'right' })], 100).violations).toEqual([
        'the first right completion after the last heal came 492 ms after it, past the bound of 100 ms',
      ])
    })
  })

  describe('batch', () => {
    const honest = { examples: 10, classCounts: [4, 6], meanFeature: 0.25 }
    const job = (state: string, tasks: { state: string; result?: unknown; workers?: string[] }[], receipts = tasks.length): HistoryEntry => ({
      at: 50,
      kind: 'final-batch',
      job: 'b',
      state,
      reason: '',
      tasks: tasks.map((t, i) => ({ id: `t${i}`, params: {}, honest, workers: t.workers ?? ['p-a'], ...t })),
      receipts,
    })
    const record = (node: string, cheater: boolean, valid: number, invalid: number, ledger = 'ok'): HistoryEntry => ({ at: 60, kind: 'worker-record', node, peerId: `p-${node}`, cheater, valid, invalid, ledger })

    it('honest accepted results and fair verdicts pass', () => {
      const good = [
        { at: 0, kind: 'op', op: 'submit', job: 'b' } as HistoryEntry,
        // The float summed in another order still agrees.
        job('done', [{ state: 'accepted', result: honest, workers: ['p-a', 'p-c'] }, { state: 'accepted', result: { ...honest, meanFeature: 0.25 + 1e-12 } }]),
        { at: 51, kind: 'op', op: 'ended', job: 'b', status: 'finished' } as HistoryEntry,
        record('a', false, 2, 0),
        record('c', true, 0, 1),
      ]
      expect(checkHistory(good, 100, { workload: 'batch' }).map((c) => [c.name, c.ok, c.checked])).toEqual([
        ['batch-results-honest', true, 2],
        ['batch-verdicts', true, 2],
        ['liveness', true, 1],
        ['nodes-stay-up', true, 0],
      ])
    })

    it("a cheater's result accepted, a done job missing tasks or receipts is caught", () => {
      const cheated = { examples: 11, classCounts: [5, 7], meanFeature: 1.25 }
      expect(batchResultsHonest([job('done', [{ state: 'accepted', result: cheated }, { state: 'failed' }], 1)]).violations).toEqual([
        'batch job b ended done with 1 of 2 tasks accepted',
        `batch job b task t0 accepted ${JSON.stringify(cheated)}, not the honest ${JSON.stringify(honest)}`,
      ])
      expect(batchResultsHonest([job('done', [{ state: 'accepted', result: honest }, { state: 'accepted', result: honest }], 1)]).violations).toEqual([
        'batch job b accepted 2 tasks and kept 1 receipts',
      ])
      expect(batchResultsHonest([{ at: 0, kind: 'op', op: 'submit', job: 'lost' }]).violations).toEqual(['batch job lost was submitted, but its end state was never read'])
    })

    it('a cheater credited or never caught, an honest worker blamed, or a ledger that does not verify is caught', () => {
      const asked = job('done', [{ state: 'accepted', result: honest, workers: ['p-a', 'p-c'] }])
      expect(batchVerdicts([asked, record('c', true, 1, 0), record('a', false, 1, 2, 'receipt 3: bad signature')]).violations).toEqual([
        'cheater c was credited with 1 valid results',
        'cheater c worked on tasks and was never caught',
        'honest a was blamed for 2 invalid results',
        "a's ledger does not verify: receipt 3: bad signature",
      ])
    })
  })

  describe('storage', () => {
    const stored = (cid: string, at = 1): HistoryEntry => ({ at, kind: 'store-ack', cid, bytes: 1024, sha256: 'ab', factor: 3 })
    const found = (cid: string, holders: string[], at = 50, content: 'ok' | 'mismatch' | 'unreadable' = 'ok'): HistoryEntry => ({ at, kind: 'final-artifact', cid, holders, content })
    const good = [stored('x'), stored('y', 2), ...faults, found('x', ['a', 'b', 'c']), found('y', ['a', 'b', 'd'])]

    it('a history where every acknowledged artifact is whole and replicated passes, counting each', () => {
      const results = checkHistory(good, 100, { workload: 'storage' })
      expect(results.map((c) => [c.name, c.ok, c.checked])).toEqual([
        ['store-no-lost-artifact', true, 2],
        ['store-replication-restored', true, 2],
        ['nodes-stay-up', true, 1],
      ])
    })

    it('an acknowledged artifact no node holds, whose bytes differ, or never looked for, is lost', () => {
      const h = [stored('x'), stored('y'), stored('z'), stored('w'), found('x', []), found('y', ['a'], 50, 'mismatch'), found('w', ['b'], 50, 'unreadable')]
      expect(storeNoLostArtifact(h).violations).toEqual([
        'artifact x (1024 bytes) was acknowledged and no node holds it whole',
        'artifact y: its bytes read back from a are mismatch',
        'artifact z was acknowledged but never looked for at the end',
        'artifact w: its bytes read back from b are unreadable',
      ])
    })

    it('an artifact short of its factor, or restored past the bound after the last heal, is caught', () => {
      const h = [stored('x'), stored('y'), ...faults, found('x', ['a', 'b'], 60), found('y', ['a', 'b', 'c'], 200)]
      expect(storeReplicationRestored(h, 100).violations).toEqual([
        'artifact x has 2 of its 3 holders 51 ms after the last heal',
        'artifact y reached 3 holders 191 ms after the last heal, past the bound of 100 ms',
      ])
    })
  })
})
