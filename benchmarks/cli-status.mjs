// Benchmark: wall time of `weft status` against one running node, this build against a previous one (same run,
// interleaved), with a bare `node -e ""` as the floor.
// Run: npm run build && WEFT_PREV=/work/prev node benchmarks/cli-status.mjs [--runs 15] [--prev <checkout>]
// The previous checkout must be built (its packages/cli/dist/bin.js). The node is started from this build.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startLocalNode } from '@weft/cli'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' }, prev: { type: 'string' } } })
const runs = Number(values.runs)
const prevRoot = values.prev ?? process.env.WEFT_PREV
if (prevRoot === undefined) throw new Error('give the previous checkout with --prev <dir> or WEFT_PREV')
const prevBin = resolve(prevRoot, 'packages/cli/dist/bin.js')
const currentBin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
for (const bin of [prevBin, currentBin]) if (!existsSync(bin)) throw new Error(`${bin} is missing: build that checkout (npx tsc -b)`)

const quantile = (xs, q) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}
/** Runs `node <args>` to completion and returns its wall time in ms and its stdout. */
function timed(args) {
  const t = performance.now()
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' })
  return { ms: performance.now() - t, out }
}

const root = mkdtempSync(join(tmpdir(), 'weft-bench-status-'))
const dataDir = join(root, 'node')
const node = await startLocalNode({ dataDir, args: ['--no-probe', '--log-level', 'warn'] })
try {
  const times = { bare: [], prev: [], current: [] }
  const status = (bin) => [bin, 'status', '--data-dir', dataDir]
  // One untimed run of each, so that neither pays for a cold file-system cache.
  for (const bin of [prevBin, currentBin]) {
    const { out } = timed(status(bin))
    if (!out.includes(node.peerId)) throw new Error(`${bin} status did not print the node's peer id:\n${out}`)
  }
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, so that neither always follows the other.
    const order = i % 2 === 0 ? ['prev', 'current'] : ['current', 'prev']
    for (const which of order) times[which].push(timed(status(which === 'prev' ? prevBin : currentBin)).ms)
    times.bare.push(timed(['-e', '']).ms)
  }
  const row = (name, xs) => `${name.padEnd(28)} median ${quantile(xs, 0.5).toFixed(0).padStart(5)} ms   p90 ${quantile(xs, 0.9).toFixed(0).padStart(5)} ms`
  console.log(`weft status, ${runs} interleaved runs each (Node ${process.version})`)
  console.log(row(`previous (${prevRoot})`, times.prev))
  console.log(row('this build', times.current))
  console.log(row('bare node -e ""', times.bare))
  const ratio = (q) => (quantile(times.prev, q) / quantile(times.current, q)).toFixed(2)
  console.log(`previous / this build: median ${ratio(0.5)}x, p90 ${ratio(0.9)}x`)
} finally {
  await node.stop()
  rmSync(root, { recursive: true, force: true })
}
