// FL model hand-outs by CID (issue 16, deliverable 5) on in-process nodes: each round's model goes through the block
// store, clients fetch it from the coordinator and from clients that fetched it before (counted per provider), and
// the job ends with the same model as direct sends on the same seed. The attacker's side: a peer that is not a client
// of the job gets none of the model's blocks, a provider serving a corrupted block is dropped, and a CID that names
// another model than the task's hash is refused.
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from '@bufbuild/protobuf'
import { MODEL_TENSOR, parseJobSpec, vectorSet } from '@weft/fl'
import { encodeTensorSet, FL_CANCEL, FL_INVITE, FL_TRAIN, STORE_BLOCKS, STORE_HAVE, TrainRequestSchema, tensorSetHash } from '@weft/protocol'
import { parseCid } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSynthCsv } from './fixtures.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const SPEC = {
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'synth',
  rounds: 2,
  clients: { min: 4 },
  train: { epochs: 2, batchSize: 8, optimizer: { kind: 'sgd', lr: 0.05 } },
  evaluation: { centralized: { dataset: 'synth-eval' } },
  timeouts: { roundSeconds: 60, waitSeconds: 30 },
  seed: 7,
}

describe('FL model hand-outs by CID', () => {
  let coordinator: TestNode
  let rogue: TestNode
  const clients: TestNode[] = []

  beforeAll(async () => {
    const data = mkdtempSync(join(tmpdir(), 'weft-handout-data-'))
    writeSynthCsv(join(data, 'eval.csv'), 200, 99)
    coordinator = await startTestNode({
      // A hand-out holds its slot until the client has the model (not 2 s), so every later client of a round is named
      // an earlier one as a provider however slow a loaded machine is.
      fl: { participate: false, dispatchSlotMs: 60_000 } as never,
      datasets: [{ name: 'synth-eval', source: join(data, 'eval.csv'), label: 'label' } as never],
    })
    const bootstrap = [coordinator.addrs[0] as string]
    for (const i of [0, 1, 2, 3]) {
      const path = join(data, `client-${i}.csv`)
      writeSynthCsv(path, 120, i + 1)
      clients.push(await startTestNode({ bootstrap, datasets: [{ name: 'synth', source: path, label: 'label' } as never] }))
    }
    rogue = await startTestNode({ bootstrap, fl: { participate: false } as never })
    await until(() => coordinator.peers.list().filter((p) => p.status === 'alive' && p.ad.datasets.length > 0).length === 4, 30_000, 'four clients')
  }, 60_000)

  afterAll(async () => {
    await Promise.all([coordinator, rogue, ...clients].map((n) => n?.stop()))
    removeTestDirs()
  })

  const run = async (spec: object) => {
    const view = coordinator.fl.submit(spec)
    await until(() => coordinator.fl.coordinator.isRunning(view.id) === false, 120_000, 'the job to finish')
    const done = await coordinator.fl.view(view.id)
    expect(done?.status, done?.error).toBe('finished')
    return done as NonNullable<typeof done>
  }

  it('hands each round model out from several providers, with the same model and accuracy as direct sends', async () => {
    // By CID first: a client that holds a model already (by its hash) fetches nothing, so the direct job goes second.
    const byCid = await run({ ...SPEC, handout: 'cid' })
    const direct = await run(SPEC)
    // The same seed gives the same model, bit for bit, and so the same accuracy.
    expect(byCid.modelHash).toBe(direct.modelHash)
    const accuracy = (v: typeof direct) => v.history.map((h) => h.metrics?.evaluation?.centralized?.accuracy)
    expect(accuracy(byCid)).toEqual(accuracy(direct))
    expect(accuracy(byCid).every((a) => typeof a === 'number')).toBe(true)

    // Every round: the four clients fetched by CID; the first from the coordinator, later ones from the clients before.
    const records = coordinator.fl.handouts(byCid.id)
    expect(records.map((r) => [r.round, r.clients])).toEqual([
      [1, 4],
      [2, 4],
    ])
    for (const r of records) {
      const providers = Object.keys(r.providers)
      expect(providers.length).toBeGreaterThan(1)
      expect(providers).toContain(coordinator.peerId)
      expect(providers.filter((p) => p !== coordinator.peerId).every((p) => clients.some((c) => c.peerId === p))).toBe(true)
    }
    expect(coordinator.fl.handouts(direct.id)).toEqual([])
    const metrics = await (await fetch(`${coordinator.apiUrl}/metrics`)).text()
    expect(metrics).toMatch(/weft_fl_handout_blocks_total\{provider="coordinator"\} [1-9]/)
    expect(metrics).toMatch(/weft_fl_handout_blocks_total\{provider="client"\} [1-9]/)

    // Clean-up: the job's models are released everywhere (unserved, unpinned). On the coordinator they are the FL
    // store's own roots (held by fl, never pinned): gc keeps them, and takes what the FL store released (the committed
    // rounds' update deltas). On the clients, gc takes them.
    const cids = [...new Set(clients.flatMap((c) => c.logs).filter((l) => l.msg === 'fetched the round model by CID' && l.job === byCid.id).map((l) => l.cid as string))]
    expect(cids).toHaveLength(2)
    await until(() => [coordinator, ...clients].every((n) => (n.store?.roots() ?? []).every((r) => !r.pinned)), 10_000, 'the hand-outs to be released')
    for (const cid of cids) expect((await clients[0]?.mesh.rpc.call(coordinator.peerId, STORE_HAVE, { root: cid }))?.complete).toBe(false)
    expect(coordinator.store?.gc().removedBlocks).toBeGreaterThan(0)
    for (const cid of cids) expect(coordinator.store?.roots().find((r) => r.cid === cid)).toMatchObject({ pinned: false, held: ['fl'] })
    const client = clients[0] as TestNode
    client.store?.gc()
    expect(await client.store?.has(parseCid(cids[0] as string))).toBe(false)
    expect(coordinator.fl.exportModel(byCid.id, 'last')?.round).toBe(2)
  }, 200_000)

  it('evaluates federated by CID too: no model goes over fl-model, and the metrics are those of direct sends', async () => {
    const spec = { ...SPEC, seed: 11, evaluation: { ...SPEC.evaluation, federated: { fraction: 1, min: 2, every: 1 } } }
    const modelBytesSent = async () => {
      const text = await (await fetch(`${coordinator.apiUrl}/metrics`)).text()
      return [...text.matchAll(/weft_tensor_transfer_bytes_total\{[^}]*purpose="fl-model"[^}]*\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0)
    }
    const before = await modelBytesSent()
    const byCid = await run({ ...spec, handout: 'cid' })
    expect(await modelBytesSent()).toBe(before)
    // Direct on the same seed: the clients hold these models by hash already, so it moves none either.
    const direct = await run(spec)
    // The counter does count direct sends: a model the clients do not hold goes over fl-model.
    await run({ ...spec, seed: 12, rounds: 1 })
    expect(await modelBytesSent()).toBeGreaterThan(before)
    const federated = (v: typeof direct) => v.history.map((h) => h.metrics?.evaluation?.federated)
    expect(federated(byCid).every((f) => f?.clients === 4)).toBe(true)
    expect(federated(byCid)).toEqual(federated(direct))
    expect(byCid.modelHash).toBe(direct.modelHash)
  }, 200_000)

  it('serves a round model only to the job clients: a peer that is not one gets no block', async () => {
    const view = coordinator.fl.submit({ ...SPEC, rounds: 3, handout: 'cid', seed: 8, train: { ...SPEC.train, epochs: 40 } })
    const fetchedLog = () => clients.flatMap((c) => c.logs).find((l) => l.msg === 'fetched the round model by CID' && l.job === view.id)
    await until(() => fetchedLog() !== undefined, 60_000, 'a client to fetch round 1 by CID')
    const cid = fetchedLog()?.cid as string
    // A member asks the coordinator and gets the block; the rogue peer asks the coordinator and every client, and gets nothing.
    const member = clients[0] as TestNode
    const granted = await member.mesh.rpc.call(coordinator.peerId, STORE_BLOCKS, { cids: [cid] })
    expect(granted.blocks.map((b) => b.cid)).toEqual([cid])
    for (const peer of [coordinator, ...clients]) {
      const asked = await rogue.mesh.rpc.call(peer.peerId, STORE_BLOCKS, { cids: [cid] })
      expect(asked.blocks).toEqual([])
      expect(asked.missing).toEqual([cid])
      expect((await rogue.mesh.rpc.call(peer.peerId, STORE_HAVE, { root: cid })).complete).toBe(false)
    }
    // Nor is it in the DHT or announced anywhere.
    expect([coordinator, ...clients].some((n) => n.blockExchange?.announced(parseCid(cid)))).toBe(false)
    coordinator.fl.cancel(view.id)
    await until(() => coordinator.fl.coordinator.isRunning(view.id) === false, 30_000, 'the job to stop')
  }, 200_000)

  it('drops a provider that serves a corrupted model block, and refuses a CID whose bytes are another model', async () => {
    // The rogue plays the coordinator of its own job (the test mesh lets any peer coordinate) and an evil provider.
    const client = clients[1] as TestNode
    const evil = await startTestNode({ bootstrap: [client.addrs[0] as string], fl: { participate: false } as never })
    await until(() => client.mesh.connections().some((x) => x.peer === evil.peerId), 10_000, 'the evil provider to connect')
    await evil.mesh.rpc.unhandle(STORE_BLOCKS)
    await evil.mesh.rpc.handle(STORE_BLOCKS, (req) => ({ blocks: req.cids.map((c) => ({ cid: c, data: new Uint8Array(randomBytes(64)) })), missing: [] }))
    const spec = parseJobSpec({ ...SPEC, handout: 'cid' })
    const jobId = 'handout-attack'
    const invited = await rogue.mesh.rpc.call(client.peerId, FL_INVITE, { jobId, specJson: JSON.stringify(spec) })
    expect(invited.accepted, invited.reason).toBe(true)

    const params = new Float32Array(10).map((_, i) => i / 10)
    const set = vectorSet(MODEL_TENSOR, params)
    const row = await rogue.store!.addFile([encodeTensorSet(set)], { pin: true })
    await rogue.blockExchange!.serveTo(parseCid(row.cid), [client.peerId])
    const task = (modelHash: Uint8Array, round: number) =>
      create(TrainRequestSchema, { jobId, round, modelHash, seed: 1, modelCid: row.cid, modelProviders: [evil.peerId, rogue.peerId] })

    // The evil provider is asked first: its block fails its CID and it is dropped; the block comes from the rogue coordinator.
    const before = client.blockExchange!.badProviders.length
    const taken = await rogue.mesh.rpc.call(client.peerId, FL_TRAIN, task(tensorSetHash(set), 1))
    expect(taken.accepted, taken.reason).toBe(true)
    expect(taken.modelBlocks).toEqual({ [rogue.peerId]: 1 })
    expect(client.blockExchange!.badProviders.slice(before).map((r) => [r.peer, r.reason])).toEqual([[evil.peerId, 'bad-block']])

    // A task whose hash names another model than the CID's bytes: refused, nothing trained.
    const other = tensorSetHash(vectorSet(MODEL_TENSOR, new Float32Array(10)))
    const refused = await rogue.mesh.rpc.call(client.peerId, FL_TRAIN, task(other, 2))
    expect(refused.accepted).toBe(false)
    expect(refused.reason).toMatch(/hashes to [0-9a-f]{12}, the task names [0-9a-f]{12}/)
    await rogue.mesh.rpc.call(client.peerId, FL_CANCEL, { jobId, reason: 'test over' })
    await evil.stop()
  }, 60_000)

  it('attacker: a coordinator naming a DAG far larger than the job model gets the fetch stopped near the model size', async () => {
    // The job's model is logreg on 4 features (10 weights, 40 bytes); the rogue coordinator names a 32 MiB file.
    const client = clients[2] as TestNode
    const jobId = 'handout-huge'
    const invited = await rogue.mesh.rpc.call(client.peerId, FL_INVITE, { jobId, specJson: JSON.stringify(parseJobSpec({ ...SPEC, handout: 'cid' })) })
    expect(invited.accepted, invited.reason).toBe(true)
    const huge = await rogue.store!.addFile([new Uint8Array(randomBytes(32 * 2 ** 20))], { pin: true })
    const root = parseCid(huge.cid)
    await rogue.blockExchange!.serveTo(root, [client.peerId])
    const modelHash = tensorSetHash(vectorSet(MODEL_TENSOR, new Float32Array(10)))
    const task = create(TrainRequestSchema, { jobId, round: 1, modelHash, seed: 1, modelCid: huge.cid, modelProviders: [rogue.peerId] })
    const served = async () => Number(/weft_store_served_bytes_total (\d+)/.exec(await (await fetch(`${rogue.apiUrl}/metrics`)).text())?.[1] ?? 0)
    const servedBefore = await served()
    const refused = await rogue.mesh.rpc.call(client.peerId, FL_TRAIN, task)
    expect(refused.accepted).toBe(false)
    expect(refused.reason).toMatch(/is over \d+ bytes; a model hand-out may be at most \d+/)
    // The answers in flight when the bound is crossed (at most 4 of 3 MiB) still arrive; the rest is never asked for.
    const pulled = (await served()) - servedBefore
    expect(pulled).toBeGreaterThan(0)
    expect(pulled).toBeLessThan(20 * 2 ** 20)
    expect((await client.store!.stat(root))?.pinned ?? false).toBe(false)
    await rogue.mesh.rpc.call(client.peerId, FL_CANCEL, { jobId, reason: 'test over' })
  }, 120_000)
})
