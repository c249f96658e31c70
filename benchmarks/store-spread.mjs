// One artifact to many nodes (issue 16): swarming against one source sending to each in turn, in the same run.
// 1 source + N fetcher node processes on 127.0.0.1 (default N = 10: "to 10 nodes", 11 processes). The source puts
// one artifact of random bytes (1 MiB raw leaves) and announces it. Three ways to get it to the N fetchers:
//   (a) swarm: all N fetch at once through their API (`POST /v1/store/:cid/fetch`, providers found by discovery:
//       connected peers that hold it, so fetchers that completed, with store.provideFetched, serve the rest);
//   (b) one source: each fetcher in turn fetches with the source as its only provider (same stack, no swarming);
//   (c) raw TCP: this script sends the bytes to a forked sink over a plain node:net socket, N times in turn (the
//       sink sha256-hashes each MiB as the store verifies each block): the floor of one sender.
// Between (a) and (b) every fetcher unpins the root and collects garbage, so each fetch moves every block again.
// Usage: npm run build, then
//   node benchmarks/store-spread.mjs [--mb 200] [--fetchers 10] [--serve-rate <bytes/s>] [--json] [--keep]
// --serve-rate sets store.serveBytesPerSecond on every node where the config has it (it is refused otherwise).
import '@weft/mesh/shim'
import { sendRawTcp, startRawTcpSink } from './lib/raw-tcp.mjs'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    fetchers: { type: 'string', default: '10' },
    'serve-rate': { type: 'string' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
})
const MIB = 2 ** 20

await main()

