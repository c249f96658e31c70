// Five node processes on 127.0.0.1: discovery through bootstrap, resource ads, restart with the same identity, SIGKILL.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import type { PeerView } from '@weft/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const run = promisify(execFile)
// Short ad timing so expiry is observable within a test: ads every 500 ms, valid for 2 s.
const TIMING = ['--ad-interval', '500', '--ad-ttl', '2000', '--no-probe', '--log-level', 'warn']

describe('a mesh of 5 node processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-mesh-'))
  const nodes: LocalNode[] = []

  const alivePeers = async (node: LocalNode): Promise<PeerView[]> => node.api.peers('alive')

  beforeAll(async () => {
    const first = await startLocalNode({ startTimeoutMs: 60_000, dataDir: join(root, 'n0'), args: [...TIMING, '--label', 'site=tucson', '--label', 'tier=dc'] })
    nodes.push(first)
    const bootstrap = first.addrs.find((a) => !a.includes('/ws'))!
    nodes.push(
      ...(await Promise.all(
        [1, 2, 3, 4].map((i) =>
          startLocalNode({
            startTimeoutMs: 60_000,
            dataDir: join(root, `n${i}`),
            args: [...TIMING, '--bootstrap', bootstrap, '--label', `tier=${i % 2 === 0 ? 'dc' : 'edge'}`, '--label', `index=${i}`],
          }),
        ),
      )),
    )
  }, 90_000)

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    rmSync(root, { recursive: true, force: true })
  })

  it('every node discovers every other through bootstrap and sees its resource ad', async () => {
    await waitUntil(
      async () => (await Promise.all(nodes.map(alivePeers))).every((peers) => peers.length === 4),
      30_000,
      'all 5 nodes to see 4 alive peers',
    )
    for (const node of nodes) {
      const peers = await alivePeers(node)
      expect(peers.map((p) => p.peerId).sort()).toEqual(nodes.filter((n) => n !== node).map((n) => n.peerId).sort())
      for (const peer of peers) {
        expect(peer.ad.cpu.cores).toBeGreaterThan(0)
        expect(peer.ad.memory.totalBytes).toBeGreaterThan(0)
        expect(peer.ad.version).toMatch(/^\d+\.\d+\.\d+/)
        expect(peer.ad.addrs.some((a) => a.endsWith(`/p2p/${peer.peerId}`))).toBe(true)
      }
    }
    const seenByLast = await alivePeers(nodes[4]!)
    expect(seenByLast.find((p) => p.peerId === nodes[0]!.peerId)?.ad.labels).toEqual({ site: 'tucson', tier: 'dc' })
    expect(seenByLast.find((p) => p.peerId === nodes[1]!.peerId)?.ad.labels).toEqual({ tier: 'edge', index: '1' })
  })

  it('weft status and weft peers --json report the running node', async () => {
    const node = nodes[1]!
    const status = JSON.parse((await run(process.execPath, [BIN, 'status', '--data-dir', node.dataDir, '--json'])).stdout)
    expect(status.peerId).toBe(node.peerId)
    expect(status.uptimeMs).toBeGreaterThan(0)
    expect(status.connections.length).toBeGreaterThan(0)
    expect(status.resources.cpu.cores).toBeGreaterThan(0)
    const peers = JSON.parse((await run(process.execPath, [BIN, 'peers', '--data-dir', node.dataDir, '--json'])).stdout) as PeerView[]
    expect(peers.filter((p) => p.status === 'alive')).toHaveLength(4)
    const table = (await run(process.execPath, [BIN, 'peers', '--data-dir', node.dataDir])).stdout
    expect(table).toMatch(/^PEER\s+STATUS\s+LABELS/m)
    expect(table.split('\n').filter((l) => /^\S+\s+alive/.test(l))).toHaveLength(4)
  })

  it('a node looks up another peer’s ad through the DHT', async () => {
    const target = nodes[3]!
    const found = JSON.parse(
      (await run(process.execPath, [BIN, 'peers', '--data-dir', nodes[2]!.dataDir, '--lookup', target.peerId, '--json'])).stdout,
    ) as PeerView[]
    expect(found[0]?.peerId).toBe(target.peerId)
    expect(found[0]?.ad.labels['index']).toBe('3')
  })

  it('a restarted node keeps its PeerId and rejoins', async () => {
    const old = nodes[4]!
    const before = (await nodes[0]!.api.peer(old.peerId)).ad.seq
    expect(await old.stop()).toBe(0)
    const bootstrap = nodes[0]!.addrs.find((a) => !a.includes('/ws'))!
    const restarted = await startLocalNode({ startTimeoutMs: 60_000, dataDir: old.dataDir, args: [...TIMING, '--bootstrap', bootstrap, '--label', 'tier=dc', '--label', 'index=4'] })
    nodes[4] = restarted
    expect(restarted.peerId).toBe(old.peerId)
    // The others accept its new ads: the sequence number continues from the stored one instead of restarting at 1.
    await waitUntil(
      async () => {
        const view = await nodes[0]!.api.peer(old.peerId)
        return view.status === 'alive' && view.ad.seq > before
      },
      20_000,
      'node 0 to accept the restarted node’s new ad',
    )
    await waitUntil(async () => (await alivePeers(restarted)).length === 4, 20_000, 'the restarted node to see the 4 others')
  })

  it('a node killed with SIGKILL is marked gone, and the others keep working', async () => {
    const victim = nodes[3]!
    await victim.kill()
    const survivors = nodes.filter((n) => n !== victim)
    await waitUntil(
      async () =>
        (
          await Promise.all(survivors.map(async (n) => (await n.api.peers()).find((p) => p.peerId === victim.peerId)?.status))
        ).every((s) => s === 'gone'),
      15_000,
      'every survivor to mark the killed node gone',
    )
    for (const node of survivors) {
      const view = (await node.api.peers()).find((p) => p.peerId === victim.peerId)!
      expect(['expired', 'disconnected']).toContain(view.goneReason)
    }
    // The rest of the mesh still works: ads keep flowing between survivors (sequence numbers advance).
    const seqs = await Promise.all(survivors.map(async (n) => (await nodes[0]!.api.peers('alive')).find((p) => p.peerId === n.peerId)?.ad.seq ?? 0))
    await waitUntil(
      async () => {
        const now = await nodes[0]!.api.peers('alive')
        return survivors.slice(1).every((n, i) => (now.find((p) => p.peerId === n.peerId)?.ad.seq ?? 0) > (seqs[i + 1] ?? 0))
      },
      10_000,
      'fresh ads from every survivor',
    )
    expect((await nodes[0]!.api.peers('alive')).map((p) => p.peerId).sort()).toEqual(survivors.slice(1).map((n) => n.peerId).sort())
  })
})
