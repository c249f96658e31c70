// The node's JobStore (rows in fl.db, tensors as held roots of the node's block store) keeps the JobStore laws and
// the durability ones across a reopen; references, crash reconciliation, gc, the quota and the old layout's migration.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type JobRecord, type JobStore, MODEL_TENSOR, parseJobSpec, type RoundMetrics, vectorSet } from '@weft/fl'
import { encodeTensorSet } from '@weft/protocol'
import { type FlStoreInit, openFlStore } from '@weft/node'
import { addFile, CID, createMemoryBlockstore } from '@weft/store'
import { type DiskStore, openDiskStore, storeDir } from '@weft/store/node'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { jobStoreLaws } from '../../fl/test/job-store-compliance.js'

const dirs: string[] = []
const stores = new Map<JobStore, { dir: string; close(): void }>()
const blockStores: DiskStore[] = []
afterAll(() => {
  for (const s of stores.values()) s.close()
  for (const b of blockStores) b.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** The node's block store of a data directory, as the node opens it. */
function openBlockStore(dir: string, init: Parameters<typeof openDiskStore>[1] = {}): DiskStore {
  const b = openDiskStore(storeDir(dir), init)
  blockStores.push(b)
  return b
}

function open(dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-')), init: FlStoreInit = {}): JobStore {
  dirs.push(dir)
  const store = openFlStore(dir, init)
  stores.set(store, { dir, close: () => store.close() })
  return store
}

jobStoreLaws('SQLite (openFlStore)', {
  open: (init) => open(undefined, init),
  reopen(store) {
    const s = stores.get(store)
    if (s === undefined) throw new Error('not a store of this test')
    s.close()
    stores.delete(store)
    return open(s.dir)
  },
})

const spec = parseJobSpec({ model: { architecture: 'logreg', inputShape: [3], numClasses: 2 }, dataset: 'd', rounds: 3, clients: { min: 1 } })
const job = (id: string): JobRecord => ({ id, spec, status: 'running', round: 1, modelHash: `m0-${id}`, submitter: 'local', createdAt: 1, updatedAt: 1 })
const update = (clientId: string) => ({ clientId, round: 1, baseRound: 1, examples: 10, trainLoss: 0.5, trainAccuracy: 0, trainSeconds: 1, uploadSeconds: 0.1, bytes: 12 })
const metrics = (): RoundMetrics => ({
  sampled: 1,
  results: 1,
  dropped: 0,
  refused: 0,
  examples: 10,
  trainLoss: 0.5,
  bytesDown: 12,
  bytesUp: 12,
  seconds: { total: 1, broadcast: 0, training: 1, upload: 0, aggregation: 0 },
  overheadSeconds: 0,
})
/** The blocks left in a block store once gc ran (each tensor of these tests is one block). */
const liveBlocks = (b: DiskStore): number => {
  b.gc()
  return b.usage().blocks
}
const floatBytes = (values: Float32Array): Uint8Array => new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
/** The root a tensor (a delta, a state tensor) gets as a file: what addFile gives its bytes. */
const rootOf = async (values: Float32Array): Promise<string> => (await addFile([floatBytes(values)], createMemoryBlockstore())).cid.toString()
/** The root a model gets: what addFile gives its hand-out bytes (the encoded one-tensor set a hand-out puts). */
const modelRootOf = async (params: Float32Array): Promise<string> =>
  (await addFile([encodeTensorSet(vectorSet(MODEL_TENSOR, params))], createMemoryBlockstore())).cid.toString()

describe('issue 15, finding 6: blocks are deleted only when nothing references them', () => {
  it('two jobs share an identical update’s root: committing one keeps the other’s, committing both lets gc take it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    const b = openBlockStore(dir)
    const s = open(dir, { blockStore: b })
    const delta = Float32Array.from([0.25, 0.5, 0.75])
    for (const id of ['a', 'b']) {
      s.createJob(job(id), Float32Array.from([1, 2, 3]))
      s.openRound(id, 1, ['c1'], `m0-${id}`, 1)
      s.addUpdate(id, update('c1'), delta)
    }
    const blocks = liveBlocks(b)
    s.commitRound('a', 1, Float32Array.from([9, 9, 9]), 'm1-a', metrics(), { tensors: {}, scalars: {} }, 2)
    expect([...(s.loadDelta('b', 1, 'c1') ?? [])]).toEqual([0.25, 0.5, 0.75])
    // The initial model is shared by both jobs too: it stays with the round's output beside it.
    expect([...(s.getModel('m0-a') ?? [])]).toEqual([1, 2, 3])
    expect(liveBlocks(b)).toBe(blocks + 1)
    s.commitRound('b', 1, Float32Array.from([8, 8, 8]), 'm1-b', metrics(), { tensors: {}, scalars: {} }, 2)
    expect(s.loadDelta('b', 1, 'c1')).toBeUndefined()
    expect(liveBlocks(b)).toBe(blocks + 1)
  })

  it('a job’s old strategy-state roots go at gc when it advances, one still shared with another job kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    const b = openBlockStore(dir)
    const s = open(dir, { blockStore: b })
    const shared = Float32Array.from([7, 7, 7])
    for (const id of ['a', 'b']) {
      s.createJob(job(id), Float32Array.from([1, 2, 3]))
      s.openRound(id, 1, [], `m0-${id}`, 1)
    }
    s.commitRound('a', 1, Float32Array.from([1, 1, 1]), 'm1', metrics(), { tensors: { m: Float32Array.from([4, 4, 4]), v: shared }, scalars: { t: 1 } }, 2)
    s.commitRound('b', 1, Float32Array.from([1, 1, 1]), 'm1', metrics(), { tensors: { v: shared }, scalars: {} }, 2)
    const blocks = liveBlocks(b)
    s.openRound('a', 2, [], 'm1', 3)
    s.commitRound('a', 2, Float32Array.from([2, 2, 2]), 'm2', metrics(), { tensors: { m: Float32Array.from([5, 5, 5]), v: Float32Array.from([6, 6, 6]) }, scalars: { t: 2 } }, 4)
    // +1 model, +2 new state tensors, −1 old `m` (the old `v` is still job b's).
    expect(liveBlocks(b)).toBe(blocks + 2)
    expect([...(s.getStrategyState('b')?.tensors['v'] ?? [])]).toEqual([7, 7, 7])
    expect([...(s.getStrategyState('a')?.tensors['m'] ?? [])]).toEqual([5, 5, 5])
    // Committing an unchanged tensor again keeps its root.
    s.openRound('a', 3, [], 'm2', 5)
    s.commitRound('a', 3, Float32Array.from([2, 2, 2]), 'm2', metrics(), { tensors: { m: Float32Array.from([5, 5, 5]), v: Float32Array.from([6, 6, 6]) }, scalars: { t: 3 } }, 6)
    liveBlocks(b)
    expect([...(s.getStrategyState('a')?.tensors['v'] ?? [])]).toEqual([6, 6, 6])
    expect([...(s.getModel('m1') ?? [])]).toEqual([1, 1, 1])
  })
})