async function main() {
  const { startLocalNode, waitUntil } = await import('@weft/cli')
  const mb = Number(args.mb)
  const fetcherCount = Number(args.fetchers)
  if (!(mb > 0) || !Number.isInteger(fetcherCount) || fetcherCount < 1) throw new RangeError('--mb must be > 0 and --fetchers an integer ≥ 1')
  const bytes = Math.round(mb * MIB)
  const root = mkdtempSync(join(tmpdir(), 'weft-store-spread-'))
  const sink = await startRawTcpSink()
  const { port } = sink
  const nodes = []
  const say = (line) => {
    if (!args.json) console.log(line)
  }
  try {
    const start = (name, bootstrap) => {
      const dir = join(root, name)
      mkdirSync(dir, { recursive: true })
      const store = args['serve-rate'] === undefined ? {} : { serveBytesPerSecond: Number(args['serve-rate']) }
      writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, store }))
      const extra = bootstrap === undefined ? [] : ['--bootstrap', bootstrap]
      return startLocalNode({
        dataDir: dir,
        startTimeoutMs: 180_000,
        args: ['--config', join(dir, 'weft.json'), '--no-probe', '--no-dashboard', '--log-level', 'warn', ...extra],
      })
    }
    const source = await start('source')
    nodes.push(source)
    const bootstrap = source.addrs.find((a) => !a.includes('/ws'))
    // Started a few at a time: a 2-core machine starting eleven nodes at once times some of them out.
    const fetchers = []
    for (let i = 0; i < fetcherCount; i += 4) {
      const batch = await Promise.all(Array.from({ length: Math.min(4, fetcherCount - i) }, (_, j) => start(`f${i + j}`, bootstrap)))
      fetchers.push(...batch)
      nodes.push(...batch)
    }
    await waitUntil(
      async () => (await Promise.all(nodes.map(async (n) => (await n.api.peers('alive')).filter((p) => p.connected).length))).every((c) => c >= fetcherCount),
      180_000,
      'every node connected to every other',
      500,
    )
    const data = randomBytes(bytes)
    const added = await source.api.storeAddFile(data, { name: 'artifact.bin', announce: true, size: bytes })
    const cid = added.cid
    const expected = createHash('sha256').update(data).digest('hex')
    say(`store-spread: ${mb} MiB artifact ${cid}, 1 source + ${fetcherCount} fetcher processes${args['serve-rate'] === undefined ? '' : `, serve rate ${args['serve-rate']} B/s`}`)

    /** Checks every fetcher holds the artifact whole, then drops it everywhere (unpin stops serving; gc removes the blocks). */
    const verifyAndDrop = async () => {
      for (const f of fetchers) {
        const stat = await f.api.storeStat(cid)
        if (stat.missing !== 0 || stat.size !== bytes) throw new Error(`${f.peerId} does not hold the artifact whole`)
        const { body } = await f.api.storeContent(cid)
        const hash = createHash('sha256')
        for await (const chunk of body) hash.update(chunk)
        if (hash.digest('hex') !== expected) throw new Error(`${f.peerId} holds other bytes`)
      }
      for (const f of fetchers) {
        await f.api.storeUnpin(cid)
        await f.api.storeGc()
      }
    }

    let t0 = performance.now()
    for (let i = 0; i < fetcherCount; i++) await sendRawTcp(port, data, { hash: true })
    const raw = performance.now() - t0
    say(`  raw TCP, one sender to ${fetcherCount} in turn: ${(raw / 1000).toFixed(1)} s`)

    // One source: each fetch is timed alone, and its copy then stops being served (unannounce; it stays pinned for the
    // check), so the next fetcher's discovery finds no holder but the source.
    let oneSource = 0
    let oneSourceFromSource = 0
    let oneSourceBlocks = 0
    for (const f of fetchers) {
      const t = performance.now()
      const r = await f.api.storeFetch(cid, { providers: [source.peerId] })
      oneSource += performance.now() - t
      oneSourceFromSource += r.providers.find((p) => p.peer === source.peerId)?.blocks ?? 0
      oneSourceBlocks += r.blocks
      await f.api.storeUnannounce(cid)
    }
    say(`  one source, each fetcher in turn: ${(oneSource / 1000).toFixed(1)} s; ${oneSourceFromSource} of ${oneSourceBlocks} blocks from the source`)
    await verifyAndDrop()

    t0 = performance.now()
    const done = []
    let resumed = 0
    // A fetch whose every provider timed out (a 30 s RPC deadline; one source with every window of every fetcher
    // queued on it can pass it on a loaded machine) ends "no provider left": it is resumed and counted, not hidden.
    const fetchResuming = async (f) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await f.api.storeFetch(cid)
        } catch (err) {
          if (err.name !== 'ApiError' || err.status !== 404 || attempt >= 3) throw err
          resumed++
          say(`  (${f.peerId.slice(-8)}: ${err.detail}; resumed)`)
        }
      }
    }
    const results = await Promise.all(
      fetchers.map(async (f) => {
        const r = await fetchResuming(f)
        done.push(performance.now() - t0)
        return r
      }),
    )
    const swarm = performance.now() - t0
    const fromSource = results.reduce((n, r) => n + (r.providers.find((p) => p.peer === source.peerId)?.blocks ?? 0), 0)
    const fromAll = results.reduce((n, r) => n + r.blocks, 0)
    say(`  swarm, all at once: ${(swarm / 1000).toFixed(1)} s (first done ${(Math.min(...done) / 1000).toFixed(1)} s); ${fromSource} of ${fromAll} blocks from the source${resumed > 0 ? `, ${resumed} fetch(es) resumed` : ''}`)
    await verifyAndDrop()

    const report = {
      mb,
      fetchers: fetcherCount,
      processes: fetcherCount + 1,
      cid,
      ms: { swarm: Math.round(swarm), oneSource: Math.round(oneSource), rawTcp: Math.round(raw) },
      swarmFirstDoneMs: Math.round(Math.min(...done)),
      blocksFromSource: fromSource,
      blocksFetched: fromAll,
      swarmFetchesResumed: resumed,
      ratio: { swarmToOneSource: swarm / oneSource, swarmToRawTcp: swarm / raw, oneSourceToRawTcp: oneSource / raw },
    }
    if (args.json) console.log(JSON.stringify(report))
    else {
      console.log('| path | seconds | ratio to one source | ratio to raw TCP |')
      console.log('|---|---:|---:|---:|')
      console.log(`| raw TCP, one sender, ${fetcherCount} in turn | ${(raw / 1000).toFixed(1)} | ${(raw / oneSource).toFixed(2)} | 1.00 |`)
      console.log(`| one source, ${fetcherCount} fetches in turn | ${(oneSource / 1000).toFixed(1)} | 1.00 | ${(oneSource / raw).toFixed(2)} |`)
      console.log(`| **swarm, ${fetcherCount} at once** | ${(swarm / 1000).toFixed(1)} | ${(swarm / oneSource).toFixed(2)} | ${(swarm / raw).toFixed(2)} |`)
    }
  } finally {
    for (const n of nodes) await n.stop().catch(() => {})
    sink.close()
    if (!args.keep) rmSync(root, { recursive: true, force: true })
  }
}
