// Serverless training across node processes on 127.0.0.1, through `weft node start` and the control API: four peers,
// each with its own Dirichlet(0.5) share of Fashion-MNIST, train one MLP with DiLoCo and no coordinator, to the
// simulator's accuracy with the same settings and shares; then a peer is SIGKILLed mid-training and a fifth joins
// late by the swarm's id alone, and ends the run with the same outer parameters as the others.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SwarmView } from '@weft/api-client'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import { partition } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import { createWorkerPool } from '@weft/runtime-tfjs/node'
import { parseSwarmSpec, runSwarmSimulation } from '@weft/swarm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requirement } from './requirements.js'

const PEERS = 4
const TIMING = ['--ad-interval', '500', '--no-probe', '--log-level', 'warn']
const SPEC = {
  name: 'fmnist-diloco',
  model: { architecture: 'mlp', inputShape: [28, 28, 1], numClasses: 10, hidden: [200, 200] },
  dataset: 'fmnist',
  evaluation: { dataset: 'fmnist-test', every: 1 },
  inner: { batchSize: 32, optimizer: { kind: 'adamw', lr: 0.001, weightDecay: 0.01 } },
  outer: { kind: 'diloco' },
  // H = 50 inner steps per peer per outer step with 4 peers.
  targetSamples: PEERS * 50 * 32,
  totalSamples: PEERS * 50 * 32 * 15,
  averaging: { groupSize: 4, partTimeoutMs: 10_000 },
  minPeers: PEERS,
  memberExpiryMs: 6_000,
  // Every 5 outer steps each peer keeps its state at 2 holders of the mesh.
  checkpoint: { every: 5, replicas: 2 },
  seed: 7,
}

const fashionMnist = await requirement('fashion-mnist', 'a swarm of node processes on Fashion-MNIST')