/**
 * Writes a data dir as the code before issue 16's deliverable 5 left it, by hand: fl.db at schema 4 with fl_blocks, and
 * the tensors as sha256-named files under blocks/ (models m0-a, m1 and one lost; a delta two jobs share; a state tensor).
 */
function writeOldLayout(dir: string): void {
  // The old code's data dir, written by hand: schema 4 with fl_blocks, and the tensors as sha256-named files.
  open(dir)
  const [only] = [...stores.entries()].filter(([, v]) => v.dir === dir)
  only?.[1].close()
  if (only !== undefined) stores.delete(only[0])
  rmSync(storeDir(dir), { recursive: true, force: true })
  const tensors = { model: Float32Array.from([1, 2, 3]), next: Float32Array.from([4, 5, 6]), delta: Float32Array.from([0.5, 0.5, 0.5]), m: Float32Array.from([7, 7, 7]) }
  const names: Record<string, string> = {}
  for (const [k, v] of Object.entries(tensors)) {
    const name = createHash('sha256').update(floatBytes(v)).digest('hex')
    names[k] = name
    mkdirSync(join(dir, 'blocks', name.slice(0, 2)), { recursive: true })
    writeFileSync(join(dir, 'blocks', name.slice(0, 2), name), floatBytes(v))
  }
  const db = new Database(join(dir, 'fl.db'))
  db.exec('CREATE TABLE fl_blocks (name TEXT PRIMARY KEY, refs INTEGER NOT NULL); UPDATE schema_version SET version = 4')
  db.prepare(`INSERT INTO fl_jobs (id, spec, status, round, model_hash, submitter, created_at, updated_at, strategy_state)
    VALUES ('a', ?, 'running', 2, 'm1', 'local', 1, 1, ?)`).run(JSON.stringify(spec), JSON.stringify({ tensors: { m: names['m'] }, scalars: { t: 1 } }))
  db.prepare('INSERT INTO fl_models (hash, block) VALUES (?, ?), (?, ?), (?, ?)').run('m0-a', names['model'], 'm1', names['next'], 'lost', 'f'.repeat(64))
  db.prepare(`INSERT INTO fl_updates (job_id, client_id, base_round, round, examples, train_loss, train_accuracy, train_seconds, upload_seconds, bytes, delta_block, seq)
    VALUES ('a', 'c1', 2, 2, 10, 0.5, 0, 1, 0.1, 12, ?, 1), ('b', 'c1', 2, 2, 10, 0.5, 0, 1, 0.1, 12, ?, 1)`).run(names['delta'], names['delta'])
  for (const [name, refs] of [[names['model'], 1], [names['next'], 1], [names['delta'], 2], [names['m'], 1]] as const) db.prepare('INSERT INTO fl_blocks VALUES (?, ?)').run(name, refs)
  db.close()
}

