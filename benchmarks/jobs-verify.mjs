// What verifying batch work costs, and what it catches: adaptive replication (Reputation + decideQuorum, BOINC's
// policy) against always replicating (quorum 2 for every task), over one simulated batch; and how fast verifyChain
// checks a contribution ledger, against its floor (the two Ed25519 verifications per receipt, timed in the same run).
//
// The batch: --tasks tasks over --workers workers, each task first sent to a worker drawn at random (seeded), each
// further result to another worker not yet used for that task. --bad-share of the workers are unreliable: each of
// their results is wrong with probability --error-rate (a wrong result is a random value, so two wrong ones never
// agree unless --collude, where all wrong results of a task are the same value: the worst case, colluding liars).
// The others are always right. A task may use up to quorum + 2 results; a task that fails is not retried.
// Overhead = (results computed − tasks accepted) / tasks accepted: the results beyond one per task that verification
// cost. BOINC's target for adaptive replication is 5–10%; always replicating costs ≥ 100%.
// Usage: npx tsc -b packages/jobs, then
//   node benchmarks/jobs-verify.mjs [--tasks 20000] [--workers 200] [--bad-share 0.03] [--error-rate 0.3]
//     [--trust-after 10] [--spot-check 0.1] [--receipts 10000] [--seed 1] [--collude] [--json]
import { create, fromBinary } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { parseArgs } from 'node:util'
import {
  canonicalJson,
  countersign,
  decideQuorum,
  Ledger,
  MemoryLedgerStore,
  Reputation,
  resultCid,
  signerFromKey,
  verifyChain,
  workerSign,
} from '@weft/jobs'
import { ReceiptSchema, SignedReceiptSchema } from '@weft/protocol'

