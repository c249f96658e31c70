// Receipts for FL updates and served sessions on real in-process nodes: the FL coordinator's node and the node that
// ran a completion own that work, build its receipts, have each worker sign them (`jobs/sign`), countersign, keep and
// deliver them; every chain verifies. A worker signs only for work its own records confirm, asked by the receipt's
// owner, at no more than its own prices, and once.
import { join } from 'node:path'
import { create, toBinary } from '@bufbuild/protobuf'
import { createApiClient } from '@weft/api-client'
import { encodeLmCheckpoint, trainBpe } from '@weft/lm'
import { JOBS_SIGN, LM_FORWARD, type Receipt, ReceiptSchema } from '@weft/protocol'
import { initTransformerWeights, parseTransformerConfig } from '@weft/runtime'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSynthCsv } from './fixtures.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const FL_SPEC = {
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'synth',
  rounds: 2,
  clients: { min: 2 },
  train: { epochs: 2, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.05 } },
  timeouts: { roundSeconds: 60, waitSeconds: 30 },
}
/** One credit per core-second: receipts carry credit worth checking. */
const PRICING = { coreHour: 3600, gibHour: 0, acceleratorHour: 0 }

const TEXT = 'In the beginning God created the heaven and the earth. And the earth was without form, and void. '
const tokenizer = trainBpe(TEXT.repeat(10), { vocabSize: 300 })
const CONFIG = parseTransformerConfig({ vocabSize: tokenizer.vocabSize, hiddenSize: 16, intermediateSize: 32, numLayers: 2, numHeads: 2, numKvHeads: 1, maxPositions: 64, tieEmbeddings: true })
const CHECKPOINT = encodeLmCheckpoint({ config: CONFIG, weights: initTransformerWeights(CONFIG, 3), tokenizer, info: {} })

