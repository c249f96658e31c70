// The node's SQLite + block-file JobStore keeps the JobStore laws, and the durability ones across a reopen.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type JobRecord, type JobStore, parseJobSpec, type RoundMetrics } from '@weft/fl'
import { type FlStoreInit, openFlStore } from '@weft/node'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { jobStoreLaws } from '../../fl/test/job-store-compliance.js'

const dirs: string[] = []
const stores = new Map<JobStore, { dir: string; close(): void }>()
afterAll(() => {
  for (const s of stores.values()) s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

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
/** The block files under a store's directory. */
const blockFiles = (dir: string): string[] =>
  existsSync(join(dir, 'blocks')) ? readdirSync(join(dir, 'blocks'), { recursive: true, encoding: 'utf8' }).filter((f) => /[0-9a-f]{64}$/.test(f)) : []

describe('issue 15, finding 6: blocks are deleted only when nothing references them', () => {
  it('two jobs share an identical update’s block: committing one keeps the other’s, committing both deletes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    const s = open(dir)
    const delta = Float32Array.from([0.25, 0.5, 0.75])
    for (const id of ['a', 'b']) {
      s.createJob(job(id), Float32Array.from([1, 2, 3]))
      s.openRound(id, 1, ['c1'], `m0-${id}`, 1)
      s.addUpdate(id, update('c1'), delta)
    }
    const files = blockFiles(dir).length
    s.commitRound('a', 1, Float32Array.from([9, 9, 9]), 'm1-a', metrics(), { tensors: {}, scalars: {} }, 2)
    expect([...(s.loadDelta('b', 1, 'c1') ?? [])]).toEqual([0.25, 0.5, 0.75])
    // The initial model is shared by both jobs too: it stays with the round's output beside it.
    expect([...(s.getModel('m0-a') ?? [])]).toEqual([1, 2, 3])
    expect(blockFiles(dir).length).toBe(files + 1)
    s.commitRound('b', 1, Float32Array.from([8, 8, 8]), 'm1-b', metrics(), { tensors: {}, scalars: {} }, 2)
    expect(s.loadDelta('b', 1, 'c1')).toBeUndefined()
    expect(blockFiles(dir).length).toBe(files + 1)
  })

  it('a job’s old strategy-state blocks are deleted when it advances, one still shared with another job kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    const s = open(dir)
    const shared = Float32Array.from([7, 7, 7])
    for (const id of ['a', 'b']) {
      s.createJob(job(id), Float32Array.from([1, 2, 3]))
      s.openRound(id, 1, [], `m0-${id}`, 1)
    }
    s.commitRound('a', 1, Float32Array.from([1, 1, 1]), 'm1', metrics(), { tensors: { m: Float32Array.from([4, 4, 4]), v: shared }, scalars: { t: 1 } }, 2)
    s.commitRound('b', 1, Float32Array.from([1, 1, 1]), 'm1', metrics(), { tensors: { v: shared }, scalars: {} }, 2)
    const files = blockFiles(dir).length
    s.openRound('a', 2, [], 'm1', 3)
    s.commitRound('a', 2, Float32Array.from([2, 2, 2]), 'm2', metrics(), { tensors: { m: Float32Array.from([5, 5, 5]), v: Float32Array.from([6, 6, 6]) }, scalars: { t: 2 } }, 4)
    // +1 model, +2 new state tensors, −1 old `m` (the old `v` is still job b's).
    expect(blockFiles(dir).length).toBe(files + 2)
    expect([...(s.getStrategyState('b')?.tensors['v'] ?? [])]).toEqual([7, 7, 7])
    expect([...(s.getStrategyState('a')?.tensors['m'] ?? [])]).toEqual([5, 5, 5])
    // Committing an unchanged tensor again keeps its block.
    s.openRound('a', 3, [], 'm2', 5)
    s.commitRound('a', 3, Float32Array.from([2, 2, 2]), 'm2', metrics(), { tensors: { m: Float32Array.from([5, 5, 5]), v: Float32Array.from([6, 6, 6]) }, scalars: { t: 3 } }, 6)
    expect([...(s.getStrategyState('a')?.tensors['v'] ?? [])]).toEqual([6, 6, 6])
    expect([...(s.getModel('m1') ?? [])]).toEqual([1, 1, 1])
  })
})

describe('the block-reference migration', () => {
  it('counts the references of a store written before it: a shared delta survives the first commit, state blocks go', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-store-'))
    let s = open(dir)
    const delta = Float32Array.from([0.5, 0.5, 0.5])
    for (const id of ['a', 'b']) {
      s.createJob(job(id), Float32Array.from([1, 2, 3]))
      s.openRound(id, 1, ['c1'], `m0-${id}`, 1)
    }
    s.commitRound('a', 1, Float32Array.from([1, 1, 1]), 'm1', metrics(), { tensors: { m: Float32Array.from([4, 4, 4]) }, scalars: {} }, 2)
    s.openRound('a', 2, ['c1'], 'm1', 3)
    s.addUpdate('a', { ...update('c1'), round: 2, baseRound: 2 }, delta)
    s.addUpdate('b', update('c1'), delta)
    // Back to the schema of before the migration: no reference counts.
    stores.get(s)?.close()
    stores.delete(s)
    const db = new Database(join(dir, 'fl.db'))
    db.exec('DROP TABLE fl_blocks; DROP TABLE fl_members; UPDATE schema_version SET version = 2')
    db.close()
    s = open(dir)
    const files = blockFiles(dir).length
    s.commitRound('a', 2, Float32Array.from([2, 2, 2]), 'm2', metrics(), { tensors: { m: Float32Array.from([5, 5, 5]) }, scalars: {} }, 4)
    expect([...(s.loadDelta('b', 1, 'c1') ?? [])]).toEqual([0.5, 0.5, 0.5])
    // +1 model, +1 state tensor, −1 old state tensor; the delta is still b's.
    expect(blockFiles(dir).length).toBe(files + 1)
    expect([...(s.getModel('m1') ?? [])]).toEqual([1, 1, 1])
  })
})