const { values: args } = parseArgs({
  options: {
    tasks: { type: 'string', default: '20000' },
    workers: { type: 'string', default: '200' },
    'bad-share': { type: 'string', default: '0.03' },
    'error-rate': { type: 'string', default: '0.3' },
    'trust-after': { type: 'string', default: '10' },
    'spot-check': { type: 'string', default: '0.1' },
    receipts: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    collude: { type: 'boolean', default: false },
    'fixed-spot-check': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
})
const TASKS = Number(args.tasks)
const WORKERS = Number(args.workers)
const BAD = Math.round(Number(args['bad-share']) * WORKERS)
const ERROR_RATE = Number(args['error-rate'])
const RECEIPTS = Number(args.receipts)
const policy = { quorum: 2, trustAfter: Number(args['trust-after']), spotCheck: Number(args['spot-check']), decay: !args['fixed-spot-check'] }
const log = args.json ? (...xs) => console.error(...xs) : (...xs) => console.log(...xs)
const utf8 = new TextEncoder()

/** A seeded uniform random in [0, 1) (mulberry32). */
function seeded(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Runs the batch under one policy. `replicasFor(firstWorker)` says how many agreeing results the task needs.
 * The same seed gives both policies the same workers, the same bad ones and the same draws where they coincide.
 */
function simulate(name, replicasFor, record) {
  const random = seeded(Number(args.seed))
  const workers = Array.from({ length: WORKERS }, (_, i) => `w${String(i).padStart(3, '0')}`)
  const bad = new Set(workers.slice(0, BAD))
  let results = 0
  let accepted = 0
  let failed = 0
  let wrongAccepted = 0
  let wrongComputed = 0
  let secondHalfResults = 0
  let secondHalfAccepted = 0
  const t0 = performance.now()
  for (let task = 0; task < TASKS; task++) {
    const truth = { task, y: task * 7 + 1 }
    const used = new Set()
    const draw = () => {
      for (;;) {
        const w = workers[Math.floor(random() * WORKERS)]
        if (!used.has(w)) {
          used.add(w)
          return w
        }
      }
    }
    const compute = (w) => {
      results++
      if (task >= TASKS / 2) secondHalfResults++
      let result = truth
      if (bad.has(w) && random() < ERROR_RATE) {
        wrongComputed++
        result = { task, y: args.collude ? -1 : -1 - Math.floor(random() * 1e9) }
      }
      return { worker: w, result, resultCid: resultCid(utf8.encode(canonicalJson(result))) }
    }
    const first = draw()
    const quorum = replicasFor(first, random)
    const maxResults = quorum + 2
    const got = [compute(first)]
    for (;;) {
      const d = decideQuorum(got, quorum, 0, maxResults)
      if (d.state === 'pending') {
        for (let i = 0; i < d.need; i++) got.push(compute(draw()))
        continue
      }
      if (d.state === 'accepted') {
        accepted++
        if (task >= TASKS / 2) secondHalfAccepted++
        if (canonicalJson(d.result) !== canonicalJson(truth)) wrongAccepted++
        // As BOINC: only results checked against others say anything of their workers.
        if (quorum >= 2) {
          for (const w of d.valid) record(w, true, task)
          for (const w of d.invalid) record(w, false, task)
        }
      } else {
        failed++
        if (quorum >= 2) for (const w of d.invalid) record(w, false, task)
      }
      break
    }
  }
  const seconds = (performance.now() - t0) / 1000
  return {
    policy: name,
    tasks: TASKS,
    results,
    accepted,
    failed,
    resultsPerAccepted: results / accepted,
    overhead: (results - accepted) / accepted,
    steadyOverhead: (secondHalfResults - secondHalfAccepted) / secondHalfAccepted,
    wrongComputed,
    wrongAccepted,
    wrongAcceptedRate: wrongAccepted / accepted,
    seconds,
  }
}

log(
  `jobs-verify ${new Date().toISOString()}: ${TASKS} tasks, ${WORKERS} workers (${BAD} unreliable, wrong ${ERROR_RATE * 100}% of the time${args.collude ? ', colluding' : ''}), ` +
    `trustAfter ${policy.trustAfter}, spotCheck ${policy.spotCheck} (${policy.decay ? 'falling with the streak, floor 0.02' : 'fixed'}), seed ${args.seed}`,
)
const rep = new Reputation(policy)
const adaptive = simulate(
  'adaptive',
  (w, random) => rep.replicasFor(w, random),
  (w, valid, at) => rep.record(w, valid, at),
)
const always = simulate(
  'always-2',
  () => 2,
  () => {},
)
const trusted = rep.records().filter((r) => rep.trusted(r.worker)).length
const trustedBad = rep.records().filter((r) => rep.trusted(r.worker) && Number(r.worker.slice(1)) < BAD).length

log('\npolicy      results  accepted  failed  results/task  overhead  (2nd half)  wrong computed  wrong accepted  (rate)')
for (const s of [adaptive, always]) {
  log(
    `${s.policy.padEnd(10)} ${String(s.results).padStart(8)}  ${String(s.accepted).padStart(8)}  ${String(s.failed).padStart(6)}  ` +
      `${s.resultsPerAccepted.toFixed(3).padStart(12)}  ${(s.overhead * 100).toFixed(1).padStart(7)}%  ${(s.steadyOverhead * 100).toFixed(1).padStart(9)}%  ` +
      `${String(s.wrongComputed).padStart(14)}  ${String(s.wrongAccepted).padStart(14)}  ${(s.wrongAcceptedRate * 1e6).toFixed(0).padStart(4)} ppm`,
  )
}
log(
  `adaptive / always: ${(adaptive.results / always.results).toFixed(3)}× the results; trusted at the end: ${trusted} workers, ` +
    `${trustedBad} of them unreliable`,
)

// The ledger: RECEIPTS receipts of 50 workers for one owner, appended (each verified), then the chain verified.
const ownerKey = await generateKeyPair('Ed25519')
const owner = signerFromKey(ownerKey)
const workerKeys = await Promise.all(Array.from({ length: 50 }, () => generateKeyPair('Ed25519')))
const workerSigners = workerKeys.map(signerFromKey)
let t = performance.now()
const signedReceipts = []
for (let i = 0; i < RECEIPTS; i++) {
  const w = workerSigners[i % workerSigners.length]
  const r = create(ReceiptSchema, {
    jobId: 'bench-job',
    taskId: `task-${i}`,
    kind: 'batch-task',
    worker: w.peerId,
    owner: owner.peerId,
    resultCid: resultCid(utf8.encode(String(i))),
    coreSeconds: 1 + (i % 7),
    memoryByteSeconds: 1e8,
    bytes: 1024n,
    issuedAtMs: BigInt(1_700_000_000_000 + i),
    credit: 1,
  })
  signedReceipts.push(await countersign(r, await workerSign(r, w), owner))
}
const signSeconds = (performance.now() - t) / 1000
const ledger = new Ledger(new MemoryLedgerStore())
t = performance.now()
for (const s of signedReceipts) await ledger.append(s)
const appendSeconds = (performance.now() - t) / 1000
const entries = ledger.entries(1n, RECEIPTS)
t = performance.now()
const verdict = await verifyChain(entries, ledger.head())
const chainSeconds = (performance.now() - t) / 1000
if (!verdict.ok || verdict.length !== RECEIPTS) throw new Error(`verifyChain: ${JSON.stringify(verdict)}`)

// The floor: the two signature checks each receipt needs, with the same keys and library, nothing else.
const checks = signedReceipts.map((s, i) => {
  const outer = fromBinary(SignedReceiptSchema, s)
  const worker = workerKeys[i % workerKeys.length].publicKey
  const prefix = (p, ...parts) => {
    const bytes = [utf8.encode(p), ...parts]
    const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0))
    let at = 0
    for (const b of bytes) {
      out.set(b, at)
      at += b.length
    }
    return out
  }
  return {
    worker,
    workerData: prefix('weft-receipt/v1', outer.receipt),
    workerSignature: outer.workerSignature,
    ownerData: prefix('weft-receipt-countersign/v1', outer.receipt, outer.workerSignature),
    ownerSignature: outer.ownerSignature,
  }
})
t = performance.now()
for (const c of checks) {
  if (!(await c.worker.verify(c.workerData, c.workerSignature))) throw new Error('floor: worker signature')
  if (!(await ownerKey.publicKey.verify(c.ownerData, c.ownerSignature))) throw new Error('floor: owner signature')
}
const floorSeconds = (performance.now() - t) / 1000

