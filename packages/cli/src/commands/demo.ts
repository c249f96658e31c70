// `weft demo` (what `npm start` runs): a local fabric of node processes on 127.0.0.1 that find each other.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { type LocalNode, startLocalNode, waitUntil } from '../local-fabric.js'
import { formatPeers } from './node.js'

interface DemoOptions {
  nodes: string
  dir?: string
  keep?: boolean
  exit?: boolean
}

const SITES = ['tucson', 'lisbon', 'osaka', 'nairobi', 'quito', 'oslo', 'perth', 'lima']

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start a local fabric of node processes on 127.0.0.1 and show the mesh they form')
    .option('--nodes <n>', 'number of nodes', '5')
    .option('--dir <dir>', 'parent directory for the nodes’ data directories (default: a new temp dir)')
    .option('--keep', 'keep the data directories afterwards')
    .option('--exit', 'stop the fabric once every node sees every other (instead of running until Ctrl-C)')
    .action(async (opts: DemoOptions) => {
      const count = Number(opts.nodes)
      if (!Number.isInteger(count) || count < 2 || count > 32) throw new RangeError(`--nodes must be 2..32, got '${opts.nodes}'`)
      const root = opts.dir ?? mkdtempSync(join(tmpdir(), 'weft-demo-'))
      const nodes: LocalNode[] = []
      const started = Date.now()
      let stopping = false
      const stopAll = async () => {
        if (stopping) return
        stopping = true
        process.stderr.write('stopping the fabric…\n')
        await Promise.all(nodes.map((n) => n.stop()))
        if (opts.keep !== true && opts.dir === undefined) rmSync(root, { recursive: true, force: true })
      }
      process.once('SIGINT', () => void stopAll().then(() => process.exit(130)))
      process.once('SIGTERM', () => void stopAll().then(() => process.exit(143)))
      try {
        const common = ['--ad-interval', '2000', '--ad-ttl', '6000', '--log-level', 'warn']
        const label = (i: number) => ['--label', `site=${SITES[i % SITES.length]}`, '--label', `tier=${i === 0 ? 'dc' : i % 2 === 0 ? 'dc' : 'edge'}`]
        process.stderr.write(`starting ${count} nodes under ${root}\n`)
        const first = await startLocalNode({ dataDir: join(root, 'node-0'), args: [...common, ...label(0)] })
        nodes.push(first)
        const bootstrap = first.addrs.find((a) => a.includes('/tcp/') && !a.includes('/ws'))
        if (bootstrap === undefined) throw new Error(`node-0 has no TCP address: ${first.addrs.join(' ')}`)
        process.stderr.write(`  node-0 ${first.peerId} (bootstrap ${bootstrap})\n`)
        const rest = await Promise.all(
          Array.from({ length: count - 1 }, (_, k) =>
            startLocalNode({ dataDir: join(root, `node-${k + 1}`), args: [...common, ...label(k + 1), '--bootstrap', bootstrap] }),
          ),
        )
        nodes.push(...rest)
        for (const [k, n] of rest.entries()) process.stderr.write(`  node-${k + 1} ${n.peerId}\n`)
        await waitUntil(
          async () => (await Promise.all(nodes.map(async (n) => (await n.api.peers('alive')).length))).every((c) => c === count - 1),
          60_000,
          'every node to see every other node’s resource ad',
          200,
        )
        process.stderr.write(`mesh formed in ${((Date.now() - started) / 1000).toFixed(1)} s: every node sees ${count - 1} peers\n\n`)
        process.stdout.write(`peers seen by node-0 (${first.api.url}):\n${formatPeers(await first.api.peers())}\n`)
        if (opts.exit === true) {
          await stopAll()
          return
        }
        process.stderr.write(`\nthe fabric is running; try: npx weft peers --data-dir ${join(root, 'node-1')}\nCtrl-C stops it all\n`)
        await new Promise(() => {})
      } catch (err) {
        await stopAll()
        throw err
      }
    })
}