describe('issue 16, deliverable 5: the FL store keeps its tensors in the node block store', () => {
  it('stores a model under the root addFile gives its hand-out bytes, held by fl, unpinned, and never in fl.db', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    const b = openBlockStore(dir)
    const s = open(dir, { blockStore: b })
    const model = Float32Array.from({ length: 300_000 }, (_, i) => Math.sin(i)) // 1.2 MB: two leaves and a node
    s.createJob(job('a'), model)
    const root = await modelRootOf(model)
    const row = b.roots().find((r) => r.cid === root)
    expect(row).toMatchObject({ pinned: false, held: ['fl'], blocks: 3 })
    expect(row?.size).toBeGreaterThan(model.byteLength)
    const db = new Database(join(dir, 'fl.db'), { readonly: true })
    expect(db.prepare('SELECT block FROM fl_models WHERE hash = ?').pluck().get('m0-a')).toBe(root)
    db.close()
    expect(existsSync(join(dir, 'blocks'))).toBe(false)
    expect(s.hasModel('m0-a')).toBe(true)
    expect(Buffer.compare(floatBytes(s.getModel('m0-a') as Float32Array), floatBytes(model))).toBe(0)
  })

  it("a committed round's model survives gc and a user's unpin; a released delta is collected by gc", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    const b = openBlockStore(dir)
    const s = open(dir, { blockStore: b })
    const delta = Float32Array.from([0.1, 0.2, 0.3])
    s.createJob(job('a'), Float32Array.from([1, 2, 3]))
    s.openRound('a', 1, ['c1'], 'm0-a', 1)
    s.addUpdate('a', update('c1'), delta)
    const deltaRoot = CID.parse(await rootOf(delta))
    expect(b.roots().find((r) => r.cid === deltaRoot.toString())?.held).toEqual(['fl'])
    s.commitRound('a', 1, Float32Array.from([4, 5, 6]), 'm1', metrics(), { tensors: {}, scalars: {} }, 2)
    const modelRoot = CID.parse(await modelRootOf(Float32Array.from([4, 5, 6])))
    // A user unpinning the model's root (it was never pinned) or pinning and unpinning it leaves the FL hold.
    await b.pin(modelRoot)
    b.unpin(modelRoot)
    const { removedBlocks } = b.gc()
    expect(removedBlocks).toBe(1) // the delta
    expect(b.readBytesSync(deltaRoot)).toBeUndefined()
    expect([...(s.getModel('m1') ?? [])]).toEqual([4, 5, 6])
    expect(b.held('fl').map((h) => h.root).sort()).toEqual([modelRoot.toString(), await modelRootOf(Float32Array.from([1, 2, 3]))].sort())
  })

  it('reconciles a crash between the block write and the fl.db commit: the hold taken is given back on open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    let b = openBlockStore(dir)
    let s = open(dir, { blockStore: b })
    s.createJob(job('a'), Float32Array.from([1, 2, 3]))
    s.openRound('a', 1, ['c1'], 'm0-a', 1)
    s.addUpdate('a', update('c1'), Float32Array.from([0.5, 0.5, 0.5]))
    // The crash: a delta's blocks written and held as addUpdate does first, and the process gone before its row commits.
    const orphan = Float32Array.from([9, 9, 9])
    b.addBytesSync(floatBytes(orphan), { hold: 'fl' })
    // And a second hold on a root rows do reference (a crash after a commit that dropped a reference, before its release).
    const kept = CID.parse(await rootOf(Float32Array.from([0.5, 0.5, 0.5])))
    b.hold(kept, 'fl')
    stores.get(s)?.close()
    stores.delete(s)
    b.close()
    b = openBlockStore(dir)
    s = open(dir, { blockStore: b })
    expect(b.held('fl').find((h) => h.root === kept.toString())?.count).toBe(1)
    const orphanRoot = await rootOf(orphan)
    expect(b.held('fl').map((h) => h.root)).not.toContain(orphanRoot)
    expect(b.gc().removedBlocks).toBe(1)
    expect(b.readBytesSync(CID.parse(orphanRoot))).toBeUndefined()
    expect([...(s.loadDelta('a', 1, 'c1') ?? [])]).toEqual([0.5, 0.5, 0.5])
    expect([...(s.getModel('m0-a') ?? [])]).toEqual([1, 2, 3])
  })

  it('refuses a tensor past the block store quota with its StoreFullError (code EDQUOT), storing no row', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    const b = openBlockStore(dir, { maxBytes: 100_000 })
    const s = open(dir, { blockStore: b })
    s.createJob(job('a'), Float32Array.from([1, 2, 3]))
    s.openRound('a', 1, ['c1'], 'm0-a', 1)
    let err: unknown
    try {
      s.addUpdate('a', update('c1'), new Float32Array(30_000))
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ name: 'StoreFullError', code: 'EDQUOT', maxBytes: 100_000 })
    expect(s.hasUpdate('a', 'c1', 1)).toBe(false)
    expect(b.held('fl')).toHaveLength(1) // the initial model only
  })

  it('migrates a data dir of the old layout (rows naming blocks/<aa>/<sha256>): tensors move to the block store, the folder goes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    writeOldLayout(dir)

    const b = openBlockStore(dir)
    const s = open(dir, { blockStore: b })
    expect(existsSync(join(dir, 'blocks'))).toBe(false)
    expect([...(s.getModel('m0-a') ?? [])]).toEqual([1, 2, 3])
    expect([...(s.getModel('m1') ?? [])]).toEqual([4, 5, 6])
    expect(s.getModel('lost')).toBeUndefined() // a block already lost before stays lost, and breaks nothing
    expect([...(s.loadDelta('a', 2, 'c1') ?? [])]).toEqual([0.5, 0.5, 0.5])
    expect([...(s.getStrategyState('a')?.tensors['m'] ?? [])]).toEqual([7, 7, 7])
    expect(s.getStrategyState('a')?.scalars).toEqual({ t: 1 })
    // One hold per reference: the shared delta is held twice, and survives job a's commit.
    const held = new Map(b.held('fl').map((h) => [h.root, h.count]))
    expect([...held.values()].sort()).toEqual([1, 1, 1, 2])
    s.commitRound('a', 2, Float32Array.from([8, 8, 8]), 'm2', metrics(), { tensors: { m: Float32Array.from([7, 7, 7]) }, scalars: {} }, 3)
    b.gc()
    expect(s.loadDelta('a', 2, 'c1')).toBeUndefined()
    expect([...(s.loadDelta('b', 2, 'c1') ?? [])]).toEqual([0.5, 0.5, 0.5])
    expect([...(s.getStrategyState('a')?.tensors['m'] ?? [])]).toEqual([7, 7, 7])
  })

  it('a migration past the block store quota fails with StoreFullError and loses nothing: the old files stay until it fits', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    writeOldLayout(dir)
    const full = openDiskStore(storeDir(dir), { maxBytes: 50 })
    expect(() => openFlStore(dir, { blockStore: full })).toThrow(expect.objectContaining({ name: 'StoreFullError' }))
    full.close()
    expect(existsSync(join(dir, 'blocks'))).toBe(true)
    const s = open(dir, { blockStore: openBlockStore(dir) })
    expect(existsSync(join(dir, 'blocks'))).toBe(false)
    expect([...(s.getModel('m1') ?? [])]).toEqual([4, 5, 6])
    expect([...(s.loadDelta('b', 2, 'c1') ?? [])]).toEqual([0.5, 0.5, 0.5])
  })
})