describe.skipIf(!fashionMnist.available)(`a swarm of node processes${fashionMnist.note}`, () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-swarm-'))
  const nodes: LocalNode[] = []
  const start = async (i: number, part: number, bootstrap?: string): Promise<LocalNode> => {
    const dir = join(root, `n${i}`)
    mkdirSync(dir, { recursive: true })
    const datasets = [
      { name: 'fmnist', source: 'fashion-mnist', partition: { scheme: 'dirichlet', clients: PEERS, part, seed: 1, alpha: 0.5 } },
      { name: 'fmnist-test', source: 'fashion-mnist', split: 'test' },
    ]
    writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, datasets }))
    return startLocalNode({ startTimeoutMs: 60_000, dataDir: dir, args: [...TIMING, '--config', join(dir, 'weft.json'), ...(bootstrap === undefined ? [] : ['--bootstrap', bootstrap])] })
  }
  const until = async (node: LocalNode, id: string, done: (v: SwarmView) => boolean, ms: number, what: string): Promise<SwarmView> => {
    let view: SwarmView | undefined
    await waitUntil(
      async () => {
        view = await node.api.swarm(id)
        return done(view)
      },
      ms,
      what,
      500,
    )
    return view as SwarmView
  }

  beforeAll(async () => {
    nodes.push(await start(0, 0))
    const bootstrap = nodes[0]?.addrs.find((a) => !a.includes('/ws')) as string
    nodes.push(...(await Promise.all([1, 2, 3].map((i) => start(i, i, bootstrap)))))
    await waitUntil(async () => (await nodes[0]?.api.peers('alive'))?.length === PEERS - 1, 30_000, 'node 0 to see the other three', 200)
  }, 120_000)

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    rmSync(root, { recursive: true, force: true })
  }, 60_000)

  it('four peers with no coordinator reach the simulator’s accuracy, and agree on the model', async () => {
    // Every node starts the same spec: the same swarm (its id is the spec's CID), none of them special.
    const started = await Promise.all(nodes.map((n) => n.api.startSwarm(SPEC)))
    const id = started[0]?.id as string
    expect(new Set(started.map((s) => s.id))).toEqual(new Set([id]))
    const views = await Promise.all(nodes.map((n) => until(n, id, (v) => v.state !== 'training', 300_000, 'the swarm to finish')))
    for (const v of views) {
      expect(v.state, v.error).toBe('done')
      expect(v.history).toHaveLength(15)
      expect(v.history.flatMap((r) => r.failures)).toEqual([])
      expect(v.history.every((r) => r.groupSize === PEERS && r.contributors === PEERS)).toBe(true)
    }
    // Checkpoints at steps 5, 10 and 15, the last kept at 2 holders (this node and one more), the others' targets ended.
    expect(views[0]?.checkpoints.map((c) => c.step)).toEqual([5, 10, 15])
    const last = views[0]?.checkpoints.at(-1)?.cid as string
    await waitUntil(async () => ((await nodes[0]?.api.storeStat(last))?.replication?.holders.length ?? 0) >= 2, 60_000, 'the last checkpoint at 2 holders', 500)
    // One group of all four: every peer ends with the same outer parameters, so the same test accuracy, scored after
    // the final consensus.
    for (const v of views) expect(v.evaluation).toMatchObject({ step: 15, final: true })
    const accuracies = views.map((v) => v.evaluation?.accuracy as number)
    for (const a of accuracies) expect(a).toBeCloseTo(accuracies[0] as number, 6)
    // The simulator, same spec and the same shares, over the same peer code in one process.
    const [train, test] = await Promise.all([loadFashionMnist({ split: 'train' }), loadFashionMnist({ split: 'test' })])
    const parts = partition(train.labels(), { scheme: 'dirichlet', alpha: 0.5 }, { clients: PEERS, seed: 1 })
    const pool = createWorkerPool({ size: 1 })
    try {
      const sim = await runSwarmSimulation({ spec: parseSwarmSpec(SPEC), shares: parts.map((p, i) => train.subset(p, `p${i}`).toShared()), test: test.toShared(), pool })
      const simulated = sim.peers[0]?.accuracy as number
      expect(Math.abs((accuracies[0] as number) - simulated)).toBeLessThan(0.04)
    } finally {
      await pool.close()
    }
    expect(accuracies[0]).toBeGreaterThan(0.75)
    // Bytes: one all-reduce of the model per outer step and one for the final consensus (log_4 4 = 1 round); each
    // peer sends the three quarters of its vector that others own.
    const modelBytes = 199_210 * 4
    expect(views[0]?.bytes.sent).toBeGreaterThan(16 * modelBytes * 0.74)
    expect(views[0]?.bytes.sent).toBeLessThan(16 * modelBytes * 0.76)
  }, 400_000)

  it('goes on when a peer is SIGKILLed mid-training; a late joiner fetches spec and state by id and ends equal to the others (int8 parts)', async () => {
    // This swarm averages int8 parts with error feedback: each owner's reduction reaches every member as the same bytes.
    const spec = { ...SPEC, name: 'fmnist-churn', totalSamples: PEERS * 50 * 32 * 10, averaging: { ...SPEC.averaging, compression: 'int8' } }
    const id = (await Promise.all(nodes.map((n) => n.api.startSwarm(spec))))[0]?.id as string
    await until(nodes[0] as LocalNode, id, (v) => v.step >= 2, 120_000, 'two outer steps')
    const victim = nodes[3] as LocalNode
    await victim.kill()
    // A fifth node, with the dead one's share, joins by the id alone.
    const bootstrap = nodes[0]?.addrs.find((a) => !a.includes('/ws')) as string
    const joiner = await start(4, 3, bootstrap)
    nodes.push(joiner)
    await waitUntil(async () => (await joiner.api.peers('alive')).length >= PEERS - 1, 30_000, 'the joiner to see the others', 200)
    const joined = await joiner.api.joinSwarm(id)
    expect(joined.name).toBe('fmnist-churn')
    const live = [nodes[0], nodes[1], nodes[2], joiner] as LocalNode[]
    const views = await Promise.all(live.map((n) => until(n, id, (v) => v.state !== 'training', 300_000, 'the swarm to finish')))
    for (const v of views) expect(v.state, v.error).toBe('done')
    // The survivors took every step; the group that lost the peer finished its step without it.
    for (const v of views.slice(0, 3)) {
      expect(v.history).toHaveLength(10)
      expect(v.members.map((m) => m.peer)).not.toContain(victim.peerId)
    }
    // int8: a quarter of float32's bytes per part (plus a scale per 1,024 values).
    const steps = views[0]?.history ?? []
    const perStep = (steps[steps.length - 1]?.bytesSent ?? 0) / (199_210 * 4 * 0.75)
    expect(perStep).toBeGreaterThan(0.24)
    expect(perStep).toBeLessThan(0.27)
    const joinerView = views[3] as SwarmView
    expect(joinerView.history.length).toBeGreaterThan(0)
    expect(joinerView.history.length).toBeLessThan(10)
    // From its first step the joiner averaged with all three (they counted it into their group). It started that step
    // with a member's outer state; the survivors differ a little since the step that lost the killed peer's parts
    // (each kept its own values there), a difference each outer step shrinks, so all four end within 0.2 points.
    expect(joinerView.history[0]?.contributors).toBe(PEERS)
    const accuracies = views.map((v) => v.history.at(-1)?.accuracy as number)
    for (const a of accuracies) expect(Math.abs(a - (accuracies[0] as number))).toBeLessThan(0.002)
  }, 400_000)
})
