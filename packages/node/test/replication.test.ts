// Replication and repair of pinned roots (issue 16): a 5-node mesh reaches a factor, keeps label constraints and
// distinct sites, restores the factor after a holder stops, keeps its targets across a restart; a peer the policy
// does not allow (an uncertified peer under `members`, a client under a role allow-list), a replica past maxReplicaBytes
// and a request that lies about its size are refused with nothing kept.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiClient } from '@weft/api-client'
import { authorityPublicKey, formatAuthorityKey, generateAuthorityKey, issueCertificate, type Role, RpcError } from '@weft/mesh'
import { nodePeerId, type NodeConfigInput } from '@weft/node'
import { STORE_REPLICATE, WireErrorCode } from '@weft/protocol'
import { addFile, type CID, type DagLayout } from '@weft/store'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeTestDirs, startTestNode, type TestNode, until } from './helpers.js'

// Small leaves so a few hundred KiB make a DAG of several blocks.
const LAYOUT: DagLayout = { chunkSize: 64 * 1024, maxChildren: 8, maxDirectoryNodeBytes: 262_144 }
const REPAIR_MS = 500

async function putFile(node: TestNode, bytes: number, announce = true): Promise<CID> {
  const added = await addFile([new Uint8Array(randomBytes(bytes))], node.store!, { layout: LAYOUT })
  if (announce) await node.blockExchange!.announce(added.cid)
  else await node.store!.pin(added.cid)
  return added.cid
}

async function connect(a: TestNode, b: TestNode): Promise<void> {
  await a.mesh.libp2p.dial(b.mesh.libp2p.getMultiaddrs()[0]!)
  await until(() => a.mesh.libp2p.getPeers().some((p) => p.toString() === b.peerId), 10_000, 'a connection')
}

/** Whether `node` holds `root` whole. */
async function holds(node: TestNode, root: CID): Promise<boolean> {
  return (await node.store!.missing(root, 1)).length === 0 && (await node.store!.stat(root)) !== undefined
}

async function holdersAmong(nodes: readonly TestNode[], root: CID): Promise<TestNode[]> {
  const held = await Promise.all(nodes.map((n) => holds(n, root)))
  return nodes.filter((_, i) => held[i])
}

