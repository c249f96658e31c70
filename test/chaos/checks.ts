// The invariants a chaos run is checked against, each named, each reading only the merged history (history.ts).
import type { HistoryEntry } from './history.js'

export interface CheckResult {
  readonly name: string
  readonly ok: boolean
  /** What was checked (counts), and each violation found. */
  readonly checked: number
  readonly violations: readonly string[]
}

type Of<K extends HistoryEntry['kind']> = Extract<HistoryEntry, { kind: K }>
const pick = <K extends HistoryEntry['kind']>(h: readonly HistoryEntry[], kind: K): Of<K>[] => h.filter((e): e is Of<K> => e.kind === kind)

/**
 * fl-no-lost-update: every update a client was told was accepted is in the final job's round (nothing accepted is
 * lost across coordinator crashes). Counted against the client's own log, not the coordinator's word. Under secure
 * aggregation a masked input is only as good as its session: one accepted in an attempt that did not complete (the
 * coordinator restarted, too few shares) is dropped by design and the round runs again; such acks are excused when
 * every acceptance the coordinator recorded for that client and round was in another session than the committed one.
 */
export function noLostUpdate(h: readonly HistoryEntry[]): CheckResult {
  const finals = new Map(pick(h, 'final-job').map((f) => [f.job, f]))
  const sessions = new Map<string, Set<number>>()
  for (const e of pick(h, 'job-event')) {
    if (e.type !== 'update-accepted' || typeof e.data['session'] !== 'number') continue
    const key = `${e.job} ${e.round} ${String(e.data['client'])}`
    sessions.set(key, (sessions.get(key) ?? new Set()).add(e.data['session'] as number))
  }
  const violations: string[] = []
  const acks = pick(h, 'client-ack')
  for (const a of acks) {
    const final = finals.get(a.job)
    if (final === undefined) {
      violations.push(`${a.node}'s update of job ${a.job} round ${a.round} was accepted, but the job's end state was never read`)
      continue
    }
    if (final.status !== 'finished') continue
    const round = final.rounds.find((r) => r.round === a.round)
    if (round === undefined) {
      violations.push(`${a.node}'s accepted update of round ${a.round} (job ${a.job}): the finished job has no round ${a.round}`)
      continue
    }
    if (round.delivered.includes(a.peerId)) continue
    const masked = sessions.get(`${a.job} ${a.round} ${a.peerId}`)
    if (round.session !== undefined && masked !== undefined && !masked.has(round.session)) continue
    violations.push(`${a.node}'s accepted update of round ${a.round} (job ${a.job}) is not among the round's ${round.delivered.length} delivered clients`)
  }
  return { name: 'fl-no-lost-update', ok: violations.length === 0, checked: acks.length, violations }
}

/**
 * fl-no-double-count: no round counts a client twice, and each committed round's result count is its number of
 * distinct delivered clients; the coordinator accepts one update per client and round (across restarts), or under
 * secure aggregation one masked input per client and session.
 */
export function noDoubleCount(h: readonly HistoryEntry[]): CheckResult {
  const violations: string[] = []
  let checked = 0
  for (const f of pick(h, 'final-job')) {
    for (const r of f.rounds) {
      checked++
      const distinct = new Set(r.delivered)
      if (distinct.size !== r.delivered.length) violations.push(`job ${f.job} round ${r.round} lists a delivered client twice: ${r.delivered.join(', ')}`)
      if (r.results !== undefined && r.results !== distinct.size) violations.push(`job ${f.job} round ${r.round} counts ${r.results} results from ${distinct.size} distinct clients`)
    }
  }
  const seen = new Map<string, number>()
  const events = pick(h, 'job-event').filter((e) => e.type === 'update-accepted')
  for (const e of events) {
    // A secure round run again (another attempt) takes the client's new masked input in a new session.
    const key = `${e.job} ${e.round} ${String(e.data['client'])}${e.data['session'] === undefined ? '' : ` session ${String(e.data['session'])}`}`
    seen.set(key, (seen.get(key) ?? 0) + 1)
  }
  for (const [key, n] of seen) if (n > 1) violations.push(`update-accepted ${n} times for (job round client) ${key}`)
  return { name: 'fl-no-double-count', ok: violations.length === 0, checked: checked + events.length, violations }
}

