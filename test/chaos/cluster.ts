// A Weft cluster for chaos runs: every node a real `weft node start` process in its own network namespace, joined
// to a bridge in the harness's namespace (so the harness reaches each node's API, and a partition between two nodes
// leaves the harness's view alone). Faults: SIGKILL and restart, SIGSTOP/SIGCONT, partitions by packet filtering in
// a node's namespace (both ways, or one way), a full disk (a node's data directory on a small tmpfs, filled up), lossy
// and narrow links (packets dropped at random by nftables; a token-bucket qdisc both ways), added latency (this kernel
// has no netem: with `proxied`, every mesh connection is DNAT'd through a relay in the harness that holds each chunk
// for the lagging node's delay, in order), and wall-clock jumps (libfaketime, its offset file rewritten while the node
// runs).
// Each node's log lines (pino JSON) go to the history as they come.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNodeApiClient } from '@weft/api-client/node'
import { FAKETIME_LIB } from '../requirements.js'
import type { History } from './history.js'

const BIN = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url))
const sh = (...args: string[]): string => execFileSync(args[0] as string, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

export interface ClusterNode {
  readonly name: string
  readonly ns: string
  readonly ip: string
  readonly dir: string
  /** The host end of its veth pair, on the bridge. */
  readonly veth: string
  readonly args: readonly string[]
  peerId: string
  process: ChildProcess | undefined
  paused: boolean
}

export interface Cluster {
  readonly nodes: ReadonlyMap<string, ClusterNode>
  /** Starts a node (its namespace exists); resolves once its API answers. */
  start(name: string): Promise<ClusterNode>
  kill(name: string): void
  pause(name: string): void
  resume(name: string): void
  /** Drops packets between two nodes: both ways, or only those `from` sends to `to`. */
  partition(from: string, to: string, oneWay?: boolean): void
  heal(from: string, to: string): void
  /**
   * Degrades the node's link: `lossPercent` of its packets (both ways) dropped at random, and/or its bandwidth capped
   * at `rateKbit` both ways. `restoreLink` undoes both.
   */
  degradeLink(name: string, link: { lossPercent?: number; rateKbit?: number }): void
  restoreLink(name: string): void
  /**
   * Delays every byte the node sends or receives over the mesh by `ms` each way, plus up to `jitterMs` more (order
   * kept: TCP's); 0 ends it. Needs a cluster made with `proxied`.
   */
  lag(name: string, ms: number, jitterMs?: number): void
  /**
   * Moves the node's wall clock `seconds` from true time (monotonic clocks untouched); 0 sets it back. Resolves once
   * the node's HTTP `Date` header shows the new offset (libfaketime reads its file at most every second).
   * @throws Error when the node's clock has not moved within 5 s
   */
  setClock(name: string, seconds: number): Promise<void>
  /** Fills the node's data directory (a tmpfs: `diskMiB` given) to the last byte; `unfill` frees it again. */
  fill(name: string): void
  unfill(name: string): void
  api(name: string): ReturnType<typeof createNodeApiClient>
  /** Stops every node and removes the namespaces and the bridge. */
  destroy(): Promise<void>
}

/** Clusters made and not yet destroyed in this process. */
const live = new Set<Cluster>()

/**
 * Destroys every cluster of this process still standing: a scenario whose test timed out leaves its run going, and its
 * nodes and namespaces with it (the chaos tests call this after all).
 */
export async function destroyAllClusters(): Promise<number> {
  const standing = [...live]
  await Promise.all(standing.map((c) => c.destroy()))
  return standing.length
}

/**
 * Makes the namespaces and the bridge for `specs` (nothing started yet). `tag` keeps names unique to this run.
 * @throws Error when a namespace or link cannot be made (not root, no iproute2)
 */
export function makeCluster(
  root: string,
  tag: string,
  specs: readonly { name: string; args: readonly string[]; diskMiB?: number }[],
  history: History,
  options: { clocks?: boolean; proxied?: boolean } = {},
): Cluster {
  if (options.clocks === true && !existsSync(FAKETIME_LIB)) throw new Error(`clock faults need libfaketime (${FAKETIME_LIB}; Debian's faketime)`)
  const bridge = `wcb${tag}`
  const subnet = `10.79.${(Number.parseInt(tag, 36) % 200) + 20}`
  const nodes = new Map<string, ClusterNode>()
  const mounts: string[] = []
  // What a run killed before its cleanup left behind under the same names.
  const leftovers: string[][] = [['ip', 'link', 'del', bridge], ...specs.flatMap((_, i) => [['ip', 'netns', 'del', `wc${tag}${i}`], ['ip', 'link', 'del', `wcv${tag}${i}`]])]
  for (const cmd of leftovers) {
    try {
      sh(...cmd)
    } catch {
      // Nothing left: the usual case.
    }
  }
  sh('ip', 'link', 'add', bridge, 'type', 'bridge')
  sh('ip', 'addr', 'add', `${subnet}.254/24`, 'dev', bridge)
  sh('ip', 'link', 'set', bridge, 'up')
  specs.forEach((s, i) => {
    const ns = `wc${tag}${i}`
    const host = `wcv${tag}${i}`
    const ip = `${subnet}.${i + 1}`
    sh('ip', 'netns', 'add', ns)
    sh('ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    sh('ip', 'link', 'set', host, 'master', bridge)
    sh('ip', 'link', 'set', host, 'up')
    sh('ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0')
    sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
    sh('ip', 'netns', 'exec', ns, 'nft', 'add table inet chaos')
    sh('ip', 'netns', 'exec', ns, 'nft', 'add chain inet chaos in { type filter hook input priority 0 ; }')
    sh('ip', 'netns', 'exec', ns, 'nft', 'add chain inet chaos out { type filter hook output priority 0 ; }')
    if (options.proxied === true) {
      sh('ip', 'netns', 'exec', ns, 'nft', 'add table ip chaosnat')
      sh('ip', 'netns', 'exec', ns, 'nft', 'add chain ip chaosnat out { type nat hook output priority -100 ; }')
    }
    const dir = join(root, s.name)
    mkdirSync(dir, { recursive: true })
    if (s.diskMiB !== undefined) sh('mount', '-t', 'tmpfs', '-o', `size=${s.diskMiB}m`, 'tmpfs', dir)
    mounts.push(...(s.diskMiB === undefined ? [] : [dir]))
    nodes.set(s.name, { name: s.name, ns, ip, dir, veth: host, args: s.args, peerId: '', process: undefined, paused: false })
  })

  // The relays: one per node, on the bridge's address, to which every other namespace DNATs that node's mesh port.
  const lags = new Map<string, { ms: number; jitterMs: number }>()
  const byIp = new Map([...nodes.values()].map((n) => [n.ip, n.name]))
  const sockets = new Set<Socket>()
  const relays: Server[] = []
  if (options.proxied === true) {
    const entries = [...nodes.values()]
    entries.forEach((target, i) => {
      const port = RELAY_PORT + i
      const server = createServer((down) => {
        const from = byIp.get((down.remoteAddress ?? '').replace(/^::ffff:/, ''))
        const up = createConnection({ host: target.ip, port: 4100 })
        // Both ways: the delay of either end's link, drawn per chunk.
        const delay = () => [from, target.name].reduce((d, n) => (n === undefined ? d : d + delayOf(lags.get(n))), 0)
        relay(down, up, delay, sockets)
        relay(up, down, delay, sockets)
      })
      // A relay that cannot listen (its port taken) fails the first dial through it: the run then says so.
      server.on('error', (err) => history.add({ at: history.now(), kind: 'node-exit', node: `relay to ${target.name}`, code: null, signal: null, tail: [err.message] }))
      server.listen(port, `${subnet}.254`)
      relays.push(server)
      for (const other of entries) {
        if (other === target) continue
        sh('ip', 'netns', 'exec', other.ns, 'nft', `add rule ip chaosnat out ip daddr ${target.ip} tcp dport 4100 dnat to ${subnet}.254:${port}`)
      }
    })
  }

  const node = (name: string): ClusterNode => {
    const n = nodes.get(name)
    if (n === undefined) throw new Error(`no node ${name} in this cluster`)
    return n
  }
  const nft = (n: ClusterNode, ...rule: string[]) => sh('ip', 'netns', 'exec', n.ns, 'nft', ...rule)
  /** Removes every packet rule in the node's namespace: partitions and packet loss alike. */
  const flushRules = (n: ClusterNode) => {
    nft(n, 'flush', 'chain', 'inet', 'chaos', 'out')
    nft(n, 'flush', 'chain', 'inet', 'chaos', 'in')
  }
  const clockFile = (n: ClusterNode) => join(root, `${n.name}.faketime`)
  // Under libfaketime: the offset file (read again at most every second), the monotonic clock left true (timers).
  const clockEnv = (n: ClusterNode): NodeJS.ProcessEnv => {
    if (options.clocks !== true) return process.env
    if (!existsSync(clockFile(n))) writeFileSync(clockFile(n), '+0s\n')
    return { ...process.env, LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: clockFile(n), FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' }
  }

  const api = (name: string) => {
    const n = node(name)
    return createNodeApiClient({ apiUrl: `http://${n.ip}:4200`, dataDir: n.dir, timeoutMs: 5_000 })
  }

  const readLines = (n: ClusterNode, child: ChildProcess) => {
    let rest = ''
    const tail: string[] = []
    const keep = (line: string) => {
      tail.push(line.slice(0, 400))
      if (tail.length > 20) tail.shift()
    }
    child.stderr?.on('data', (b: Buffer) => {
      for (const line of b.toString('utf8').split('\n')) if (line.length > 0) keep(line)
    })
    child.once('exit', (code, signal) => {
      // A kill by the harness clears n.process first; anything else is the node's own end.
      if (n.process === child) history.add({ at: history.now(), kind: 'node-exit', node: n.name, code, signal, tail: [...tail] })
    })
    child.stdout?.on('data', (b: Buffer) => {
      const text = rest + b.toString('utf8')
      const lines = text.split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        let rec: Record<string, unknown>
        try {
          rec = JSON.parse(line) as Record<string, unknown>
        } catch {
          keep(line)
          continue
        }
        if (typeof rec['level'] === 'number' && (rec['level'] as number) >= 50) keep(line)
        // The client's own word that the coordinator accepted its update (the participant logs it on the ack).
        if (rec['msg'] === 'update accepted' && rec['component'] === 'fl-client') {
          history.add({ at: history.now(), kind: 'client-ack', node: n.name, peerId: n.peerId, job: String(rec['job']), round: Number(rec['round']) })
        }
      }
    })
  }

  let destroyed = false
  const cluster: Cluster = {
    nodes,
    async start(name) {
      // A fault still under way when its run ended must not start a node again in a namespace that is gone.
      if (destroyed) throw new Error(`the cluster is destroyed: ${name} is not started again`)
      const n = node(name)
      const child = spawn(
        'ip',
        ['netns', 'exec', n.ns, process.execPath, BIN, 'node', 'start', '--data-dir', n.dir, '--listen', `/ip4/${n.ip}/tcp/4100`, '--api-host', n.ip, '--api-port', '4200', ...n.args],
        { stdio: ['ignore', 'pipe', 'pipe'], env: clockEnv(n) },
      )
      n.process = child
      n.paused = false
      readLines(n, child)
      const deadline = Date.now() + 60_000
      for (;;) {
        if (child.exitCode !== null) throw new Error(`node ${name} exited (${child.exitCode}) as it started`)
        const record = join(n.dir, 'node.json')
        if (existsSync(record)) {
          try {
            n.peerId = (JSON.parse(readFileSync(record, 'utf8')) as { peerId: string }).peerId
            await api(name).node()
            return n
          } catch {
            // Not answering yet.
          }
        }
        if (Date.now() > deadline) throw new Error(`node ${name} did not start within 60 s`)
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    kill(name) {
      const n = node(name)
      n.process?.kill('SIGKILL')
      n.process = undefined
    },
    pause(name) {
      const n = node(name)
      n.process?.kill('SIGSTOP')
      n.paused = true
    },
    resume(name) {
      const n = node(name)
      n.process?.kill('SIGCONT')
      n.paused = false
    },
    partition(from, to, oneWay = false) {
      const [a, b] = [node(from), node(to)]
      nft(a, 'add', 'rule', 'inet', 'chaos', 'out', 'ip', 'daddr', b.ip, 'drop')
      if (!oneWay) nft(a, 'add', 'rule', 'inet', 'chaos', 'in', 'ip', 'saddr', b.ip, 'drop')
    },
    heal(from) {
      flushRules(node(from))
    },
    degradeLink(name, link) {
      const n = node(name)
      if (link.lossPercent !== undefined) {
        for (const chain of ['in', 'out']) nft(n, 'add', 'rule', 'inet', 'chaos', chain, 'numgen', 'random', 'mod', '100', '<', String(link.lossPercent), 'drop')
      }
      if (link.rateKbit !== undefined) {
        const tbf = ['root', 'tbf', 'rate', `${link.rateKbit}kbit`, 'burst', '16kb', 'latency', '2s']
        sh('ip', 'netns', 'exec', n.ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', ...tbf)
        sh('tc', 'qdisc', 'replace', 'dev', n.veth, ...tbf)
      }
    },
    restoreLink(name) {
      const n = node(name)
      flushRules(n)
      for (const cmd of [['ip', 'netns', 'exec', n.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], ['tc', 'qdisc', 'del', 'dev', n.veth, 'root']]) {
        try {
          sh(...cmd)
        } catch {
          // No qdisc there: the link was only lossy.
        }
      }
    },
    lag(name, ms, jitterMs = 0) {
      if (options.proxied !== true) throw new Error('this cluster was made without proxied: true')
      node(name)
      if (ms <= 0 && jitterMs <= 0) lags.delete(name)
      else lags.set(name, { ms, jitterMs })
    },
    async setClock(name, seconds) {
      if (options.clocks !== true) throw new Error('this cluster was made without clocks: true')
      const n = node(name)
      writeFileSync(clockFile(n), `${seconds >= 0 ? '+' : ''}${Math.round(seconds)}s\n`)
      // The node's HTTP server stamps each answer with its wall clock (to the second), 401 or not.
      let seen = Number.NaN
      for (const deadline = Date.now() + 5_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
        const res = await fetch(`http://${n.ip}:4200/v1/node`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
        const date = res?.headers.get('date')
        if (date === null || date === undefined) continue
        seen = (Date.parse(date) - Date.now()) / 1000
        if (Math.abs(seen - seconds) <= 2) return
      }
      throw new Error(`${name}'s clock is ${Number.isNaN(seen) ? 'unreadable' : `${seen.toFixed(0)} s off`}, not ${Math.round(seconds)} s`)
    },
    fill(name) {
      // Written until the file system refuses (ENOSPC), in 1 MiB then 4 KiB pieces: to the last block, whatever the
      // file system keeps for itself (a single fallocate of the free space reported can be refused outright).
      const fd = openSync(join(node(name).dir, 'chaos-filler'), 'w')
      try {
        for (const size of [1 << 20, 4096]) {
          const piece = Buffer.alloc(size)
          for (;;) {
            try {
              writeSync(fd, piece)
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break
              throw err
            }
          }
        }
      } finally {
        closeSync(fd)
      }
    },
    unfill(name) {
      rmSync(join(node(name).dir, 'chaos-filler'), { force: true })
    },
    api,
    async destroy() {
      destroyed = true
      live.delete(cluster)
      for (const socket of sockets) socket.destroy()
      for (const server of relays) server.close()
      for (const n of nodes.values()) {
        if (n.paused) n.process?.kill('SIGCONT')
        const child = n.process
        if (child === undefined || child.exitCode !== null || child.signalCode !== null) continue
        child.kill('SIGTERM')
        await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 10_000))])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      for (const n of nodes.values()) {
        try {
          sh('ip', 'netns', 'del', n.ns)
        } catch {
          // Gone already.
        }
      }
      try {
        sh('ip', 'link', 'del', bridge)
      } catch {
        // Gone already.
      }
      for (const dir of mounts) {
        try {
          sh('umount', dir)
        } catch {
          // Not mounted.
        }
      }
    },
  }
  live.add(cluster)
  return cluster
}

/** The first relay port on the bridge's address (node i's relay listens on RELAY_PORT + i). */
const RELAY_PORT = 5100
/** Bytes a relay holds for one direction before it stops reading the sender. */
const RELAY_HIGH_WATER = 4 << 20

function delayOf(lag: { ms: number; jitterMs: number } | undefined): number {
  return lag === undefined ? 0 : lag.ms + Math.random() * lag.jitterMs
}

/**
 * Copies `from` to `to`, each chunk held until `delay()` ms after it came, in order (a chunk never leaves before the
 * one before it); the end too. Either side failing closes both.
 */
function relay(from: Socket, to: Socket, delay: () => number, sockets: Set<Socket>): void {
  sockets.add(from)
  const queue: { due: number; chunk: Buffer | null }[] = []
  let queued = 0
  let timer: NodeJS.Timeout | undefined
  const pump = () => {
    timer = undefined
    const now = Date.now()
    while (queue.length > 0 && (queue[0]?.due ?? 0) <= now) {
      const { chunk } = queue.shift() as { due: number; chunk: Buffer | null }
      if (chunk === null) {
        to.end()
        continue
      }
      queued -= chunk.length
      to.write(chunk)
    }
    if (queued < RELAY_HIGH_WATER / 2 && from.isPaused()) from.resume()
    if (queue.length > 0) timer = setTimeout(pump, Math.max(0, (queue[0]?.due ?? now) - now))
  }
  const push = (chunk: Buffer | null) => {
    const d = delay()
    if (d <= 0 && queue.length === 0) {
      if (chunk === null) to.end()
      else to.write(chunk)
      return
    }
    const due = Math.max(Date.now() + d, queue.at(-1)?.due ?? 0)
    queue.push({ due, chunk })
    if (chunk !== null) queued += chunk.length
    if (queued > RELAY_HIGH_WATER) from.pause()
    if (timer === undefined) timer = setTimeout(pump, Math.max(0, due - Date.now()))
  }
  from.on('data', (chunk: Buffer) => push(chunk))
  from.on('end', () => push(null))
  const close = () => {
    clearTimeout(timer)
    sockets.delete(from)
    to.destroy()
  }
  from.on('error', close)
  // A clean close: the end is queued behind the data (the other way's relay closes `from`'s side).
  from.on('close', (hadError) => (hadError ? close() : sockets.delete(from)))
}