describe('replication and repair (issue 16)', () => {
  const sites = ['a', 'a', 'b', 'b', 'c']
  let nodes: TestNode[] = []

  beforeAll(async () => {
    nodes = await Promise.all(
      sites.map((site) => startTestNode({ labels: { site }, store: { replicas: { accept: 'members', repairIntervalMs: REPAIR_MS } } })),
    )
    for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) await connect(nodes[i]!, nodes[j]!)
    // Candidates are chosen by their ads' labels: wait until every node knows every other's.
    await until(() => nodes.every((n) => n.peers.list().filter((e) => e.status === 'alive' && e.ad.labels.site !== undefined).length === nodes.length - 1), 15_000, 'ads with labels')
  }, 60_000)
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    removeTestDirs()
  })

  let rootA: CID

  it('reaches factor 3 from one holder, with exactly one asker (3 holders, no more)', async () => {
    const origin = nodes[0]!
    rootA = await putFile(origin, 300 * 1024)
    const started = Date.now()
    const status = await origin.replication!.replicate(rootA, { factor: 3 })
    console.log(`replication: factor 3 reached in ${Date.now() - started} ms (300 KiB, 5 nodes)`)
    expect(status.counted).toBe(3)
    expect(status.holders).toHaveLength(3)
    expect(status.lastRepair?.replicated).toHaveLength(2)
    const holders = await holdersAmong(nodes, rootA)
    expect(holders.map((n) => n.peerId).sort()).toEqual([...status.holders].sort())
    // Each replica is pinned, served, and keeps the target (so it can repair when the origin goes).
    for (const n of holders) {
      expect((await n.store!.stat(rootA))?.pinned).toBe(true)
      expect(n.blockExchange!.announced(rootA)).toBe(true)
      expect(n.replication!.status(rootA)).toMatchObject({ factor: 3, labels: [] })
    }
  }, 30_000)

  it('respects a label constraint: site=b holders only count, and only they are asked', async () => {
    const origin = nodes[0]! // site a: a holder that does not count
    const root = await putFile(origin, 200 * 1024)
    const status = await origin.replication!.replicate(root, { factor: 2, labels: ['site=b'] })
    expect(status.counted).toBe(2)
    const holders = await holdersAmong(nodes, root)
    expect(holders.map((n) => n.config.labels.site).sort()).toEqual(['a', 'b', 'b'])
    expect(holders).toContain(origin)
  }, 30_000)

  it('keeps holders on distinct sites when asked to', async () => {
    const origin = nodes[1]! // site a
    const root = await putFile(origin, 200 * 1024)
    const status = await origin.replication!.replicate(root, { factor: 3, distinct: 'site' })
    expect(status.counted).toBe(3)
    const holders = await holdersAmong(nodes, root)
    expect(holders).toHaveLength(3)
    expect(new Set(holders.map((n) => n.config.labels.site))).toEqual(new Set(['a', 'b', 'c']))
  }, 30_000)

  it('a label no peer carries leaves the target short, reported as exhausted (no one asked)', async () => {
    const origin = nodes[0]!
    const root = await putFile(origin, 64 * 1024)
    const status = await origin.replication!.replicate(root, { factor: 2, labels: ['site=nowhere'] })
    expect(status.counted).toBe(0)
    expect(status.lastRepair).toMatchObject({ replicated: [], refused: [], exhausted: true })
    expect(await holdersAmong(nodes, root)).toEqual([origin])
  }, 30_000)

  it('restores factor 3 after a holder stops, within a bounded time, and keeps targets across a restart', async () => {
    const holders = await holdersAmong(nodes, rootA)
    expect(holders).toHaveLength(3)
    // Stop a replica (not the origin), so the repair must come from the holders that are left.
    const victim = holders.find((n) => n !== nodes[0])!
    const dataDir = victim.config.dataDir
    const stoppedAt = Date.now()
    await victim.stop()
    const live = nodes.filter((n) => n !== victim)
    await until(async () => (await holdersAmong(live, rootA)).length >= 3, 20_000, 'factor 3 restored')
    const repairedMs = Date.now() - stoppedAt
    console.log(`replication: factor 3 restored ${repairedMs} ms after a holder stopped (repair interval ${REPAIR_MS} ms)`)
    const now = await holdersAmong(live, rootA)
    expect(now).toHaveLength(3)
    await until(
      () => now.some((n) => (n.replication!.status(rootA)?.counted ?? 0) >= 3),
      10_000,
      'a holder that sees 3 live holders',
    )

    // The stopped node comes back on its data directory: its target (and its replica) survived.
    const back = await startTestNode({ dataDir, labels: victim.config.labels, store: { replicas: { accept: 'members', repairIntervalMs: REPAIR_MS } } })
    nodes[nodes.indexOf(victim)] = back
    expect(back.replication!.targets().map((t) => t.root)).toContain(rootA.toString())
    expect(back.replication!.status(rootA)).toMatchObject({ factor: 3, labels: [] })
    expect(await holds(back, rootA)).toBe(true)
  }, 60_000)

  it('trims an extra holder when the stopped one is back: a replica pulled on request is dropped, the origin keeps its copy', async () => {
    // The node that came back holds rootA too (the test before): four copies for a factor of 3, once it is connected.
    const pinned = async () => (await Promise.all(nodes.map(async (n) => ((await n.store!.stat(rootA))?.pinned === true ? n : undefined)))).filter((n) => n !== undefined)
    const copies = (await holdersAmong(nodes, rootA)).length
    expect(copies).toBe(4)
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        if (!nodes[i]!.mesh.libp2p.getPeers().some((p) => p.toString() === nodes[j]!.peerId)) await connect(nodes[i]!, nodes[j]!)
      }
    }
    await until(async () => (await pinned()).length === 3, 20_000, 'an extra replica dropped')
    const kept = await pinned()
    const gone = (await holdersAmong(nodes, rootA)).filter((n) => !kept.includes(n))
    expect(gone).toHaveLength(1)
    // Only a replica pulled at a peer's request goes: never the origin's own copy; the dropped one is unserved too.
    expect(gone[0]).not.toBe(nodes[0])
    expect(gone[0]!.replication!.status(rootA)).toBeUndefined()
    expect(gone[0]!.blockExchange!.announced(rootA)).toBe(false)
    expect(kept).toContain(nodes[0])
    // It settles at three: no holder is dropped below the factor, and the repair does not add one back.
    await new Promise((r) => setTimeout(r, 4 * REPAIR_MS))
    expect(await pinned()).toHaveLength(3)
  }, 60_000)

  it('does not ask a peer whose ad says its store takes no replicas, and forget ends the target on every holder', async () => {
    const closed = await startTestNode({ labels: { site: 'd' } })
    try {
      for (const n of nodes) await connect(closed, n)
      const origin = nodes[1]!
      await until(() => origin.peers.get(closed.peerId)?.ad.store?.acceptsReplicas === false, 15_000, 'the closed node’s ad')
      expect(origin.peers.get(nodes[2]!.peerId)?.ad.store).toMatchObject({ acceptsReplicas: true, quotaBytes: BigInt(nodes[2]!.config.store.maxBytes) })
      const root = await putFile(origin, 128 * 1024)
      // Six copies wanted, five nodes take replicas: short, and the closed node was never asked (not among the refused).
      const status = await origin.replication!.replicate(root, { factor: 6 })
      expect(status.counted).toBe(5)
      expect(status.lastRepair).toMatchObject({ exhausted: true, unfit: 1 })
      expect(status.lastRepair?.refused.map((r) => r.peer)).not.toContain(closed.peerId)
      expect(await holds(closed, root)).toBe(false)

      // The API shows what the ads say (weft peers prints it as STORE USED/QUOTA, +r for replicas taken).
      const seen = (await createApiClient({ url: origin.apiUrl }).peers()).find((p) => p.peerId === closed.peerId)
      expect(seen?.ad.store).toMatchObject({ acceptsReplicas: false, quotaBytes: closed.config.store.maxBytes })
      // Forget: every holder ends the target; the replicas pulled for it are unpinned and unserved, the origin's copy stays.
      const api = createApiClient({ url: origin.apiUrl })
      const forgot = await api.storeForget(root.toString())
      expect(forgot.wasKept).toBe(true)
      expect(forgot.forgotten).toHaveLength(4)
      expect(forgot.refused).toEqual([])
      for (const n of nodes) {
        expect(n.replication!.status(root)).toBeUndefined()
        if (n === origin) continue
        expect((await n.store!.stat(root))?.pinned).toBe(false)
        expect(n.blockExchange!.announced(root)).toBe(false)
      }
      expect((await origin.store!.stat(root))?.pinned).toBe(true)
      expect((await api.storeForget(root.toString())).wasKept).toBe(false)
    } finally {
      await closed.stop()
    }
  }, 60_000)

  it('shows the target and the holders seen in stat (HTTP), and takes a target through POST /v1/store/:cid/replicate', async () => {
    const origin = nodes[2]!
    const api = createApiClient({ url: origin.apiUrl })
    const root = await putFile(origin, 64 * 1024)
    const res = await fetch(`${origin.apiUrl}/v1/store/${root}/replicate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ factor: 2 }) })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ root: root.toString(), factor: 2, counted: 2 })
    const stat = (await (await fetch(`${origin.apiUrl}/v1/store/${root}`)).json()) as { replication?: { holders: string[] } }
    expect(stat.replication?.holders).toHaveLength(2)
    expect((await api.storeStat(root.toString())).cid).toBe(root.toString())
    const bad = await fetch(`${origin.apiUrl}/v1/store/${root}/replicate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ factor: 99 }) })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { message: string }).message).toMatch(/factor must be an integer from 1 to 16/)
  }, 30_000)
})

