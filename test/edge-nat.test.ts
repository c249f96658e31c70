// An edge node behind a real NAT, made on this machine with network namespaces: a "public" namespace (203.0.113.0/24,
// a documentation range) holds a relay node and a coordinator; a "router" namespace masquerades a "lan" namespace
// (192.168.77.0/24) behind its public address, and drops what comes in uninvited. The edge node in the lan reserves a
// slot on the relay, the coordinator knows it by its relayed address, and the edge (in low-memory mode) trains in a
// federated job over a connection it opened itself through the NAT. (DCUtR, which every node runs, tries public addresses only, and every
// address a test may use counts as private to it: hole punching between two NATs is not tested here.)
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSyntheticCsv } from './fixtures/synthetic-csv.js'
import { requirement } from './requirements.js'

const netns = await requirement('netns', 'an edge node behind NAT')
const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const TIMING = ['--ad-interval', '500', '--ad-ttl', '5000', '--no-probe', '--log-level', 'warn']
// Names unique to this run, so a run left behind by a crash never collides with this one.
const tag = process.pid.toString(36).slice(-4)
const NS = { pub: `wpub${tag}`, rtr: `wrtr${tag}`, lan: `wlan${tag}` }

const sh = (...args: string[]): string => execFileSync(args[0] as string, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const inNs = (ns: string, ...args: string[]): string => sh('ip', 'netns', 'exec', ns, ...args)

function makeNetwork(): void {
  for (const ns of Object.values(NS)) sh('ip', 'netns', 'add', ns)
  sh('ip', 'link', 'add', `vp${tag}`, 'type', 'veth', 'peer', 'name', `vrp${tag}`)
  sh('ip', 'link', 'set', `vp${tag}`, 'netns', NS.pub)
  sh('ip', 'link', 'set', `vrp${tag}`, 'netns', NS.rtr)
  sh('ip', 'link', 'add', `vl${tag}`, 'type', 'veth', 'peer', 'name', `vrl${tag}`)
  sh('ip', 'link', 'set', `vl${tag}`, 'netns', NS.lan)
  sh('ip', 'link', 'set', `vrl${tag}`, 'netns', NS.rtr)
  const run = (ns: string, ...args: string[]) => sh('ip', '-n', ns, ...args)
  run(NS.pub, 'addr', 'add', '203.0.113.1/24', 'dev', `vp${tag}`)
  run(NS.pub, 'link', 'set', `vp${tag}`, 'up')
  run(NS.rtr, 'addr', 'add', '203.0.113.2/24', 'dev', `vrp${tag}`)
  run(NS.rtr, 'link', 'set', `vrp${tag}`, 'up')
  run(NS.rtr, 'addr', 'add', '192.168.77.1/24', 'dev', `vrl${tag}`)
  run(NS.rtr, 'link', 'set', `vrl${tag}`, 'up')
  run(NS.lan, 'addr', 'add', '192.168.77.2/24', 'dev', `vl${tag}`)
  run(NS.lan, 'link', 'set', `vl${tag}`, 'up')
  for (const ns of Object.values(NS)) run(ns, 'link', 'set', 'lo', 'up')
  run(NS.lan, 'route', 'add', 'default', 'via', '192.168.77.1')
  inNs(NS.rtr, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
  // Masquerade the lan behind the router's public address; let in only replies to connections the lan opened.
  inNs(NS.rtr, 'nft', 'add table ip nat')
  inNs(NS.rtr, 'nft', 'add chain ip nat post { type nat hook postrouting priority 100 ; }')
  inNs(NS.rtr, 'nft', `add rule ip nat post oifname vrp${tag} masquerade`)
  inNs(NS.rtr, 'nft', 'add table ip filter')
  inNs(NS.rtr, 'nft', 'add chain ip filter forward_lan { type filter hook forward priority 0 ; policy drop ; }')
  inNs(NS.rtr, 'nft', 'add rule ip filter forward_lan ct state established,related accept')
  inNs(NS.rtr, 'nft', `add rule ip filter forward_lan iifname vrl${tag} accept`)
}

function removeNetwork(): void {
  for (const ns of Object.values(NS)) {
    try {
      sh('ip', 'netns', 'del', ns)
    } catch {
      // Not made (a failed setup): nothing to remove.
    }
  }
}

interface NsNode {
  readonly dir: string
  readonly process: ChildProcess
  readonly peerId: string
  readonly ns: string
  readonly log: string[]
}

/** Starts `weft node start` inside a namespace; resolves once its node.json names its peer id. */
async function startIn(ns: string, dir: string, args: string[]): Promise<NsNode> {
  mkdirSync(dir, { recursive: true })
  const log: string[] = []
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, BIN, 'node', 'start', '--data-dir', dir, ...TIMING, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const keep = (b: Buffer) => {
    log.push(...b.toString('utf8').split('\n').filter((l) => l.length > 0))
    if (log.length > 40) log.splice(0, log.length - 40)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const deadline = Date.now() + 60_000
  for (;;) {
    const file = join(dir, 'node.json')
    if (existsSync(file)) {
      try {
        const record = JSON.parse(readFileSync(file, 'utf8')) as { peerId: string }
        return { dir, process: child, peerId: record.peerId, ns, log }
      } catch {
        // Being written.
      }
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`node in ${ns} did not start:\n${log.join('\n')}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Runs a weft CLI command against a node, inside its namespace (its API listens on the namespace's loopback). */
function weft(node: NsNode, ...args: string[]): string {
  return inNs(node.ns, process.execPath, BIN, ...args, '--data-dir', node.dir)
}

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let value: T | undefined | false
    try {
      value = check()
    } catch {
      value = undefined
    }
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

describe.skipIf(!netns.available)('an edge node behind NAT', () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-nat-'))
  const nodes: NsNode[] = []
  let relay: NsNode
  let coordinator: NsNode
  let edge: NsNode

  beforeAll(async () => {
    removeNetwork()
    makeNetwork()
    relay = await startIn(NS.pub, join(root, 'relay'), ['--listen', '/ip4/203.0.113.1/tcp/4101', '--relay'])
    nodes.push(relay)
    const bootstrap = `/ip4/203.0.113.1/tcp/4101/p2p/${relay.peerId}`
    coordinator = await startIn(NS.pub, join(root, 'coordinator'), ['--listen', '/ip4/203.0.113.1/tcp/4102', '--bootstrap', bootstrap])
    nodes.push(coordinator)
    const dir = join(root, 'edge')
    mkdirSync(dir, { recursive: true })
    writeSyntheticCsv(join(dir, 'train.csv'), 240, 7)
    writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, datasets: [{ name: 'synth', source: join(dir, 'train.csv'), label: 'label' }] }))
    // An edge box with little memory: it trains in its own thread (--low-memory).
    edge = await startIn(NS.lan, dir, ['--config', join(dir, 'weft.json'), '--listen', '/ip4/192.168.77.2/tcp/4103', '--edge', '--low-memory', '--bootstrap', bootstrap, '--coordinator', coordinator.peerId, '--label', 'tier=edge'])
    nodes.push(edge)
  }, 120_000)

  afterAll(async () => {
    for (const n of nodes.reverse()) {
      n.process.kill('SIGTERM')
      await new Promise((r) => (n.process.exitCode !== null ? r(undefined) : n.process.once('exit', r)))
    }
    removeNetwork()
    rmSync(root, { recursive: true, force: true })
  }, 60_000)

  it('cannot be dialled from outside, reserves a slot on the relay, and is known by its relayed address', async () => {
    // Nothing in the public namespace reaches the lan directly.
    expect(() => inNs(NS.pub, process.execPath, '-e', "const s=require('net').connect(4103,'192.168.77.2');s.on('error',()=>process.exit(3));s.on('connect',()=>process.exit(0));setTimeout(()=>process.exit(3),2000)")).toThrow()
    const peers = await until(
      "the coordinator to see the edge node's relayed ad",
      () => {
        const list = JSON.parse(weft(coordinator, 'peers', '--json')) as Array<{ peerId: string; status: string; ad: { addrs: string[] } }>
        const e = list.find((p) => p.peerId === edge.peerId && p.status === 'alive')
        return e?.ad.addrs.some((a) => a.includes(`/p2p/${relay.peerId}/p2p-circuit`)) ? e : undefined
      },
      60_000,
    )
    expect(peers.ad.addrs.some((a) => a.includes('/p2p-circuit'))).toBe(true)
  }, 90_000)

  it('trains in a federated job, its connection to the coordinator direct through the NAT (the edge dials out)', async () => {
    const spec = join(root, 'job.json')
    writeFileSync(
      spec,
      JSON.stringify({
        name: 'behind-nat',
        model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
        dataset: 'synth',
        rounds: 2,
        clients: { min: 1 },
        train: { epochs: 1, batchSize: 16, optimizer: { kind: 'sgd', lr: 0.2 } },
        timeouts: { roundSeconds: 60, waitSeconds: 60 },
      }),
    )
    const submitted = JSON.parse(weft(coordinator, 'fl', 'submit', spec, '--json')) as { id: string }
    const job = await until(
      'the job to finish',
      () => {
        const v = JSON.parse(weft(coordinator, 'fl', 'status', submitted.id, '--json')) as { status: string; history: Array<{ delivered?: string[] }> }
        return v.status === 'running' ? undefined : v
      },
      120_000,
    )
    expect(job.status).toBe('finished')
    expect(job.history.every((r) => r.delivered?.includes(edge.peerId))).toBe(true)
    // The coordinator's connection to the edge node: direct, to the router's public address (the NAT's mapping), after
    // DCUtR; or still relayed if the upgrade did not happen.
    type Status = { connections: Array<{ peerId: string; remoteAddr: string; direction: string }> }
    const status = await until(
      'a direct connection',
      () => {
        const s = JSON.parse(weft(coordinator, 'status', '--json')) as Status
        return s.connections.some((c) => c.peerId === edge.peerId && !c.remoteAddr.includes('/p2p-circuit')) ? s : undefined
      },
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: the coordinator's connections ${weft(coordinator, 'status', '--json')}; the edge's log:\n${edge.log.join('\n')}`)
    })
    // Inbound, from the router's public address: the NAT's mapping of a connection the edge node opened.
    const direct = status.connections.find((c) => c.peerId === edge.peerId && !c.remoteAddr.includes('/p2p-circuit'))
    expect(direct?.direction).toBe('inbound')
    expect(direct?.remoteAddr).toMatch(/^\/ip4\/203\.0\.113\.2\/tcp\//)
  }, 180_000)
})