describe('receipts for FL updates and served sessions', () => {
  /** FL coordinator and the node that runs completions. */
  let owner: TestNode
  /** FL clients and span servers. */
  const workers: TestNode[] = []
  let rogue: TestNode
  let flJob: string
  let model: string

  const receiptsOf = (n: TestNode, kind: string): Receipt[] => (n.jobs?.ledger.receipts() ?? []).filter((r) => r.kind === kind)
  const encode = (init: Parameters<typeof create<typeof ReceiptSchema>>[1]) => toBinary(ReceiptSchema, create(ReceiptSchema, { issuedAtMs: BigInt(Date.now()), ...init }))
  const askSign = (from: TestNode, to: TestNode, init: Parameters<typeof create<typeof ReceiptSchema>>[1]) =>
    from.mesh.rpc.call(to.peerId, JOBS_SIGN, { receipt: encode(init) }, { timeoutMs: 10_000 })

  beforeAll(async () => {
    owner = await startTestNode({ fl: { participate: false } as never, jobs: { pricing: PRICING } as never })
    const bootstrap = [owner.addrs[0] as string]
    for (const i of [0, 1]) {
      const path = join(owner.config.dataDir, `client-${i}.csv`)
      writeSynthCsv(path, 100, i + 1)
      workers.push(await startTestNode({ bootstrap, datasets: [{ name: 'synth', source: path, label: 'label' } as never], jobs: { pricing: PRICING } as never }))
    }
    rogue = await startTestNode({ bootstrap, fl: { participate: false } as never })
    await until(() => owner.peers.list().filter((p) => p.status === 'alive' && p.ad.datasets.length > 0 && p.ad.work !== undefined).length === 2, 30_000, 'two clients')
    model = (await createApiClient({ url: owner.apiUrl, timeoutMs: 60_000 }).storeAddFile(new Blob([CHECKPOINT]), { name: 'lm.safetensors', announce: true })).cid
    await workers[0]?.inference?.serve({ model, blocks: [0, 1] })
    await workers[1]?.inference?.serve({ model, blocks: [1, 2] })
  }, 120_000)

  afterAll(async () => {
    await Promise.all([owner, rogue, ...workers].map((n) => n?.stop()))
    removeTestDirs()
  })

  it('an FL job of 2 rounds with 2 clients leaves 4 fl-update receipts with its coordinator and 2 with each client', async () => {
    flJob = owner.fl.submit(FL_SPEC).id
    await until(() => owner.fl.coordinator.isRunning(flJob) === false, 120_000, 'the FL job to finish')
    expect((await owner.fl.view(flJob))?.status).toBe('finished')
    await until(() => receiptsOf(owner, 'fl-update').length === 4, 20_000, 'four receipts at the coordinator')
    const mine = receiptsOf(owner, 'fl-update')
    expect(mine.every((r) => r.jobId === flJob && r.owner === owner.peerId)).toBe(true)
    expect(mine.map((r) => `${r.worker} ${r.taskId}`).sort()).toEqual(workers.flatMap((w) => [`${w.peerId} round-1`, `${w.peerId} round-2`]).sort())
    // The client's reported training seconds, priced at its advertised prices; the update's bytes.
    for (const r of mine) {
      expect(r.coreSeconds).toBeGreaterThan(0)
      expect(r.credit).toBeCloseTo(r.coreSeconds, 9)
      expect(r.bytes).toBeGreaterThan(0n)
    }
    for (const w of workers) {
      await until(() => receiptsOf(w, 'fl-update').length === 2, 20_000, 'two receipts at each client')
      expect(receiptsOf(w, 'fl-update').every((r) => r.worker === w.peerId)).toBe(true)
      const check = await owner.jobs?.ledger.verify(w.peerId)
      expect(check?.verdict.ok, JSON.stringify(check?.verdict)).toBe(true)
      expect((await w.jobs?.ledger.verify(owner.peerId))?.verdict.ok).toBe(true)
    }
    expect((await owner.jobs?.ledger.verify(owner.peerId))?.verdict.ok).toBe(true)
  }, 150_000)

  it('a served completion leaves a serve-session receipt for each of its servers', async () => {
    const done = await owner.inference?.complete({ model, prompt: 'And God said', maxTokens: 5, temperature: 0, topP: 1, seed: 0, stop: [] })
    expect(done?.route.map((h) => h.peer)).toEqual(workers.map((w) => w.peerId))
    await until(() => receiptsOf(owner, 'serve-session').length === 2, 20_000, 'two session receipts at the owner')
    const receipts = receiptsOf(owner, 'serve-session')
    expect(new Set(receipts.map((r) => r.taskId)).size).toBe(1)
    for (const [i, w] of workers.entries()) {
      const r = receipts.find((x) => x.worker === w.peerId)
      expect(r).toMatchObject({ jobId: model, owner: owner.peerId })
      // Token ids to the first server, hidden states to the second: positions × 4 and × 4·hiddenSize bytes.
      const positions = Number(r?.bytes) / (i === 0 ? 4 : 4 * CONFIG.hiddenSize)
      expect(Number.isInteger(positions) && positions > 4).toBe(true)
      await until(() => receiptsOf(w, 'serve-session').length === 1, 20_000, 'the server to keep its receipt')
      expect((await owner.jobs?.ledger.verify(w.peerId))?.verdict.ok).toBe(true)
    }
  }, 60_000)

  it('refuses to sign for work the worker did not do, for a caller that is not the owner, above its prices, or twice', async () => {
    const [a, b] = workers as [TestNode, TestNode]
    const session = receiptsOf(owner, 'serve-session')[0] as Receipt
    const fl = { jobId: flJob, taskId: 'round-1', kind: 'fl-update', worker: a.peerId }

    // A job and round it never joined; a session it never served.
    const neverJoined = await askSign(rogue, a, { ...fl, jobId: 'job-it-never-joined', owner: rogue.peerId })
    expect(neverJoined.workerSignature.length).toBe(0)
    expect(neverJoined.reason).toMatch(/sent no update for round 1 of job job-it-never-joined/)
    const neverServed = await askSign(rogue, a, { jobId: model, taskId: 'a-session-never-served', kind: 'serve-session', worker: a.peerId, owner: rogue.peerId })
    expect(neverServed.reason).toMatch(/served no session a-session-never-served/)
    // The owner's real session, claimed by another peer: the server served it for the owner only.
    const stolenSession = await askSign(rogue, b, { jobId: model, taskId: session.taskId, kind: 'serve-session', worker: b.peerId, owner: rogue.peerId })
    expect(stolenSession.reason).toMatch(/served no session/)
    // A real round, the receipt naming the coordinator as owner, asked by another peer.
    const notOwner = await askSign(rogue, a, { ...fl, owner: owner.peerId })
    expect(notOwner.workerSignature.length).toBe(0)
    expect(notOwner.reason).toMatch(/signed only for its owner/)
    // Asked by its owner, with credit above the worker's own prices for the units.
    const overpriced = await askSign(owner, a, { ...fl, taskId: 'round-2', owner: owner.peerId, coreSeconds: 1, credit: 1.01 })
    expect(overpriced.workerSignature.length).toBe(0)
    expect(overpriced.reason).toMatch(/credit 1\.01 is more than this node's prices give for the receipt's units \(1\)/)
    // Round 1 was signed when the round committed: asked again by its owner, it is refused.
    const again = await askSign(owner, a, { ...fl, owner: owner.peerId, coreSeconds: 0.5, credit: 0.5 })
    expect(again.workerSignature.length).toBe(0)
    expect(again.reason).toMatch(/already signed a fl-update receipt for .*\/round-1/)
    // Units that are not finite are refused before anything else.
    const infinite = await askSign(owner, a, { ...fl, owner: owner.peerId, coreSeconds: Number.POSITIVE_INFINITY })
    expect(infinite.reason).toMatch(/coreSeconds is Infinity/)
    // A receipt for another worker is refused.
    const forOther = await askSign(owner, a, { ...fl, worker: b.peerId, owner: owner.peerId })
    expect(forOther.reason).toMatch(/names worker/)
    // Nothing refused reached a ledger.
    expect(receiptsOf(a, 'fl-update')).toHaveLength(2)
  })

  it('signs a receipt its records confirm exactly once, however many times it is asked', async () => {
    // A session the owner runs by hand on the first server (no completion, so no receipt is issued for it yet).
    const a = workers[0] as TestNode
    const tokens = Int32Array.of(1, 2, 3)
    const step = await owner.mesh.rpc.call(a.peerId, LM_FORWARD, {
      sessionId: 'by-hand',
      model,
      start: 0,
      end: 1,
      position: 0,
      input: { case: 'tokens', value: new Uint8Array(tokens.buffer) },
      count: 3,
      maxTokens: 8,
      lastOnly: false,
    })
    expect(step.length).toBe(3)
    const claim = { jobId: model, taskId: 'by-hand', kind: 'serve-session', worker: a.peerId, owner: owner.peerId, bytes: 12n }
    const asks = await Promise.all([0, 1, 2].map(() => askSign(owner, a, claim)))
    expect(asks.filter((x) => x.workerSignature.length > 0)).toHaveLength(1)
    expect(asks.filter((x) => /already signed a serve-session receipt for .*\/by-hand/.test(x.reason))).toHaveLength(2)
  })
})