/** fl-rounds-monotonic: a job's rounds start in order across restarts (a round may start again; never an earlier one). */
export function roundsMonotonic(h: readonly HistoryEntry[]): CheckResult {
  const violations: string[] = []
  const last = new Map<string, number>()
  const started = pick(h, 'job-event')
    .filter((e) => (e.type === 'round-started' || e.type === 'secure-round-started') && e.round !== undefined)
    .sort((a, b) => a.seq - b.seq)
  for (const e of started) {
    const before = last.get(e.job) ?? 0
    if ((e.round as number) < before) violations.push(`job ${e.job}: round ${e.round} started (event ${e.seq}) after round ${before}`)
    last.set(e.job, Math.max(before, e.round as number))
  }
  return { name: 'fl-rounds-monotonic', ok: violations.length === 0, checked: started.length, violations }
}

/** liveness: every submitted job ends, finished or failed with a reason, within `boundMs` after the last fault healed. */
export function liveness(h: readonly HistoryEntry[], boundMs: number): CheckResult {
  const violations: string[] = []
  const lastFault = Math.max(0, ...h.filter((e) => e.kind === 'fault' || e.kind === 'heal').map((e) => e.at))
  const submitted = pick(h, 'op').filter((o) => o.op === 'submit')
  const ended = new Map(pick(h, 'op').filter((o) => o.op === 'ended').map((o) => [o.job, o]))
  for (const s of submitted) {
    const end = ended.get(s.job)
    if (end === undefined) violations.push(`job ${s.job} did not end`)
    else if (end.status !== 'finished' && (end.error ?? '') === '') violations.push(`job ${s.job} ended ${end.status} with no reason`)
    else if (end.at > lastFault + boundMs) violations.push(`job ${s.job} ended ${Math.round(end.at - lastFault)} ms after the last fault, past the bound of ${boundMs} ms`)
  }
  return { name: 'liveness', ok: violations.length === 0, checked: submitted.length, violations }
}

/**
 * dp-budget: under differential privacy each committed round's ε (the accountant's, at commit) never falls, never
 * passes the job's limit, and is spent once per round: with the same sampling rate and noise every round, ε after k
 * rounds is a minimum over Rényi orders of functions affine in k, so its rise per round never grows. A round
 * accounted twice (a crash between accounting and commit, the round run again) shows as a rise twice the last one.
 */
export function dpBudget(h: readonly HistoryEntry[], epsilonLimit: number | undefined): CheckResult {
  const violations: string[] = []
  let checked = 0
  for (const f of pick(h, 'final-job')) {
    const rounds = f.rounds.filter((r) => r.epsilon !== undefined).sort((a, b) => a.round - b.round)
    let rise = Number.POSITIVE_INFINITY
    rounds.forEach((r, i) => {
      checked++
      const eps = r.epsilon as number
      if (epsilonLimit !== undefined && eps > epsilonLimit * (1 + 1e-9)) violations.push(`job ${f.job} round ${r.round}: ε ${eps} is past the limit ${epsilonLimit}`)
      if (i === 0) return
      const prev = rounds[i - 1] as (typeof rounds)[number]
      const step = eps - (prev.epsilon as number)
      if (step < -1e-9) violations.push(`job ${f.job} round ${r.round}: ε fell from ${prev.epsilon} to ${eps}`)
      if (r.round === prev.round + 1 && step > rise * (1 + 1e-6) + 1e-9) {
        violations.push(`job ${f.job} round ${r.round}: ε rose by ${step.toPrecision(6)}, more than the round before (${rise.toPrecision(6)}): spent twice?`)
      }
      rise = r.round === prev.round + 1 ? step : Number.POSITIVE_INFINITY
    })
  }
  return { name: 'dp-budget', ok: violations.length === 0, checked, violations }
}

/**
 * secure-no-individual-update: under secure aggregation nothing the coordinator stored is one client's update: no
 * snapshot of its fl.db shows a client's update tensor for a job whose rounds commit a secure session (plain jobs
 * store them until their round commits, which shows the probe reads what is there).
 */
