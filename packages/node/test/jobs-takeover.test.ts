// Takeover plays an attacker: a stranger announces a job (signed by its own key, its lease already lapsed) and stays
// out of the peer table. A node that takes work only from peers its operator named must not take that job over and
// run it under its own name; a node that takes any member's work does (the same announcement, so the check can fail).

import { fromBinary } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshNode, type MeshNode } from '@weft/mesh/node'
import { JOBS_TOPIC, SignedJobAnnouncementSchema } from '@weft/protocol'
import { afterAll, describe, expect, it } from 'vitest'
import { signAnnouncement } from '../src/jobs/announcement.js'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

const JOBS = { leaseMs: 1_500, heartbeatMs: 300 }

/** A stranger's announcement of a job whose lease lapsed a minute ago, sent until `node` has heard it. */
async function announceAndWait(node: TestNode, jobId: string): Promise<MeshNode> {
  const key = await generateKeyPair('Ed25519')
  const stranger = await createMeshNode({ privateKey: key, network: 'loopback' })
  await stranger.dial(node.addrs[0] as string)
  const topic = stranger.pubsub.topic(JOBS_TOPIC, SignedJobAnnouncementSchema)
  const unsubscribe = topic.subscribe(() => undefined)
  const signed = await signAnnouncement(
    {
      jobId,
      owner: stranger.peerId,
      epoch: 1n,
      state: 'running',
      leaseExpiresAtMs: BigInt(Date.now() - 60_000),
      issuedAtMs: BigInt(Date.now() - 75_000),
      spec: new TextEncoder().encode(JSON.stringify({ kind: 'batch', name: 'laundered', resources: { cores: 0.25, memory: '64MiB' }, batch: { task: 'stats', params: {}, shards: 2, quorum: 1 } })),
    },
    async (bytes) => key.sign(bytes),
  )
  await until(
    async () => {
      await topic.publish(fromBinary(SignedJobAnnouncementSchema, signed)).catch(() => undefined)
      return node.jobs?.scheduler.known().some((k) => k.id === jobId) === true
    },
    15_000,
    'the node to hear the announcement',
  )
  unsubscribe()
  return stranger
}

describe('taking over a job a stranger announced', () => {
  const strangers: MeshNode[] = []
  const nodes: TestNode[] = []
  afterAll(async () => {
    for (const s of strangers) await s.stop()
    for (const n of nodes) await n.stop()
    removeTestDirs()
  })

  it('a node that takes work only from named peers never takes over a stranger\'s job', async () => {
    const closed = await startTestNode({ jobs: { ...JOBS, from: [] } })
    nodes.push(closed)
    strangers.push(await announceAndWait(closed, 'job-stranger-1'))
    // Several takeover rounds (every third of the lease) pass.
    await new Promise((r) => setTimeout(r, 3_000))
    expect(closed.jobs?.scheduler.get('job-stranger-1')).toBeUndefined()
    expect(closed.jobs?.scheduler.list()).toHaveLength(0)
  }, 30_000)

  it('a node that takes any member\'s work takes the same kind of job over', async () => {
    const open = await startTestNode({ jobs: { ...JOBS, from: ['*'] } })
    nodes.push(open)
    strangers.push(await announceAndWait(open, 'job-stranger-2'))
    await until(() => open.jobs?.scheduler.get('job-stranger-2')?.epoch === 2, 15_000, 'the takeover')
    expect(open.jobs?.scheduler.get('job-stranger-2')?.owner).toBe(open.peerId)
    await open.jobs?.scheduler.cancel('job-stranger-2')
  }, 30_000)
})
