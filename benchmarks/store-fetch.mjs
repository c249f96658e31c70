// Single-peer fetch throughput of the block store against raw TCP, in the same run (issue 16, deliverable 7).
// Two node processes on 127.0.0.1: A holds one artifact (random bytes, 1 MiB raw leaves) and announces it; B fetches
// it from A (`weft store get` path: HTTP → block exchange → RPC `store/blocks` → verified, crash-safe writes), then
// unpins it and collects garbage so that the next run fetches it again. Baselines, each between two processes
// (this script and a forked sink), alternating run by run with the fetch:
//   - raw TCP: the same bytes written to a socket, the sink sha256-hashes each 1 MiB as the store verifies blocks;
//   - raw TCP + disk: the sink also writes each 1 MiB to its own file with fsync, as the store's crash-safe writes do.
// Usage: npm run build, then
//   node benchmarks/store-fetch.mjs [--mb 128] [--runs 3] [--psk] [--profile <dir>: CPU profiles of both nodes]
import '@weft/mesh/shim'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { sendRawTcp, startRawTcpSink } from './lib/raw-tcp.mjs'

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '128' },
    runs: { type: 'string', default: '3' },
    psk: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
})
const MIB = 2 ** 20

await main()

async function main() {
  const { startLocalNode, waitUntil } = await import('@weft/cli')
  const bytes = Number(args.mb) * MIB
  const runs = Number(args.runs)
  const root = mkdtempSync(join(tmpdir(), 'weft-store-fetch-'))
  const sink = await startRawTcpSink()
  const { port } = sink
  const nodes = []
  try {
    const data = randomBytes(bytes)
    const file = join(root, 'artifact.bin')
    writeFileSync(file, data)
    const extra = []
    if (args.psk) {
      const { generatePsk, formatPsk } = await import('@weft/node')
      const pskFile = join(root, 'swarm.key')
      writeFileSync(pskFile, formatPsk(generatePsk()), { mode: 0o600 })
      extra.push('--psk-file', pskFile)
    }
    const execArgv = args.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${args.profile}`]
    const a = await startLocalNode({ dataDir: join(root, 'a'), args: [...extra], execArgv })
    nodes.push(a)
    const b = await startLocalNode({ dataDir: join(root, 'b'), args: [...extra, '--bootstrap', a.addrs[0]], execArgv })
    nodes.push(b)
    await waitUntil(async () => (await b.api.peers()).some((p) => p.peerId === a.peerId && p.connected), 30_000, 'B to connect to A')
    const { readFile } = await import('node:fs/promises')
    const added = await a.api.storeAddFile(await readFile(file), { name: 'artifact.bin', announce: true, size: bytes })
    const cid = added.cid
    console.log(`store-fetch: ${args.mb} MiB artifact ${cid} (${added.blocks ?? '?'} blocks), ${args.psk ? 'private mesh (PSK)' : 'open mesh'}, ${runs} runs`)

    const rows = { fetch: [], tcp: [], tcpDisk: [] }
    for (let i = 0; i < runs; i++) {
      rows.tcp.push(await sendRawTcp(port, data, { hash: true }))
      rows.tcpDisk.push(await sendRawTcp(port, data, { hash: true, disk: true }))
      const t0 = performance.now()
      const fetched = await b.api.storeFetch(cid, { providers: [a.peerId] })
      rows.fetch.push(performance.now() - t0)
      if (fetched.blocks === 0) throw new Error('the fetch found the artifact already complete: unpin + gc did not remove it')
      await b.api.storeUnpin(cid)
      await b.api.storeGc()
    }
    const mibps = (ms) => args.mb / (ms / 1000)
    const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]
    const tcp = median(rows.tcp)
    console.log('| path | MiB/s (median) | runs (ms) | ratio to raw TCP |')
    console.log('|---|---:|---|---:|')
    for (const [name, key] of [
      ['raw TCP (+ sink sha256 per MiB)', 'tcp'],
      ['raw TCP + crash-safe disk writes per MiB', 'tcpDisk'],
      ['**block fetch, one provider**', 'fetch'],
    ]) {
      const m = median(rows[key])
      console.log(`| ${name} | ${mibps(m).toFixed(1)} | ${rows[key].map((x) => x.toFixed(0)).join(', ')} | ${(tcp / m).toFixed(2)} |`)
    }
  } finally {
    for (const n of nodes) await n.stop().catch(() => {})
    sink.close()
    if (!args.keep) rmSync(root, { recursive: true, force: true })
  }
}
