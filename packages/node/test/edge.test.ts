// An edge node behind NAT, played by a node with no listening socket: it reserves a slot on a relay node and takes
// part in the fabric through it. Another node learns of it from its ad (whose addresses are relayed ones) and places a
// batch task on it, verified by quorum with a node of its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { JobRecord } from '../src/jobs/job-record.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

describe('an edge node behind a relay', () => {
  let relay: TestNode
  let edge: TestNode
  let owner: TestNode

  beforeAll(async () => {
    relay = await startTestNode({ relay: { serve: true }, labels: { role: 'relay' }, jobs: { accept: false } })
    const bootstrap = [relay.addrs[0] as string]
    edge = await startTestNode({ listen: [], edge: true, bootstrap, labels: { tier: 'edge' }, jobs: { heartbeatMs: 300, leaseMs: 3_000 } })
    owner = await startTestNode({ bootstrap, labels: { tier: 'dc' }, jobs: { heartbeatMs: 300, leaseMs: 3_000 } })
  }, 60_000)
  afterAll(async () => {
    for (const n of [owner, edge, relay]) await n?.stop()
    removeTestDirs()
  })

  it('is reachable only through the relay, and others learn it from its ad', async () => {
    await until(() => edge.addrs.length > 0 && edge.addrs.every((a) => a.includes(`/p2p/${relay.peerId}/p2p-circuit/p2p/${edge.peerId}`)), 20_000, 'a relay reservation')
    await until(() => owner.peers.get(edge.peerId)?.status === 'alive', 20_000, 'the owner to hear the edge node\'s ad')
    expect(owner.peers.get(edge.peerId)?.ad.addrs.every((a) => a.includes('/p2p-circuit/'))).toBe(true)
  }, 30_000)

  it('takes a placement and runs batch tasks through the relay', async () => {
    const submitted = owner.jobs?.scheduler.submit({
      kind: 'batch',
      name: 'via-relay',
      replicas: 2,
      strategy: 'spread',
      resources: { cores: 0.25, memory: '64MiB' },
      batch: { task: 'stats', params: { source: 'fashion-mnist', split: 'test' }, shards: 4, quorum: 2 },
    }) as JobRecord
    await until(() => ['done', 'failed'].includes(owner.jobs?.scheduler.get(submitted.id)?.state ?? ''), 60_000, 'the job to end')
    const job = owner.jobs?.scheduler.get(submitted.id) as JobRecord
    expect(job.state, `${job.reason}\n${job.events.map((e) => e.message).join('\n')}`).toBe('done')
    expect(job.placements.map((p) => p.peerId).sort()).toEqual([edge.peerId, owner.peerId].sort())
    // Every task was checked against the edge node's result.
    expect(job.tasks.every((t) => t.results.some((r) => r.worker === edge.peerId))).toBe(true)
    // The edge node has no listening socket: the owner reaches it through the relay, or over a connection the edge
    // node opened itself (it dials out to the peers it learns of), never by dialling it directly.
    const conns = owner.mesh.connections().filter((c) => c.peer === edge.peerId)
    expect(conns.length).toBeGreaterThan(0)
    for (const c of conns) expect(c.remoteAddr.includes('/p2p-circuit') || c.direction === 'inbound', JSON.stringify(c)).toBe(true)
  }, 90_000)
})
