// What `weft demo` runs, loaded only when it runs: federated learning on a local fabric of node processes on
// 127.0.0.1, one coordinator and N clients, each client training on its own non-IID share of Fashion-MNIST.
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FASHION_MNIST_CLASSES, formatLabelTable, labelSkew, labelTable, partition } from '@weft/data'
import { ensureFashionMnist, FASHION_MNIST_SOURCE_TEXT, type FashionMnistLocation, loadFashionMnistLabels } from '@weft/data/node'
import { type JobEvent, parseJobSpec } from '@weft/fl'
import type { JobView } from '@weft/api-client'
import { decodeModelArtifact } from '@weft/runtime'
import { InvalidArgumentError } from 'commander'
import { stringify as stringifyYaml } from 'yaml'
import { formatBytes, formatDuration } from '../format.js'
import { type LocalNode, startLocalNode, waitUntil } from '../local-fabric.js'
import type { Role } from '@weft/mesh'
import { createJobProgress, followJob, formatEvent } from './fl.js'

export interface DemoOptions {
  port?: number
  nodes: number
  rounds: number
  model: 'mlp' | 'cnn-lenet'
  strategy: string
  dir?: string
  keep?: boolean
  exit?: boolean
  runtime: 'tfjs' | 'torch' | 'auto' | 'mixed'
}

/** The data set every client registers (its own share) and the coordinator's held-out test set. */
const DATASET = 'fashion-mnist'
const TEST_SET = 'fashion-mnist-test'
const ALPHA = 0.5
const PARTITION_SEED = 1
/**
 * Resource ads at the node default (every 10 s, valid 30 s). Eleven processes on a 2-core machine: with 2-s ads every
 * node's main thread was busy most of the time with ad gossip and signature checks (profiled), which starved the FL
 * transfers (benchmarks/fl-mesh.mjs, logreg: round overhead 2.6 s with 2-s ads, 0.11 s with 10-s ads), and the
 * fabric took 143 s to form instead of 56-81 s. A node publishes its ad at once when it starts and again as soon as
 * its data sets are described, so a longer interval does not slow the fabric's formation.
 */
const AD_INTERVAL_MS = 10_000
const AD_TTL_MS = 30_000
/** Events worth showing beside the per-round lines (the rest is in `weft fl logs`). */
const NOTABLE = new Set(['client-dropped', 'client-late', 'client-refused', 'update-refused', 'evaluation-failed', 'job-failed', 'job-cancelled'])


/** The demo cannot start: a data directory it cannot write, a port already taken. The message says what to do. */
export class DemoSetupError extends Error {
  override readonly name = 'DemoSetupError'
}

/** The file-system errors a user meets when choosing a folder, in words. */
const FS_REASONS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of that path is a file, not a folder',
  ENOSPC: 'no space left on the device',
  EEXIST: 'a file of that name is in the way',
}

/**
 * Makes `dir` (and a probe file in it) to prove the nodes can keep their state there.
 * @throws DemoSetupError naming the folder, the system's reason and the option that picks another
 */
function checkWritable(dir: string): void {
  const probe = join(dir, `.weft-demo-probe-${process.pid}`)
  try {
    mkdirSync(dir, { recursive: true })
    writeFileSync(probe, '')
    unlinkSync(probe)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why = (e.code !== undefined ? FS_REASONS[e.code] : undefined) ?? e.message
    throw new DemoSetupError(
      `cannot keep the nodes' data directories under ${dir}: ${why}. Choose a folder you can write with --dir <folder>, or leave --dir out to use a new temporary folder`,
    )
  }
}

/**
 * Checks that `port` is free on 127.0.0.1 by listening on it for a moment.
 * @throws DemoSetupError when another program holds it
 */
async function checkPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer()
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'is already in use by another program' : `cannot be used (${err.code ?? err.message})`
      reject(new DemoSetupError(`port ${port} on 127.0.0.1 ${why}. Choose another with --port <n>, or leave --port out to let the system pick a free one`))
    })
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()))
  })
}

/** The demo's job: every client every round, tolerating two stragglers, centralized test accuracy each round. */
function demoJobSpec(o: DemoOptions): Record<string, unknown> {
  const byzantine = o.strategy === 'krum' || o.strategy === 'multikrum' || o.strategy === 'bulyan'
  const quorum = Math.max(1, o.nodes - 2)
  return {
    name: `demo-${o.model}-${o.strategy}`,
    model: { architecture: o.model, inputShape: [28, 28, 1], numClasses: 10 },
    dataset: DATASET,
    strategy: byzantine ? { name: o.strategy, f: 1 } : { name: o.strategy },
    rounds: o.rounds,
    clients: { fraction: 1, min: quorum, minResults: quorum },
    // Tuned with `weft fl simulate` on the same split: ≥81% after round 3, ~84% after 8-10 (batch 32 or lr 0.05 learn slower).
    train: { epochs: 1, batchSize: 64, optimizer: { kind: 'sgd', lr: 0.03, momentum: 0.9 } },
    evaluation: { centralized: { dataset: TEST_SET, every: 1 } },
    timeouts: { roundSeconds: 60, waitSeconds: 120 },
    seed: 1,
  }
}