export function secureNoIndividualUpdate(h: readonly HistoryEntry[]): CheckResult {
  const secure = new Set(
    pick(h, 'final-job')
      .filter((f) => f.rounds.some((r) => r.session !== undefined))
      .map((f) => f.job),
  )
  const snapshots = pick(h, 'coordinator-store')
  const seen = new Set<string>()
  const violations: string[] = []
  for (const s of snapshots) {
    for (const u of s.updates) {
      const key = `${u.job} ${u.round} ${u.client}`
      if (!secure.has(u.job) || seen.has(key)) continue
      seen.add(key)
      violations.push(`the coordinator stored ${u.client}'s update of round ${u.round} of secure job ${u.job}`)
    }
  }
  return { name: 'secure-no-individual-update', ok: violations.length === 0, checked: snapshots.length, violations }
}

/** nodes-stay-up: no node's process ends unless the harness killed it (a fault must not crash a node). */
export function nodesStayUp(h: readonly HistoryEntry[]): CheckResult {
  const exits = pick(h, 'node-exit')
  const violations = exits.map((e) => `${e.node} exited (${e.signal ?? `code ${e.code}`}) at ${Math.round(e.at)} ms; its last lines:\n    ${e.tail.join('\n    ')}`)
  return { name: 'nodes-stay-up', ok: violations.length === 0, checked: h.filter((e) => e.kind === 'fault').length, violations }
}

/**
 * store-no-lost-artifact: every acknowledged write (pinned at its origin, its replication target taken) is held whole
 * by at least one node once faults heal, and its bytes read back from a holder hash to what was written.
 */
export function storeNoLostArtifact(h: readonly HistoryEntry[]): CheckResult {
  const finals = new Map(pick(h, 'final-artifact').map((f) => [f.cid, f]))
  const acks = pick(h, 'store-ack')
  const violations: string[] = []
  for (const a of acks) {
    const f = finals.get(a.cid)
    if (f === undefined) violations.push(`artifact ${a.cid} was acknowledged but never looked for at the end`)
    else if (f.holders.length === 0) violations.push(`artifact ${a.cid} (${a.bytes} bytes) was acknowledged and no node holds it whole`)
    else if (f.content !== 'ok') violations.push(`artifact ${a.cid}: its bytes read back from ${f.holders[0]} are ${f.content}${f.detail === undefined ? '' : ` (${f.detail})`}`)
  }
  return { name: 'store-no-lost-artifact', ok: violations.length === 0, checked: acks.length, violations }
}

/** store-replication-restored: within `boundMs` of the last heal, every acknowledged artifact has its factor of holders. */
export function storeReplicationRestored(h: readonly HistoryEntry[], boundMs: number): CheckResult {
  const lastFault = Math.max(0, ...h.filter((e) => e.kind === 'fault' || e.kind === 'heal').map((e) => e.at))
  const factors = new Map(pick(h, 'store-ack').map((a) => [a.cid, a.factor]))
  const finals = pick(h, 'final-artifact').filter((f) => factors.has(f.cid))
  const violations: string[] = []
  for (const f of finals) {
    const factor = factors.get(f.cid) as number
    if (f.holders.length < factor) violations.push(`artifact ${f.cid} has ${f.holders.length} of its ${factor} holders ${Math.round(f.at - lastFault)} ms after the last heal`)
    else if (f.at > lastFault + boundMs) violations.push(`artifact ${f.cid} reached ${factor} holders ${Math.round(f.at - lastFault)} ms after the last heal, past the bound of ${boundMs} ms`)
  }
  return { name: 'store-replication-restored', ok: violations.length === 0, checked: finals.length, violations }
}

/**
 * swarm-steps-monotonic: no swarm peer completes an outer step twice or goes back, across its restarts: a node killed
 * and joined again starts from the swarm's state at a later step, never from one it completed before.
 */
