// Orchestration on four real in-process nodes with different labels and capacities: batch work verified by a quorum
// (a cheating node is caught, its reputation falls and its results are replaced; receipts are countersigned, kept in
// hash-chained ledgers and verified across the mesh), placement obeys constraints and spread, nodes refuse
// reservations past what they advertised (an attacker asks), a lost placement moves, and when the owner of a job dies
// another node takes the job over and adopts its placement.
import { join } from 'node:path'
import { create } from '@bufbuild/protobuf'
import Database from 'better-sqlite3'
import { RpcError } from '@weft/mesh'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { JOBS_RESERVE, JOBS_TASK, ReserveRequestSchema, WireErrorCode } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyAnnouncement } from '../src/jobs/announcement.js'
import type { JobRecord } from '../src/jobs/job-record.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const JOBS = { leaseMs: 3_000, heartbeatMs: 300, maxAttempts: 20 }

describe('orchestration on in-process nodes', () => {
  let a: TestNode // site a, dc, 2 cores: the owner
  let b: TestNode // site a, edge, 1 core
  let c: TestNode // site b, dc, 2 cores
  let d: TestNode // site b, dc, 1 core, CHEATS on batch results
  let attacker: MeshNode | undefined

  const job = (node: TestNode, id: string): JobRecord => {
    const j = node.jobs?.scheduler.get(id)
    if (j === undefined) throw new Error(`${id} not on this node`)
    return j
  }
  const labelsOf = (peer: string | null): Record<string, string> => {
    for (const n of [a, b, c, d]) if (n.peerId === peer) return n.config.labels
    return {}
  }

  beforeAll(async () => {
    a = await startTestNode({ labels: { site: 'a', tier: 'dc' }, jobs: { ...JOBS, cores: 2 } })
    const bootstrap = [a.addrs[0] as string]
    b = await startTestNode({ bootstrap, labels: { site: 'a', tier: 'edge' }, jobs: { ...JOBS, cores: 1 } })
    c = await startTestNode({ bootstrap, labels: { site: 'b', tier: 'dc' }, jobs: { ...JOBS, cores: 2 } })
    d = await startTestNode({ bootstrap, labels: { site: 'b', tier: 'dc' }, jobs: { ...JOBS, cores: 1, cheat: true } })
    // Everyone knows everyone, with their work offers.
    await until(() => [a, b, c, d].every((n) => n.peers.list().filter((p) => p.status === 'alive' && p.ad.work !== undefined).length === 3), 20_000, 'a full mesh of work offers')
  }, 60_000)
  afterAll(async () => {
    await attacker?.stop()
    for (const n of [a, b, c, d]) await n?.stop()
    removeTestDirs()
  })

  it('verifies batch results by quorum: a cheating node is caught, its reputation falls, receipts chain and verify', async () => {
    const submitted = a.jobs?.scheduler.submit({
      kind: 'batch',
      name: 'shard-stats',
      replicas: 4,
      strategy: 'spread',
      resources: { cores: 0.5, memory: '64MiB' },
      batch: { task: 'stats', params: { source: 'fashion-mnist', split: 'test' }, shards: 8, quorum: 2 },
    }) as JobRecord
    await until(() => job(a, submitted.id).state !== 'running' && job(a, submitted.id).state !== 'pending', 120_000, 'the batch job to end')
    const done = job(a, submitted.id)
    expect(done.state, done.reason).toBe('done')
    expect(done.tasks.every((t) => t.state === 'accepted')).toBe(true)
    // Every accepted result is the honest one: the 8 shards' class counts add up to Fashion-MNIST's test split (1,000 per class).
    const counts = new Array<number>(10).fill(0)
    for (const t of done.tasks) {
      for (const [i, n] of (t.result as { classCounts: number[] }).classCounts.entries()) counts[i] = (counts[i] ?? 0) + n
    }
    expect(counts).toEqual(new Array(10).fill(1000))
    // The cheater's placements got tasks; every result it returned was refused and its record shows it.
    const cheater = done.tasks.filter((t) => t.asked.includes(d.peerId))
    expect(cheater.length).toBeGreaterThan(0)
    for (const t of done.tasks) for (const r of t.results) if (r.worker === d.peerId) expect(r.resultCid).not.toBe(t.resultCid)
    const rep = a.jobs?.scheduler.reputation().get(d.peerId)
    expect(rep?.invalid).toBeGreaterThan(0)
    expect(rep?.valid).toBe(0)
    // Receipts: the owner's ledger holds one per accepted result, honest workers got theirs, chains verify across the mesh.
    const head = a.jobs?.ledger.head()
    expect(head?.seq).toBe(done.receipts)
    expect(done.receipts).toBeGreaterThanOrEqual(8)
    const honest = [b, c].filter((n) => done.tasks.some((t) => t.results.some((r) => r.worker === n.peerId) && t.state === 'accepted'))
    expect(honest.length).toBeGreaterThan(0)
    for (const n of honest) {
      await until(() => (n.jobs?.ledger.head().seq ?? 0) > 0, 10_000, 'the worker to keep its receipts')
      const check = await a.jobs?.ledger.verify(n.peerId)
      expect(check?.verdict.ok).toBe(true)
      expect(check?.credit.find((x) => x.peerId === n.peerId)?.receipts).toBe(n.jobs?.ledger.head().seq)
    }
    expect(d.jobs?.ledger.head().seq).toBe(0)
    const own = await b.jobs?.ledger.verify(a.peerId)
    expect(own?.verdict.ok).toBe(true)
    expect(own?.credit.some((x) => x.peerId === d.peerId)).toBe(false)
  }, 150_000)

  it('detects a node that serves a tampered or reordered ledger', async () => {
    // The owner's ledger holds a receipt per accepted result (at least 8). Play a node that rewrites its own history:
    // edit its database behind its back, then let another node fetch and verify the chain.
    const db = new Database(join(a.config.dataDir, 'jobs.db'))
    const rows = db.prepare('SELECT seq, receipt FROM ledger ORDER BY seq').all() as Array<{ seq: number; receipt: Buffer }>
    expect(rows.length).toBeGreaterThanOrEqual(3)
    const [r1, r2, r3] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]]
    const set = db.prepare('UPDATE ledger SET receipt = ? WHERE seq = ?')
    const verdict = async () => (await b.jobs?.ledger.verify(a.peerId))?.verdict
    try {
      // One byte of one receipt (its credit, say) changed.
      const edited = Buffer.from(r2.receipt)
      edited[edited.length - 1] = (edited[edited.length - 1] ?? 0) ^ 1
      set.run(edited, r2.seq)
      expect(await verdict()).toMatchObject({ ok: false, seq: r2.seq })
      set.run(r2.receipt, r2.seq)
      expect((await verdict())?.ok).toBe(true)
      // Two receipts swapped (the chain reordered).
      db.transaction(() => {
        set.run(Buffer.from([0]), r1.seq)
        set.run(r1.receipt, r3.seq)
        set.run(r3.receipt, r1.seq)
      })()
      expect(await verdict()).toMatchObject({ ok: false, seq: r1.seq })
    } finally {
      db.transaction(() => {
        set.run(Buffer.from([0]), r1.seq)
        set.run(r3.receipt, r3.seq)
        set.run(r1.receipt, r1.seq)
      })()
      db.close()
    }
    expect((await verdict())?.ok).toBe(true)
  }, 60_000)

  it('places by labels and spreads across sites', async () => {
    const submitted = a.jobs?.scheduler.submit({
      kind: 'batch',
      name: 'dc-only',
      replicas: 2,
      resources: { cores: 0.5, memory: '64MiB' },
      constraints: { tier: 'dc', spread: { key: 'site', max: 1 } },
      batch: { task: 'stats', params: { source: 'fashion-mnist', split: 'test' }, grid: { shard: [{ index: 0, count: 50 }] }, quorum: 1 },
    }) as JobRecord
    await until(() => job(a, submitted.id).state === 'done', 30_000, 'the job to run its task')
    expect(job(a, submitted.id).tasks[0]?.state).toBe('accepted')
    const placed = job(a, submitted.id).placements.map((p) => p.peerId)
    expect(placed.every((p) => labelsOf(p).tier === 'dc')).toBe(true)
    expect(new Set(placed.map((p) => labelsOf(p).site)).size).toBe(2)
    // A constraint no node meets is refused with the reason, after bounded retries.
    const impossible = a.jobs?.scheduler.submit({ kind: 'batch', name: 'gpu', resources: { accelerators: 1 }, batch: { task: 'stats', params: {}, items: [1] } }) as JobRecord
    await until(() => job(a, impossible.id).placements[0]?.attempts !== 0, 10_000, 'a refusal')
    expect(job(a, impossible.id).placements[0]?.detail).toMatch(/unschedulable/)
    await a.jobs?.scheduler.cancel(impossible.id)
  }, 60_000)

  it('refuses reservations past the advertised capacity and tasks without a reservation, whoever asks', async () => {
    attacker = await createMeshNode({ privateKey: await generateKeyPair('Ed25519'), network: 'loopback' })
    await attacker.dial(b.addrs[0] as string)
    await attacker.dial(c.addrs[0] as string)
    const mesh = attacker
    const ask = (cores: number, placement: string) =>
      mesh.rpc.call(b.peerId, JOBS_RESERVE, create(ReserveRequestSchema, { jobId: 'greedy', placement, cores, memoryBytes: 1024n, leaseMs: 2_000, epoch: 1n }), { timeoutMs: 5_000 })
    await until(async () => (await ask(64, 'p0').catch(() => undefined)) !== undefined, 10_000, 'the attacker to reach b')
    const big = await ask(64, 'p0')
    expect(big?.granted).toBe(false)
    expect(big?.reason).toMatch(/capacity: .* cores free of 1 advertised, 64 asked/)
    expect((await ask(1, 'p1'))?.granted).toBe(true)
    expect((await ask(0.5, 'p2'))?.granted).toBe(false)
    const stolen = await attacker?.rpc.call(c.peerId, JOBS_TASK, { jobId: 'greedy', taskId: 't', placement: 'p1', spec: new TextEncoder().encode('{"task":"stats","params":{}}') }, { timeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(stolen).toBeInstanceOf(RpcError)
    expect((stolen as RpcError).code).toBe(WireErrorCode.NOT_FOUND)
    // The lease lapses and the core is free again.
    await until(async () => (b.jobs?.capacity.reserved().cores ?? 1) === 0, 10_000, 'the attacker\'s lease to lapse')
  }, 60_000)

  it('refuses placements from peers its operator did not name, and FL coordinators for non-submitters', async () => {
    // A node whose capacity is its own (jobs.from: none), and one that takes any member's work but coordinates FL
    // jobs only for the submitters it names (none).
    const closed = await startTestNode({ bootstrap: [a.addrs[0] as string], labels: { name: 'closed' }, jobs: { ...JOBS, from: [] } })
    const noFl = await startTestNode({ bootstrap: [a.addrs[0] as string], labels: { name: 'no-fl' }, jobs: JOBS, fl: { submitters: [] } })
    try {
      const mesh = attacker as MeshNode
      await mesh.dial(closed.addrs[0] as string)
      const refused = await mesh.rpc
        .call(closed.peerId, JOBS_RESERVE, create(ReserveRequestSchema, { jobId: 'x', placement: 'p', cores: 0.1, memoryBytes: 1n, leaseMs: 1_000, epoch: 1n }), { timeoutMs: 5_000 })
        .catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(RpcError)
      expect((refused as RpcError).code).toBe(WireErrorCode.UNAUTHORIZED)
      expect((refused as RpcError).message).toMatch(/jobs\.from/)

      await until(() => a.peers.get(noFl.peerId)?.ad.work !== undefined, 20_000, 'the no-fl node\'s offer')
      const fl = a.jobs?.scheduler.submit({
        kind: 'fl',
        name: 'not-a-submitter',
        resources: { cores: 0.25, memory: '64MiB' },
        constraints: { labels: { name: 'no-fl' } },
        fl: { model: { architecture: 'logreg', inputShape: [4], numClasses: 2 }, dataset: 'synth', rounds: 1, clients: { min: 2 }, train: { epochs: 1, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.01 } } },
      }) as JobRecord
      await until(() => job(a, fl.id).events.some((e) => e.message.includes('could not start it')), 20_000, 'the start to be refused')
      expect(job(a, fl.id).events.find((e) => e.message.includes('could not start it'))?.message).toMatch(/submitter/)
      expect(noFl.fl.list()).toHaveLength(0)
      await a.jobs?.scheduler.cancel(fl.id)
    } finally {
      await closed.stop()
      await noFl.stop()
    }
  }, 60_000)

  it('moves a placement whose node dies, and another node takes over a job whose owner dies', async () => {
    // An FL coordinator placement (the FL job waits for clients that never come, so it stays running), owned by c,
    // preferring the edge node b and avoiding site b.
    const submitted = c.jobs?.scheduler.submit({
      kind: 'fl',
      name: 'moving',
      resources: { cores: 0.25, memory: '64MiB' },
      constraints: { affinity: ['tier=edge'], antiAffinity: ['site=b'] },
      fl: {
        model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
        dataset: 'synth',
        rounds: 2,
        clients: { min: 2 },
        train: { epochs: 1, batchSize: 4, optimizer: { kind: 'sgd', lr: 0.01 } },
        timeouts: { roundSeconds: 600, waitSeconds: 600 },
      },
    }) as JobRecord
    const id = submitted.id
    const placement = () => job(c, id).placements[0]
    await until(() => placement()?.state === 'running', 30_000, 'the coordinator to run on b')
    expect(placement()?.peerId).toBe(b.peerId)
    // Kill b: the placement is lost and runs again elsewhere (a: the next in preference), within a bound.
    const killedAt = Date.now()
    await b.stop()
    await until(() => placement()?.state === 'running' && placement()?.peerId === a.peerId, 30_000, 'the placement to move to a')
    const moved = Date.now() - killedAt
    expect(moved).toBeLessThan(20_000)
    expect(job(c, id).reschedules).toBeGreaterThanOrEqual(1)
    expect(a.jobs?.capacity.get(id, 'coordinator')?.state).toBe('running')

    // Kill the owner: after its lease lapses, the live node that ranks first takes the job over at epoch 2 and adopts
    // the running placement on a instead of placing it again.
    await c.stop()
    let owner: TestNode | undefined
    await until(
      () => {
        owner = [a, d].find((n) => n.jobs?.scheduler.get(id)?.epoch === 2)
        return owner !== undefined
      },
      30_000,
      'a takeover',
    )
    const taken = job(owner as TestNode, id)
    expect(taken.owner).toBe(owner?.peerId)
    expect(taken.events.some((e) => e.message.includes(`took the job over from ${c.peerId}`))).toBe(true)
    await until(() => job(owner as TestNode, id).placements[0]?.peerId === a.peerId, 10_000, 'the placement to be adopted')
    expect(job(owner as TestNode, id).placements[0]?.state).toBe('running')
    // Adopted where it ran, not placed again.
    expect(job(owner as TestNode, id).events.some((e) => e.message.startsWith(`adopted coordinator on ${a.peerId}`))).toBe(true)
    expect(a.jobs?.capacity.get(id, 'coordinator')?.owner).toBe(owner?.peerId)
    // The other live node knows who owns it now, and the lease in the DHT says so too.
    const other = owner === a ? d : a
    await until(() => other.jobs?.scheduler.known().find((k) => k.id === id)?.epoch === 2, 10_000, 'the new owner announced')
    await until(
      async () => {
        const bytes = await other.mesh.dht.get('weft-job', id).catch(() => undefined)
        const v = bytes === undefined ? undefined : await verifyAnnouncement(bytes)
        return v?.ok === true && v.announcement.epoch === 2n && v.announcement.owner === owner?.peerId
      },
      20_000,
      'the new lease in the DHT',
    )
    await owner?.jobs?.scheduler.cancel(id)
    await until(() => a.jobs?.capacity.get(id, 'coordinator') === undefined, 10_000, 'the placement released')
  }, 120_000)
})
