// Benchmark: time from `weft node start` to connected through bootstrap, and resident memory of an idle node with 20 peers.
// Run: npm run build && node benchmarks/node-startup.mjs [--runs 5] [--peers 20] [--no-probe]
// Baseline in the same run: the time for `node -e ""` (a bare Node.js process start) on this machine.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startLocalNode, waitUntil } from '@weft/cli'
import '@weft/mesh/shim'

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, peers: { type: 'string', default: '20' }, 'no-probe': { type: 'boolean', default: false } },
})
const runs = Number(values.runs)
const peerCount = Number(values.peers)
const root = mkdtempSync(join(tmpdir(), 'weft-bench-start-'))
// Every node process started, so that a failure still stops them all.
const started = []
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
// Default ad timing (every 10 s, valid 30 s): what an idle production node runs.
const quiet = ['--log-level', 'warn', ...(values['no-probe'] ? ['--no-probe'] : [])]

try {
  const bare = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    execFileSync(process.execPath, ['-e', ''])
    bare.push(performance.now() - t)
  }

  const hub = await startLocalNode({ dataDir: join(root, 'hub'), args: quiet })
  started.push(hub)
  const bootstrap = hub.addrs.find((a) => !a.includes('/ws'))
  const connect = []
  const ad = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const node = await startLocalNode({ dataDir: join(root, `n${i}`), args: [...quiet, '--bootstrap', bootstrap] })
    started.push(node)
    await waitUntil(async () => (await node.api.node()).connections.some((c) => c.peerId === hub.peerId), 10_000, 'connection', 5)
    connect.push(performance.now() - t)
    await waitUntil(async () => (await node.api.peers('alive')).some((p) => p.peerId === hub.peerId), 10_000, 'hub ad', 5)
    ad.push(performance.now() - t)
    await node.stop()
  }

  // 20 peers, each a full Weft node in its own process, around the measured node.
  const peers = []
  for (let i = 0; i < peerCount; i += 5) {
    started.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(5, peerCount - i) }, (_, k) =>
          startLocalNode({ dataDir: join(root, `p${i + k}`), args: [...quiet, '--no-probe', '--bootstrap', bootstrap], startTimeoutMs: 120_000 }),
        ),
      )),
    )
  }
  peers.push(...started.slice(runs + 1))
  await waitUntil(
    async () => {
      const alive = (await hub.api.peers('alive')).length
      process.stderr.write(`\r${alive}/${peerCount} peers alive`)
      return alive >= peerCount
    },
    180_000,
    `${peerCount} peers`,
    1000,
  )
  process.stderr.write('\n')
  const idleMs = 10_000
  await new Promise((r) => setTimeout(r, idleMs))
  const metrics = await hub.api.metrics()
  const rss = Number(/^weft_process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1])
  const conns = (await hub.api.node()).connections.length
  await Promise.all(peers.map((p) => p.stop()))
  await hub.stop()

  const ms = (x) => `${(x / 1000).toFixed(2)} s`
  console.log(`bare node process start (baseline): median ${ms(median(bare))}`)
  console.log(`start → connected to bootstrap:     median ${ms(median(connect))} (runs: ${connect.map(ms).join(', ')}) = ${(median(connect) / median(bare)).toFixed(1)}× a bare process`)
  console.log(`start → bootstrap peer's ad known:  median ${ms(median(ad))}`)
  console.log(`idle node with ${(await Promise.resolve(peerCount))} peers (${conns} connections) after ${idleMs / 1000} s idle: RSS ${(rss / 2 ** 20).toFixed(0)} MiB`)
} finally {
  await Promise.all(started.map((n) => n.stop()))
  rmSync(root, { recursive: true, force: true })
}