/** Prints the per-client label table of the partition the clients will load, so the skew is visible. */
async function printPartition(clients: number, from: FashionMnistLocation): Promise<void> {
  const labels = await loadFashionMnistLabels({ split: 'train' })
  const table = labelTable(partition(labels, { scheme: 'dirichlet', alpha: ALPHA }, { clients, seed: PARTITION_SEED }), labels, 10)
  const skew = labelSkew(table)
  process.stdout.write(
    `Fashion-MNIST from ${FASHION_MNIST_SOURCE_TEXT[from.source]} (${from.dir})\n` +
      `each client trains on its own share of Fashion-MNIST (train split, Dirichlet α=${ALPHA} label skew, seed ${PARTITION_SEED}):\n\n` +
      `${formatLabelTable(table, { classNames: FASHION_MNIST_CLASSES })}\n\n` +
      `non-IID: ${skew.meanClassesPerClient.toFixed(1)} of 10 classes per client on average, label entropy ${skew.meanEntropy.toFixed(2)} bits ` +
      `(IID: ${skew.globalEntropy.toFixed(2)}), total-variation distance from the global mix ${skew.meanTotalVariation.toFixed(2)}, ` +
      `${skew.minClientSize}..${skew.maxClientSize} examples per client\n\n`,
  )
}

/** Summed and largest resident set size of the processes, in bytes (undefined where `ps` is unavailable). */
async function rssOf(pids: readonly number[]): Promise<{ total: number; max: number } | undefined> {
  try {
    const { stdout } = await promisify(execFile)('ps', ['-o', 'rss=', '-p', pids.join(',')])
    const kib = stdout.split('\n').map(Number).filter((n) => n > 0)
    return { total: kib.reduce((a, b) => a + b, 0) * 1024, max: Math.max(...kib) * 1024 }
  } catch {
    return undefined
  }
}

function roundLine(h: JobView['history'][number], rounds: number): string {
  const m = h.metrics
  if (m === undefined) return `round ${h.round}/${rounds}`
  const ev = m.evaluation
  const acc = ev?.centralized?.accuracy ?? ev?.federated?.accuracy
  const width = String(rounds).length
  return (
    `round ${String(h.round).padStart(width)}/${rounds}  test accuracy ${acc === undefined ? '   -  ' : `${(100 * acc).toFixed(2)}%`}  ` +
    `train loss ${m.trainLoss.toFixed(4)}  ${m.seconds.total.toFixed(1).padStart(5)} s (training ${m.seconds.training.toFixed(1)} s)  ` +
    `${m.results}/${m.sampled} clients${m.dropped > 0 ? `, ${m.dropped} dropped` : ''}`
  )
}

/** Lifetime of the demo's certificates: the demo's fabric lives for minutes. */
const DEMO_CERTIFICATE_MS = 7 * 86_400_000

/** The demo's own mesh authority: a key made in `dir` that certifies each node (its `member.cert`) before it starts. */
async function demoAuthority(dir: string): Promise<{ publicKey: string; admit(dataDir: string, roles: readonly Role[]): Promise<void> }> {
  const { authorityPublicKey, formatAuthorityKey, generateAuthorityKey, issueCertificate } = await import('@weft/mesh')
  const { nodePeerId } = await import('@weft/node')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const key = generateAuthorityKey()
  writeFileSync(join(dir, 'authority.key'), key, { mode: 0o600 })
  return {
    publicKey: formatAuthorityKey(authorityPublicKey(key)),
    async admit(dataDir, roles) {
      const peerId = await nodePeerId(dataDir)
      const now = Date.now()
      writeFileSync(join(dataDir, 'member.cert'), issueCertificate({ authorityKey: key, peerId, roles, issuedAtMs: now, expiresAtMs: now + DEMO_CERTIFICATE_MS }), { mode: 0o600 })
    },
  }
}