export function swarmStepsMonotonic(h: readonly HistoryEntry[]): CheckResult {
  const violations: string[] = []
  const last = new Map<string, { step: number; life: number }>()
  const steps = pick(h, 'swarm-step')
  for (const e of steps) {
    const key = `${e.node} ${e.swarm}`
    const before = last.get(key)
    if (before !== undefined && e.step <= before.step) {
      violations.push(`${e.node} completed step ${e.step} of swarm ${e.swarm} (life ${e.life}) after step ${before.step} (life ${before.life})`)
    }
    last.set(key, { step: Math.max(e.step, before?.step ?? -1), life: e.life })
  }
  return { name: 'swarm-steps-monotonic', ok: violations.length === 0, checked: steps.length, violations }
}

/**
 * swarm-model-sound: every peer that ends a swarm `done` trained through the swarm's samples and holds a sound model
 * (finite test accuracy at least `floor`), and the done peers of one swarm agree (final consensus: accuracies within
 * 0.05 of each other).
 */
export function swarmModelSound(h: readonly HistoryEntry[], floor: number): CheckResult {
  const violations: string[] = []
  const finals = pick(h, 'final-swarm').filter((f) => f.state === 'done')
  const bySwarm = new Map<string, number[]>()
  for (const f of finals) {
    if (f.swarmSamples < f.totalSamples) violations.push(`${f.node} ended swarm ${f.swarm} done at ${f.swarmSamples} of its ${f.totalSamples} samples`)
    if (f.accuracy === null) violations.push(`${f.node} ended swarm ${f.swarm} with no score of the model it ended with`)
    else if (!Number.isFinite(f.accuracy) || f.accuracy < floor) violations.push(`${f.node} ended swarm ${f.swarm} with test accuracy ${f.accuracy}, under the floor ${floor}`)
    if (f.accuracy !== null) bySwarm.set(f.swarm, [...(bySwarm.get(f.swarm) ?? []), f.accuracy])
  }
  for (const [swarm, acc] of bySwarm) {
    const spread = Math.max(...acc) - Math.min(...acc)
    if (spread > 0.05) violations.push(`the done peers of swarm ${swarm} disagree: accuracies ${acc.map((a) => a.toFixed(3)).join(', ')}`)
  }
  return { name: 'swarm-model-sound', ok: violations.length === 0, checked: finals.length, violations }
}

/**
 * inference-correct: every completion answered gives exactly the text one engine gives alone, and every one that
 * failed says why; a request that hangs past its bound is no clear error.
 */
export function inferenceCorrect(h: readonly HistoryEntry[]): CheckResult {
  const violations: string[] = []
  const done = pick(h, 'completion')
  for (const c of done) {
    if (c.ok && c.text !== c.expected) violations.push(`completion asked at ${c.after} ms gave ${JSON.stringify(c.text)}, not ${JSON.stringify(c.expected)}`)
    if (!c.ok && (c.error ?? '').trim() === '') violations.push(`completion asked at ${c.after} ms failed with no reason`)
    if (!c.ok && (c.error ?? '').startsWith('no answer within')) violations.push(`completion asked at ${c.after} ms hung: ${c.error}`)
  }
  return { name: 'inference-correct', ok: violations.length === 0, checked: done.length, violations }
}

/** inference-recovers: once faults heal, a completion gives the right text within `boundMs` of the last heal. */
export function inferenceRecovers(h: readonly HistoryEntry[], boundMs: number): CheckResult {
  const lastFault = Math.max(0, ...h.filter((e) => e.kind === 'fault' || e.kind === 'heal').map((e) => e.at))
  const after = pick(h, 'completion').filter((c) => c.after >= lastFault)
  const good = after.find((c) => c.ok && c.text === c.expected)
  const violations =
    good === undefined
      ? [`no completion asked after the last heal gave the right text (${after.length} asked)`]
      : good.at > lastFault + boundMs
        ? [`the first right completion after the last heal came ${Math.round(good.at - lastFault)} ms after it, past the bound of ${boundMs} ms`]
        : []
  return { name: 'inference-recovers', ok: violations.length === 0, checked: after.length, violations }
}