describe('the replica policy against a hostile asker (issue 16)', () => {
  let trusted: TestNode
  let attacker: TestNode
  let victim: TestNode
  let closed: TestNode

  beforeAll(async () => {
    trusted = await startTestNode()
    attacker = await startTestNode()
    closed = await startTestNode()
    victim = await startTestNode({ store: { replicas: { accept: 'allow-list', from: [trusted.peerId], maxReplicaBytes: 256 * 1024, repairIntervalMs: 60_000 } } })
    for (const n of [trusted, attacker, closed]) await connect(n, victim)
    await connect(attacker, closed)
  }, 60_000)
  afterAll(async () => {
    await Promise.all([trusted, attacker, victim, closed].map((n) => n?.stop()))
    removeTestDirs()
  })

  const ask = (from: TestNode, to: TestNode, root: CID, dagSize: number) =>
    from.mesh.rpc.call(to.peerId, STORE_REPLICATE, { root: root.toString(), dagSize: BigInt(dagSize), providers: [from.peerId], factor: 3, labels: [], distinct: '' })

  const refusedWith = async (call: Promise<unknown>): Promise<RpcError> => {
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(RpcError)
    return err as RpcError
  }

  it('refuses a peer not in store.replicas.from asking to replicate a large root: nothing fetched, no target kept', async () => {
    const root = await putFile(attacker, 2 * 1024 * 1024)
    const before = victim.store!.usage()
    const err = await refusedWith(ask(attacker, victim, root, 2 * 1024 * 1024))
    expect(err.code).toBe(WireErrorCode.UNAUTHORIZED)
    expect(err.detail).toContain('is not in store.replicas.from')
    expect(victim.store!.usage()).toEqual(before)
    expect(await victim.store!.stat(root)).toBeUndefined()
    expect(victim.replication!.targets()).toEqual([])
  }, 30_000)

  it('a node with the default policy accepts no replica from anyone', async () => {
    const root = await putFile(attacker, 64 * 1024)
    const err = await refusedWith(ask(attacker, closed, root, 64 * 1024))
    expect(err.code).toBe(WireErrorCode.UNAUTHORIZED)
    expect(err.detail).toContain('accepts no replicas')
    expect(await closed.store!.stat(root)).toBeUndefined()
  }, 30_000)

  it('refuses an allowed peer beyond maxReplicaBytes before fetching anything', async () => {
    const root = await putFile(trusted, 512 * 1024)
    const size = (await trusted.store!.stat(root))!.dagSize
    const before = victim.store!.usage()
    const err = await refusedWith(ask(trusted, victim, root, size))
    expect(err.code).toBe(WireErrorCode.TOO_LARGE)
    expect(err.detail).toContain('store.replicas.maxReplicaBytes of 262144')
    expect(victim.store!.usage()).toEqual(before)
    expect(victim.replication!.targets()).toEqual([])
  }, 30_000)

  it('stops a fetch that passes the size the request declared, and does not pin or keep it', async () => {
    const root = await putFile(trusted, 512 * 1024)
    const err = await refusedWith(ask(trusted, victim, root, 100 * 1024))
    expect(err.code).toBe(WireErrorCode.TOO_LARGE)
    expect(err.detail).toContain('larger than the 102400 bytes the request declared')
    expect((await victim.store!.stat(root))?.pinned ?? false).toBe(false)
    expect(victim.blockExchange!.announced(root)).toBe(false)
    expect(victim.replication!.targets()).toEqual([])
    // What it got is unpinned: gc takes it back.
    victim.store!.gc()
    expect(victim.store!.usage().usedBytes).toBe(0)
  }, 30_000)

  it('never announces a private root this node holds when an allowed peer names its CID', async () => {
    const root = await putFile(victim, 64 * 1024, false)
    const err = await refusedWith(ask(trusted, victim, root, 64 * 1024 + 1024))
    expect(err.code).toBe(WireErrorCode.CONFLICT)
    expect(err.detail).toContain('not served to the mesh')
    expect(victim.blockExchange!.announced(root)).toBe(false)
    expect(victim.replication!.targets()).toEqual([])
    expect(await trusted.blockExchange!.findProviders(root, { timeoutMs: 1000 })).toEqual([])
  }, 30_000)

  it('takes a replica from an allowed peer within its bounds, then keeps the target', async () => {
    const root = await putFile(trusted, 128 * 1024)
    const size = (await trusted.store!.stat(root))!.dagSize
    const answer = await ask(trusted, victim, root, size)
    expect(answer.pinned).toBe(true)
    expect(Number(answer.bytes)).toBe(size)
    expect(await holds(victim, root)).toBe(true)
    expect(victim.replication!.status(root)).toMatchObject({ factor: 3 })
  }, 30_000)

  it('attacker: a peer the policy does not allow can neither end a target nor trim a replica', async () => {
    const root = await putFile(trusted, 64 * 1024)
    expect((await ask(trusted, victim, root, 64 * 1024 + 1024)).pinned).toBe(true)
    expect(victim.replication!.status(root)).toMatchObject({ requested: true })
    for (const extra of [{ factor: 0 }, { factor: 3, trim: true }]) {
      const err = await refusedWith(attacker.mesh.rpc.call(victim.peerId, STORE_REPLICATE, { root: root.toString(), ...extra }))
      expect(err.code).toBe(WireErrorCode.UNAUTHORIZED)
    }
    // An allowed peer's trim is judged on what the victim sees: it is the only other holder, so it keeps its replica.
    expect((await trusted.mesh.rpc.call(victim.peerId, STORE_REPLICATE, { root: root.toString(), factor: 2, trim: true })).pinned).toBe(true)
    expect(victim.replication!.status(root)).toMatchObject({ factor: 3 })
    expect((await victim.store!.stat(root))?.pinned).toBe(true)
  }, 30_000)

  it('refuses malformed targets with BAD_REQUEST', async () => {
    const root = await putFile(trusted, 64 * 1024)
    const err = await refusedWith(
      trusted.mesh.rpc.call(victim.peerId, STORE_REPLICATE, { root: root.toString(), dagSize: 1n, providers: [], factor: 1000, labels: [], distinct: '' }),
    )
    expect(err.code).toBe(WireErrorCode.BAD_REQUEST)
    const err2 = await refusedWith(trusted.mesh.rpc.call(victim.peerId, STORE_REPLICATE, { root: 'x'.repeat(200), dagSize: 1n, factor: 1 }))
    expect(err2.code).toBe(WireErrorCode.BAD_REQUEST)
  }, 30_000)
})

