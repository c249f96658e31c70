// Issue 16, deliverable 5: the FL store's tensors are held roots of the node's block store, private to the node. A
// peer that knows a held root's CID (a delta it saw, a model it guessed) gets no block of it; a round model handed out
// by CID is the FL store's own root, and the hand-out's pin and the FL store's hold never drop each other.
import { createApiClient } from '@weft/api-client'
import { MODEL_TENSOR, parseJobSpec, vectorSet } from '@weft/fl'
import { encodeTensorSet, STORE_BLOCKS, STORE_HAVE } from '@weft/protocol'
import { CID } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { blockStoreHandout } from '../src/fl/model-handout.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

describe('the FL store in the node block store: private, and at peace with hand-outs', () => {
  let coordinator: TestNode
  let rogue: TestNode

  beforeAll(async () => {
    coordinator = await startTestNode({ fl: { participate: false } as never })
    rogue = await startTestNode({ bootstrap: [coordinator.addrs[0] as string], fl: { participate: false } as never })
    await until(() => coordinator.peers.list().some((p) => p.peerId === rogue.peerId && p.status === 'alive'), 30_000, 'the rogue peer')
  }, 60_000)

  afterAll(async () => {
    await Promise.all([coordinator, rogue].map((n) => n?.stop()))
    removeTestDirs()
  })

  const spec = parseJobSpec({ model: { architecture: 'logreg', inputShape: [4], numClasses: 2 }, dataset: 'synth', rounds: 2, clients: { min: 3 }, timeouts: { roundSeconds: 60, waitSeconds: 600 } })

  it('attacker: a peer asking store/blocks and store/have for a held model or delta CID gets nothing', async () => {
    const store = coordinator.store
    if (store === undefined) throw new Error('the coordinator runs a block store')
    const view = coordinator.fl.submit(spec)
    // The job's initial model, stored at submit: held by fl in the node's block store.
    const [model] = store.held('fl')
    expect(model).toBeDefined()
    // A delta as the FL store stores it (what a hostile client that sent it, or saw it, knows the CID of).
    const delta = store.addBytesSync(new Uint8Array(Float32Array.from([0.25, -0.5, 1, 2]).buffer), { hold: 'fl' })
    for (const cid of [model?.root as string, delta.toString()]) {
      const asked = await rogue.mesh.rpc.call(coordinator.peerId, STORE_BLOCKS, { cids: [cid] })
      expect(asked.blocks).toEqual([])
      expect(asked.missing).toEqual([cid])
      expect((await rogue.mesh.rpc.call(coordinator.peerId, STORE_HAVE, { root: cid })).complete).toBe(false)
      expect(coordinator.blockExchange?.announced(CID.parse(cid))).toBe(false)
    }
    // The node's API shows them as held by fl, not pinned.
    const api = createApiClient({ url: coordinator.apiUrl })
    const listed = (await api.storeList()).roots.find((r) => r.cid === delta.toString())
    expect(listed).toMatchObject({ pinned: false, held: ['fl'] })
    expect((await api.storeStat(model?.root as string)).held).toEqual(['fl'])
    store.release(delta, 'fl')
    coordinator.fl.cancel(view.id)
    await until(() => coordinator.fl.coordinator.isRunning(view.id) === false, 30_000, 'the job to stop')
  })

  it("a hand-out of a model the FL store holds is its root: releasing either leaves the other's, and gc keeps the model until both are gone", async () => {
    const store = coordinator.store
    const exchange = coordinator.blockExchange
    if (store === undefined || exchange === undefined) throw new Error('the coordinator runs a block store and its exchange')
    const handout = blockStoreHandout(store, exchange)
    // A round model as the FL store stores it and a hand-out puts it: its one-tensor set, encoded.
    const bytes = encodeTensorSet(vectorSet(MODEL_TENSOR, Float32Array.from({ length: 1000 }, (_, i) => i / 7)))
    const root = store.addBytesSync(bytes, { hold: 'fl' })
    const before = store.usage()

    // A hand-out finds it (same root, nothing written again) and serves it to the named peer only.
    const cid = await handout.put(bytes, [rogue.peerId], 'round-1')
    expect(cid).toBe(root.toString())
    expect(store.usage().usedBytes).toBe(before.usedBytes)
    expect((await rogue.mesh.rpc.call(coordinator.peerId, STORE_BLOCKS, { cids: [cid] })).blocks.map((b) => b.cid)).toEqual([cid])
    // The hand-out released: unserved and unpinned, and still held by fl (gc keeps it).
    handout.release(cid)
    expect((await rogue.mesh.rpc.call(coordinator.peerId, STORE_BLOCKS, { cids: [cid] })).blocks).toEqual([])
    store.gc()
    expect(store.roots().find((r) => r.cid === cid)).toMatchObject({ pinned: false, held: ['fl'] })
    expect(Buffer.compare(store.readBytesSync(root) as Uint8Array, bytes)).toBe(0)

    // The other way: handed out again, then the FL store lets go of it: the hand-out's pin keeps it.
    await handout.put(bytes, [rogue.peerId], 'round-1')
    expect(store.release(root, 'fl')).toBe(0)
    store.gc()
    expect(store.roots().find((r) => r.cid === cid)).toMatchObject({ pinned: true })
    expect(store.roots().find((r) => r.cid === cid)?.held).toBeUndefined()
    expect((await rogue.mesh.rpc.call(coordinator.peerId, STORE_BLOCKS, { cids: [cid] })).blocks.map((b) => b.cid)).toEqual([cid])
    handout.release(cid)
    store.gc()
    expect(store.readBytesSync(root)).toBeUndefined()
  })
})