/** Equal batch results: integers exactly, other numbers within a relative 1e-6 (a sum taken in another order). */
function sameResult(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Number.isInteger(a) && Number.isInteger(b) ? a === b : Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b))
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameResult(x, b[i]))
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort()
    const kb = Object.keys(b).sort()
    return ka.join() === kb.join() && ka.every((k) => sameResult((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  }
  return a === b
}

/**
 * batch-results-honest: every task a batch job accepted holds the honest result (reckoned by the harness where it
 * can), never a cheater's; a job that ends done accepted every task and kept a receipt for each.
 */
export function batchResultsHonest(h: readonly HistoryEntry[]): CheckResult {
  const violations: string[] = []
  let checked = 0
  const finals = new Set(pick(h, 'final-batch').map((f) => f.job))
  for (const o of pick(h, 'op')) if (o.op === 'submit' && !finals.has(o.job)) violations.push(`batch job ${o.job} was submitted, but its end state was never read`)
  for (const f of pick(h, 'final-batch')) {
    const accepted = f.tasks.filter((t) => t.state === 'accepted')
    if (f.state === 'done' && accepted.length !== f.tasks.length) violations.push(`batch job ${f.job} ended done with ${accepted.length} of ${f.tasks.length} tasks accepted`)
    if (f.state === 'done' && f.receipts < accepted.length) violations.push(`batch job ${f.job} accepted ${accepted.length} tasks and kept ${f.receipts} receipts`)
    for (const t of accepted) {
      checked++
      if (t.honest !== undefined && !sameResult(t.result, t.honest)) violations.push(`batch job ${f.job} task ${t.id} accepted ${JSON.stringify(t.result)}, not the honest ${JSON.stringify(t.honest)}`)
    }
  }
  return { name: 'batch-results-honest', ok: violations.length === 0, checked, violations }
}

/**
 * batch-verdicts: the owners (the coordinator, and any worker that took a job over) catch a cheater that worked
 * (invalid results recorded), never credit it with a valid result nor blame an honest worker with an invalid one, and
 * every worker's contribution ledger verifies at the end.
 */
export function batchVerdicts(h: readonly HistoryEntry[]): CheckResult {
  const violations: string[] = []
  const records = pick(h, 'worker-record')
  const asked = new Set(pick(h, 'final-batch').flatMap((f) => f.tasks.flatMap((t) => t.workers)))
  for (const r of records) {
    if (r.cheater && r.valid > 0) violations.push(`cheater ${r.node} was credited with ${r.valid} valid results`)
    if (r.cheater && asked.has(r.peerId) && r.invalid === 0) violations.push(`cheater ${r.node} worked on tasks and was never caught`)
    if (!r.cheater && r.invalid > 0) violations.push(`honest ${r.node} was blamed for ${r.invalid} invalid results`)
    if (r.ledger !== 'ok') violations.push(`${r.node}'s ledger does not verify: ${r.ledger}`)
  }
  return { name: 'batch-verdicts', ok: violations.length === 0, checked: records.length, violations }
}

/** Every check over one history: the workload's own, then the nodes'. */
export function checkHistory(
  h: readonly HistoryEntry[],
  livenessBoundMs: number,
  options: { workload?: 'fl' | 'storage' | 'swarm' | 'inference' | 'batch'; epsilonLimit?: number; accuracyFloor?: number } = {},
): CheckResult[] {
  switch (options.workload) {
    case 'storage':
      return [storeNoLostArtifact(h), storeReplicationRestored(h, livenessBoundMs), nodesStayUp(h)]
    case 'swarm':
      return [swarmStepsMonotonic(h), swarmModelSound(h, options.accuracyFloor ?? 0.8), liveness(h, livenessBoundMs), nodesStayUp(h)]
    case 'inference':
      return [inferenceCorrect(h), inferenceRecovers(h, livenessBoundMs), nodesStayUp(h)]
    case 'batch':
      return [batchResultsHonest(h), batchVerdicts(h), liveness(h, livenessBoundMs), nodesStayUp(h)]
    default:
      return [noLostUpdate(h), noDoubleCount(h), roundsMonotonic(h), liveness(h, livenessBoundMs), dpBudget(h, options.epsilonLimit), secureNoIndividualUpdate(h), nodesStayUp(h)]
  }
}