/** Runs the demo until Ctrl-C (or, with --exit, until the job ends). @throws DemoSetupError, InvalidArgumentError */
export async function runDemo(opts: DemoOptions): Promise<void> {
  if (opts.nodes < 2) throw new InvalidArgumentError(`--nodes must be at least 2, got ${opts.nodes}`)
  const spec = demoJobSpec(opts)
  parseJobSpec(spec) // a bad --strategy fails here, before any process starts
  // Everything the fabric needs is checked before the first process starts: the data set (both splits), a
  // writable data directory and a free port, each failing with one message that says what to do.
  const [data] = await Promise.all([ensureFashionMnist({ split: 'train' }), ensureFashionMnist({ split: 'test' })])
  if (opts.dir !== undefined) checkWritable(opts.dir)
  if (opts.port !== undefined) await checkPortFree(opts.port)
  const root = opts.dir ?? mkdtempSync(join(tmpdir(), 'weft-demo-'))
  const removeRoot = opts.keep !== true && opts.dir === undefined
  const nodes: LocalNode[] = []
  const started = Date.now()
  let stopping = false
  let stopProgress = () => {}
  // Lines above the progress bar once it is shown.
  let say = (text: string): void => void process.stderr.write(`${text}\n`)
  const stopAll = async () => {
    if (stopping) return
    stopping = true
    stopProgress()
    if (nodes.length > 0) process.stderr.write(`stopping the ${nodes.length} node processes…\n`)
    await Promise.all(nodes.map((n) => n.stop()))
    if (removeRoot) rmSync(root, { recursive: true, force: true })
  }
  let interrupted = false
  const onSignal = (code: number) => () => {
    interrupted = true
    void stopAll().then(() => process.exit(code))
  }
  process.once('SIGINT', onSignal(130))
  process.once('SIGTERM', onSignal(143))
  try {
    await printPartition(opts.nodes, data)

    // The demo's mesh has its own authority: each node is certified before it starts (its identity is made first),
    // the coordinator as coordinator and submitter, the clients as clients; a node without a certificate is ignored.
    const authority = await demoAuthority(join(root, 'authority'))
    const common = ['--ad-interval', String(AD_INTERVAL_MS), '--ad-ttl', String(AD_TTL_MS), '--log-level', 'warn', '--no-probe', '--authority', authority.publicKey]
    const start = async (name: string, config: object, args: readonly string[], roles: readonly Role[]): Promise<LocalNode> => {
      const dataDir = join(root, name)
      const file = join(dataDir, 'weft.yaml')
      mkdirSync(dataDir, { recursive: true })
      await authority.admit(dataDir, roles)
      writeFileSync(file, stringifyYaml(config))
      const tail: string[] = []
      const node = await startLocalNode({
        dataDir,
        args: ['--config', file, ...common, ...args],
        startTimeoutMs: 120_000,
        output: (line) => {
          tail.push(line)
          if (tail.length > 20) tail.shift()
        },
      })
      nodes.push(node)
      node.process.once('exit', (code, signal) => {
        if (!stopping) say(`${name} exited unexpectedly (${code ?? signal}); its last output:\n${tail.join('\n')}`)
      })
      return node
    }

    process.stderr.write(`starting 1 coordinator and ${opts.nodes} client nodes under ${root}\n`)
    const coordinator = await start(
      'coordinator',
      { datasets: [{ name: TEST_SET, source: 'fashion-mnist', split: 'test' }], fl: { participate: false } },
      ['--label', 'role=coordinator', ...(opts.port === undefined ? [] : ['--api-port', String(opts.port)])],
      ['coordinator', 'submitter'],
    )
    const bootstrap = coordinator.addrs.find((a) => a.includes('/tcp/') && !a.includes('/ws'))
    if (bootstrap === undefined) throw new Error(`the coordinator has no TCP address: ${coordinator.addrs.join(' ')}`)
    process.stderr.write(`  coordinator ${coordinator.peerId}\n`)
    // allSettled: when one client fails to start, the others are still recorded (and stopped) before the error.
    const settled = await Promise.allSettled(
      Array.from({ length: opts.nodes }, (_, i) => {
        const config = {
          datasets: [
            {
              name: DATASET,
              source: 'fashion-mnist',
              split: 'train',
              partition: { scheme: 'dirichlet', alpha: ALPHA, clients: opts.nodes, part: i, seed: PARTITION_SEED },
            },
          ],
          fl: { workers: 1 },
        }
        const runtime = opts.runtime === 'mixed' ? (i % 2 === 0 ? 'torch' : 'tfjs') : opts.runtime
        // Each client trains for this fabric's coordinator only: certified as one, and named in fl.coordinators too.
        return start(`client-${i}`, config, ['--label', 'role=client', '--bootstrap', bootstrap, '--coordinator', coordinator.peerId, '--runtime', runtime], ['client'])
      }),
    )
    const failed = settled.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    const clients = settled.map((r) => (r as PromiseFulfilledResult<LocalNode>).value)
    for (const [i, n] of clients.entries()) process.stderr.write(`  client-${i} ${n.peerId}\n`)

    const coordDir = coordinator.dataDir
    let ready = -1
    await waitUntil(
      async () => {
        const peers = await coordinator.api.peers('alive')
        const n = peers.filter((p) => p.connected && p.ad.datasets.some((d) => d.name === DATASET)).length
        if (n !== ready) process.stderr.write(`  ${n}/${opts.nodes} clients connected to the coordinator and advertising their "${DATASET}" share\n`)
        ready = n
        return n >= opts.nodes
      },
      180_000,
      `the coordinator to see ${opts.nodes} clients advertising "${DATASET}"`,
      250,
    )
    process.stderr.write(`fabric up in ${((Date.now() - started) / 1000).toFixed(1)} s: the coordinator sees ${opts.nodes} clients with their data sets\n`)
    process.stdout.write(`\ndashboard: ${coordinator.api.url}/  (the mesh, each node, and the job live)\n`)

    const { id } = await coordinator.api.submitJob(spec)
    const s = parseJobSpec(spec)
    process.stdout.write(
      `\nfederated job ${id}: ${opts.model}, ${s.strategy.name}, ${opts.rounds} rounds, all ${opts.nodes} clients per round ` +
        `(${s.train.epochs} local epoch, batch ${s.train.batchSize}, sgd lr ${s.train.optimizer.lr}), ` +
        `test accuracy measured by the coordinator on the 10,000 held-out test images\n` +
        `watch it in the dashboard: ${coordinator.api.url}/#/jobs/${id}\n` +
        `or from another terminal: npx weft fl status ${id} --data-dir ${coordDir}\n\n`,
    )

    const jobStarted = Date.now()
    const progress = createJobProgress(opts.rounds)
    stopProgress = () => progress.stop()
    say = (text) => progress.line(text)
    const pids = nodes.map((n) => n.process.pid).filter((p): p is number => p !== undefined)
    let peakRss: { total: number; max: number } | undefined
    let printed = 0
    const onView = (view: JobView): void => {
      for (const h of view.history) {
        if (h.round <= printed || h.status !== 'closed' || h.metrics === undefined) continue
        const later = view.history.some((x) => x.round > h.round) || view.status !== 'running'
        if (h.metrics.evaluation === undefined && !later) break
        progress.line(roundLine(h, view.rounds))
        printed = h.round
        void rssOf(pids).then((r) => {
          if (r !== undefined && r.total > (peakRss?.total ?? 0)) peakRss = r
        })
      }
      progress.update(view)
    }
    const onEvent = (e: JobEvent): void => {
      if (NOTABLE.has(e.type)) progress.line(formatEvent(e))
    }
    const view = await followJob(coordinator.api, id, { onEvent, onView })
    progress.stop()
    say = (text) => void process.stderr.write(`${text}\n`)

    const elapsed = formatDuration(Date.now() - started)
    const jobTime = formatDuration(Date.now() - jobStarted)
    const rss = peakRss === undefined ? '' : `; peak memory of the ${nodes.length} node processes ${formatBytes(peakRss.total)} RSS (largest ${formatBytes(peakRss.max)})`
    if (view.status !== 'finished') {
      const reason = `the federated job ${view.status} after ${view.completedRounds} of ${view.rounds} rounds: ${view.error ?? 'no reason recorded'}`
      if (opts.exit === true) throw new Error(reason)
      process.stdout.write(`\n${reason}\nits events: npx weft fl logs ${id} --data-dir ${coordDir}\n`)
    } else {
      const model = await coordinator.api.jobModel(id, 'last')
      const artifact = decodeModelArtifact(model.bytes)
      const modelPath = join(root, 'model.weft')
      writeFileSync(modelPath, model.bytes)
      process.stdout.write(
        `\nfinal test accuracy ${((view.latest?.accuracy ?? Number.NaN) * 100).toFixed(2)}% after ${view.completedRounds} rounds ` +
          `(job ${jobTime}, demo ${elapsed} in all${rss})\n` +
          `model (${formatBytes(model.bytes.length)}, content id ${artifact.id.slice(0, 16)}…) written to ${modelPath}` +
          (opts.exit !== true
            ? `\nexport it yourself while the fabric runs: npx weft model export ${id} --data-dir ${coordDir} --out model.weft\n`
            : removeRoot
              ? ' (removed on exit with the demo directory; keep it with --keep)\n'
              : '\n'),
      )
    }
    if (opts.exit === true) {
      await stopAll()
      return
    }
    process.stderr.write(
      `\nthe fabric is still running; see it at ${coordinator.api.url}/ or try: npx weft fl status ${id} --data-dir ${coordDir}\n` +
        `                                  npx weft fl logs ${id} --data-dir ${coordDir}\nCtrl-C stops it all\n`,
    )
    await new Promise(() => {})
  } catch (err) {
    // Ctrl-C: the nodes are going away under the demo's feet; the signal handler exits once they are stopped.
    if (interrupted) return new Promise<never>(() => {})
    await stopAll()
    throw err
  }
}
