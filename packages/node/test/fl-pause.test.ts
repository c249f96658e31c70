// Issue 15, deliverable 8: a coordinator whose SQLite store fills up stays up and pauses the job with the reason,
// then resumes it by itself once writes succeed again, losing nothing it had acknowledged. The store is the real
// one; SQLite's max_page_count makes it genuinely full (SQLITE_FULL), as a full disk would. Issue 16, deliverable 5:
// the same when the node's block store (where the tensors are) reaches its quota.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  type Coordinator,
  type CoordinatorTransport,
  createCoordinator,
  isJobEvent,
  isStorageFull,
  type JobRecord,
  ManualClock,
  parseJobSpec,
  settle,
  type TrainAssignment,
} from '@weft/fl'
import { afterEach, describe, expect, it } from 'vitest'
import { CID } from '@weft/store'
import { openDiskStore, storeDir } from '@weft/store/node'
import { openFlStore } from '../src/fl/fl-store.js'

const clients = ['a', 'b', 'c']
const dirs: string[] = []
let coordinator: Coordinator | undefined
afterEach(async () => {
  await coordinator?.stop()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** Clients that take their task and answer at once with a small update through admit/deliver, as the mesh does. */
function transport(clock: ManualClock, get: () => Coordinator): CoordinatorTransport {
  return {
    candidates: () => clients,
    invite: async () => ({ ok: true as const, examples: 10 }),
    async train(id: string, task: TrainAssignment) {
      clock.setTimer(() => {
        const header = { jobId: task.jobId, round: task.round, baseHash: task.modelHash, examples: 10, trainLoss: 0.5, trainAccuracy: 0.5, trainSeconds: 0.01, length: 202 }
        const c = get()
        const delta = new Float32Array(202).fill(0.01)
        if (c.admit(id, header).ok) c.deliver(id, header, delta, { bytes: delta.byteLength, seconds: 0.001 })
      }, 5)
      return { ok: true as const, bytesDown: task.params.byteLength }
    },
    evaluate: async () => ({ ok: false as const, reason: 'not scripted' }),
    release: async () => {},
  }
}

async function waitFor(clock: ManualClock, cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    await settle()
    if (cond()) return
    clock.fireNext()
  }
  throw new Error(`never: ${what}`)
}

describe('issue 15, deliverable 8: SQLITE_FULL pauses the job, not the node', () => {
  it('pauses a job whose store is full with the reason, resumes it once there is space, and it finishes with every round', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-full-'))
    dirs.push(dir)
    const store = openFlStore(dir)
    const clock = new ManualClock()
    const c = createCoordinator({ store, transport: transport(clock, () => c), clock }, { pollMs: 50, pauseRetryMs: 10_000 })
    coordinator = c
    const spec = parseJobSpec({ model: { architecture: 'logreg', inputShape: [100], numClasses: 2 }, dataset: 'd', rounds: 30, clients: { min: 3 }, timeouts: { roundSeconds: 30, waitSeconds: 30 } })
    const job = c.submit(spec)
    await waitFor(clock, () => (store.getJob(job.id)?.round ?? 0) >= 3, 'round 3')
    // The disk fills: the database may not grow by another page.
    store.setMaxDatabaseBytes(1)
    await waitFor(clock, () => c.live(job.id)?.paused !== undefined, 'the pause')
    const paused = c.live(job.id)?.paused
    expect(paused?.reason).toMatch(/^the job's store is full \(database or disk is full\)/)
    expect(store.getJob(job.id)?.status).toBe('running')
    const roundAtPause = (store.getJob(job.id) as JobRecord).round
    // Retries while still full keep it paused (and the node, this process, up).
    for (let i = 0; i < 3; i++) await clock.advance(10_000)
    await settle()
    expect(c.live(job.id)?.paused?.since).toBe(paused?.since)
    // Space again: it resumes from its last committed round and finishes every round.
    store.setMaxDatabaseBytes(undefined)
    await clock.advance(10_000)
    const end = await (async () => {
      let rec: JobRecord | undefined
      void c.done(job.id).then((r) => {
        rec = r
      })
      await waitFor(clock, () => c.live(job.id) === undefined && store.getJob(job.id)?.status !== 'running', 'the end')
      return rec ?? (store.getJob(job.id) as JobRecord)
    })()
    expect(store.getJob(job.id)?.status, end.error).toBe('finished')
    expect(store.listRounds(job.id).filter((r) => r.status === 'closed').map((r) => r.round)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    const events = store.events(job.id, 0, 10_000)
    const resumed = events.filter(isJobEvent('job-resumed'))
    expect(resumed.map((e) => e.data)).toEqual([{ round: roundAtPause, pausedFor: paused?.reason }])
    expect(events.filter(isJobEvent('job-failed'))).toEqual([])
  })

  it("pauses a job whose block store quota is full (StoreFullError), and resumes it once a user's file is unpinned and gc'd", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-fl-quota-'))
    dirs.push(dir)
    const blockStore = openDiskStore(storeDir(dir), { maxBytes: 64 * 1024 })
    const store = openFlStore(dir, { blockStore })
    const clock = new ManualClock()
    const c = createCoordinator({ store, transport: transport(clock, () => c), clock }, { pollMs: 50, pauseRetryMs: 10_000 })
    coordinator = c
    try {
      const spec = parseJobSpec({ model: { architecture: 'logreg', inputShape: [100], numClasses: 2 }, dataset: 'd', rounds: 8, clients: { min: 3 }, timeouts: { roundSeconds: 30, waitSeconds: 30 } })
      const job = c.submit(spec)
      await waitFor(clock, () => (store.getJob(job.id)?.round ?? 0) >= 2, 'round 2')
      // A user's file fills the quota: the next tensor the FL store writes does not fit.
      const used = blockStore.usage().usedBytes
      const filler = await blockStore.addFile([new Uint8Array(64 * 1024 - used - 100).fill(7)], { name: 'filler' })
      await waitFor(clock, () => c.live(job.id)?.paused !== undefined, 'the pause')
      expect(c.live(job.id)?.paused?.reason).toMatch(/^the job's store is full \(the block store is full: its quota store.maxBytes is 65536 bytes/)
      expect(store.getJob(job.id)?.status).toBe('running')
      // Space again: the user unpins the file and runs gc; the job resumes and finishes every round.
      blockStore.unpin(CID.parse(filler.cid))
      blockStore.gc()
      await clock.advance(10_000)
      await waitFor(clock, () => c.live(job.id) === undefined && store.getJob(job.id)?.status !== 'running', 'the end')
      expect(store.getJob(job.id)?.status).toBe('finished')
      expect(store.listRounds(job.id).filter((r) => r.status === 'closed')).toHaveLength(8)
      expect(store.events(job.id, 0, 10_000).filter(isJobEvent('job-failed'))).toEqual([])
    } finally {
      await c.stop()
      coordinator = undefined
      store.close()
      blockStore.close()
    }
  })

  it('knows a full store by its code, through causes: SQLITE_FULL, ENOSPC, EDQUOT', () => {
    expect(isStorageFull(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(true)
    expect(isStorageFull(new Error('write failed', { cause: Object.assign(new Error('no space'), { code: 'ENOSPC' }) }))).toBe(true)
    expect(isStorageFull(Object.assign(new Error('locked'), { code: 'SQLITE_BUSY' }))).toBe(false)
    expect(isStorageFull('ENOSPC')).toBe(false)
  })
})
