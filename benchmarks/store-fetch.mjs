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
import { fork } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '128' },
    runs: { type: 'string', default: '3' },
    psk: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    profile: { type: 'string' },
    sink: { type: 'string' },
  },
})
const MIB = 2 ** 20

if (args.sink !== undefined) runSink(args.sink)
else await main()

/** The forked raw-TCP receiver: hashes every 1 MiB (and with `disk`, writes it crash-safe), acks at the end. */
function runSink(dir) {
  const server = net.createServer((sock) => {
    let total = -1
    let got = 0
    let pending = []
    let pendingBytes = 0
    let seq = 0
    let disk = false
    let header = Buffer.alloc(0)
    const flush = (force) => {
      while (pendingBytes >= MIB || (force && pendingBytes > 0)) {
        const all = Buffer.concat(pending)
        const n = Math.min(MIB, all.length)
        const block = all.subarray(0, n)
        createHash('sha256').update(block).digest()
        if (disk) {
          const tmp = join(dir, `t${seq}`)
          const fd = openSync(tmp, 'w')
          writeSync(fd, block)
          fsyncSync(fd)
          closeSync(fd)
          renameSync(tmp, join(dir, `b${seq++}`))
          const dfd = openSync(dir, 'r')
          fsyncSync(dfd)
          closeSync(dfd)
        }
        pending = n < all.length ? [all.subarray(n)] : []
        pendingBytes = all.length - n
      }
    }
    sock.on('data', (b) => {
      if (total < 0) {
        header = Buffer.concat([header, b])
        if (header.length < 9) return
        total = Number(header.readBigUInt64BE(0))
        disk = header[8] === 1
        b = header.subarray(9)
      }
      got += b.length
      pending.push(b)
      pendingBytes += b.length
      flush(false)
      if (got >= total) {
        flush(true)
        sock.end('k')
      }
    })
  })
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
  process.on('disconnect', () => process.exit(0))
}

async function rawTcp(port, data, disk) {
  const header = Buffer.alloc(9)
  header.writeBigUInt64BE(BigInt(data.length), 0)
  header[8] = disk ? 1 : 0
  const t0 = performance.now()
  await new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', async () => {
      sock.write(header)
      for (let at = 0; at < data.length; at += 4 * MIB) {
        if (!sock.write(data.subarray(at, at + 4 * MIB))) await new Promise((r) => sock.once('drain', r))
      }
    })
    sock.on('data', () => {
      sock.destroy()
      resolve(undefined)
    })
    sock.on('error', reject)
  })
  return performance.now() - t0
}

async function main() {
  const { startLocalNode, waitUntil } = await import('@weft/cli')
  const bytes = Number(args.mb) * MIB
  const runs = Number(args.runs)
  const root = mkdtempSync(join(tmpdir(), 'weft-store-fetch-'))
  const sinkDir = join(root, 'sink')
  mkdirSync(sinkDir)
  const sink = fork(new URL(import.meta.url).pathname, ['--sink', sinkDir], { stdio: 'inherit' })
  const { port } = await new Promise((r) => sink.once('message', r))
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
      rows.tcp.push(await rawTcp(port, data, false))
      rmSync(sinkDir, { recursive: true, force: true })
      mkdirSync(sinkDir)
      rows.tcpDisk.push(await rawTcp(port, data, true))
      const t0 = performance.now()
      const fetched = await b.api.storeFetch(cid, { providers: [a.peerId] })
      rows.fetch.push(performance.now() - t0)
      if (fetched.blocks === 0) throw new Error('the fetch found the artifact already complete: unpin + gc did not remove it')
      await b.api.storeUnpin(cid)
      await b.api.storeGc()
      rmSync(sinkDir, { recursive: true, force: true })
      mkdirSync(sinkDir)
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
    sink.disconnect()
    if (!args.keep) rmSync(root, { recursive: true, force: true })
  }
}