describe('the replica policy with a mesh authority (issue 16)', () => {
  const key = generateAuthorityKey()
  const publicKey = formatAuthorityKey(authorityPublicKey(key))
  const started: TestNode[] = []

  /** A node of the mesh, certified with `roles` (none: no certificate) before it starts. */
  async function member(roles: readonly Role[] | undefined, overrides: Partial<NodeConfigInput> = {}): Promise<TestNode> {
    const dataDir = mkdtempSync(join(tmpdir(), 'weft-member-'))
    const peerId = await nodePeerId(dataDir)
    const now = Date.now()
    if (roles !== undefined) writeFileSync(join(dataDir, 'member.cert'), issueCertificate({ authorityKey: key, peerId, roles, issuedAtMs: now - 1000, expiresAtMs: now + 3_600_000 }))
    const n = await startTestNode({ dataDir, authority: { publicKey }, fl: { coordinators: [], submitters: [] } as never, ...overrides })
    started.push(n)
    return n
  }

  afterAll(async () => {
    await Promise.all(started.map((n) => n.stop()))
    removeTestDirs()
  })

  const ask = async (from: TestNode, to: TestNode, root: CID) =>
    from.mesh.rpc.call(to.peerId, STORE_REPLICATE, { root: root.toString(), dagSize: BigInt((await from.store!.stat(root))!.dagSize), providers: [from.peerId], factor: 2, labels: [], distinct: '' })

  it('members: a certified peer is served, an uncertified one refused; a role allow-list refuses other roles', async () => {
    const membersOnly = await member(['client'], { store: { replicas: { accept: 'members', repairIntervalMs: 60_000 } } })
    const coordinatorsOnly = await member(['client'], { store: { replicas: { accept: 'allow-list', from: ['coordinator'], repairIntervalMs: 60_000 } } })
    const certified = await member(['client'])
    const coordinator = await member(['coordinator'])
    const outsider = await member(undefined)
    for (const n of [certified, coordinator, outsider]) for (const to of [membersOnly, coordinatorsOnly]) await connect(n, to)

    const fromOutsider = await putFile(outsider, 128 * 1024)
    const refused = await ask(outsider, membersOnly, fromOutsider).then(
      () => undefined,
      (e: RpcError) => e,
    )
    expect(refused?.code).toBe(WireErrorCode.UNAUTHORIZED)
    expect(refused?.detail).toContain('is not a member of the mesh')
    expect(await membersOnly.store!.stat(fromOutsider)).toBeUndefined()

    // A peer's certificate is learned just after it connects: ask until it is.
    const fromMember = await putFile(certified, 128 * 1024)
    await until(async () => (await ask(certified, membersOnly, fromMember).catch(() => undefined))?.pinned === true, 10_000, 'a member served')
    expect(await holds(membersOnly, fromMember)).toBe(true)

    const err = await ask(certified, coordinatorsOnly, fromMember).then(
      () => undefined,
      (e: RpcError) => e,
    )
    expect(err?.code).toBe(WireErrorCode.UNAUTHORIZED)
    expect(await coordinatorsOnly.store!.stat(fromMember)).toBeUndefined()
    const fromCoordinator = await putFile(coordinator, 64 * 1024)
    await until(async () => (await ask(coordinator, coordinatorsOnly, fromCoordinator).catch(() => undefined))?.pinned === true, 10_000, 'a coordinator served')
  }, 60_000)
})