const ledgerResult = {
  receipts: RECEIPTS,
  signPerSecond: RECEIPTS / signSeconds,
  appendPerSecond: RECEIPTS / appendSeconds,
  verifyChainPerSecond: RECEIPTS / chainSeconds,
  floorPerSecond: RECEIPTS / floorSeconds,
  verifyChainVsFloor: chainSeconds / floorSeconds,
}
log('\nledger (10,000 receipts, 50 workers)      receipts/s')
log(`sign (worker + owner)                    ${ledgerResult.signPerSecond.toFixed(0).padStart(10)}`)
log(`Ledger.append (verify + link)            ${ledgerResult.appendPerSecond.toFixed(0).padStart(10)}`)
log(`verifyChain (links, hashes, signatures)  ${ledgerResult.verifyChainPerSecond.toFixed(0).padStart(10)}`)
log(`floor: 2 Ed25519 verifies per receipt    ${ledgerResult.floorPerSecond.toFixed(0).padStart(10)}`)
log(`verifyChain / floor: ${ledgerResult.verifyChainVsFloor.toFixed(2)}× the time`)

console.log(
  JSON.stringify({
    benchmark: 'jobs-verify',
    tasks: TASKS,
    workers: WORKERS,
    unreliable: BAD,
    errorRate: ERROR_RATE,
    collude: args.collude,
    policy,
    seed: Number(args.seed),
    adaptive,
    always,
    resultsRatio: adaptive.results / always.results,
    trustedAtEnd: trusted,
    trustedUnreliableAtEnd: trustedBad,
    ledger: ledgerResult,
  }),
)
