// Runs one chaos scenario: makes the cluster (a coordinator and the clients, each in its namespace), runs federated
// jobs back to back while the planned faults hit it, heals everything, waits for the last job to end, reads every
// job's end state, and checks the merged history. Returns the report; throws only when the cluster cannot be made.
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JobEvent } from '@weft/fl'
import { deriveSeed, mulberry32 } from '@weft/runtime'
import { writeSyntheticCsv } from '../fixtures/synthetic-csv.js'
import { type CheckResult, checkHistory } from './checks.js'
import { type Cluster, makeCluster } from './cluster.js'
import { History } from './history.js'
import { jumpsClocks, type PlannedFault, planFaults, type Scenario } from './scenario.js'

export interface ChaosReport {
  readonly scenario: string
  readonly seed: number
  readonly seconds: number
  readonly faults: Readonly<Record<string, number>>
  /** The workload's operations: FL jobs submitted, finished and failed; or writes tried and acknowledged. */
  readonly operations: Readonly<Record<string, number>>
  /** Acknowledgements the checks hold the system to: FL updates the clients were told were accepted, or stored artifacts. */
  readonly acks: number
  readonly checks: readonly CheckResult[]
  readonly ok: boolean
}

let runs = 0
const TIMING = ['--ad-interval', '1000', '--ad-ttl', '10000', '--no-probe', '--log-level', 'info']
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function runScenario(s: Scenario, log: (line: string) => void = () => {}): Promise<ChaosReport> {
  const root = mkdtempSync(join(tmpdir(), `weft-chaos-${s.name}-`))
  // Names of its own for each run in this process (a run that timed out may still hold its namespaces).
  const tag = ((process.pid * 16 + runs++) % 36 ** 3).toString(36).padStart(3, '0')
  const history = new History()
  const clients = Array.from({ length: s.topology.clients }, (_, i) => `client-${i}`)
  // The coordinator first: the clients name it (its peer id) as the one coordinator they train for.
  const disk = s.topology.coordinatorDiskMiB === undefined ? {} : { diskMiB: s.topology.coordinatorDiskMiB }
  const cluster: Cluster = makeCluster(root, tag, [{ name: 'coordinator', args: [], ...disk }, ...clients.map((name) => ({ name, args: [] }))], history, { clocks: jumpsClocks(s) })
  const t0 = Date.now()
  try {
    const storage = s.workload.kind === 'storage'
    // Under storage every node keeps replicas for members and checks its targets every second.
    const store = storage ? { store: { replicas: { accept: 'members', repairIntervalMs: 1000 } } } : {}
    const cdir = cluster.nodes.get('coordinator')?.dir as string
    writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { participate: false }, ...store }))
    ;(cluster.nodes.get('coordinator') as { args: readonly string[] }).args = [...TIMING, '--config', join(cdir, 'weft.json')]
    const coordinator = await cluster.start('coordinator')
    const bootstrap = `/ip4/${coordinator.ip}/tcp/4100/p2p/${coordinator.peerId}`
    await Promise.all(
      clients.map(async (name, i) => {
        const n = cluster.nodes.get(name) as { dir: string; args: readonly string[] }
        if (storage) writeFileSync(join(n.dir, 'weft.json'), JSON.stringify({ dataDir: n.dir, ...store }))
        else {
          writeSyntheticCsv(join(n.dir, 'share.csv'), s.topology.examples, i + 1)
          writeFileSync(join(n.dir, 'weft.json'), JSON.stringify({ dataDir: n.dir, datasets: [{ name: 'synth', source: join(n.dir, 'share.csv'), label: 'label' }] }))
        }
        n.args = [...TIMING, '--config', join(n.dir, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', coordinator.peerId]
        await cluster.start(name)
      }),
    )
    const api = () => cluster.api('coordinator')
    for (let i = 0; ; i++) {
      const peers = await api().peers('alive').catch(() => [])
      if (peers.filter((p) => storage || p.ad.datasets.some((d) => d.name === 'synth')).length === clients.length) break
      if (i > 150) throw new Error('the coordinator did not see every client within 30 s')
      await sleep(200)
    }
    log(`cluster up in ${Date.now() - t0} ms: ${clients.length} clients`)

    // Faults, one at a time, on the seed's schedule.
    const counts: Record<string, number> = {}
    const injectionErrors: string[] = []
    const faultsDone = (async () => {
      for (const f of planFaults(s)) {
        await sleep(Math.max(0, f.at * 1000 - history.now()))
        const target = f.kind.endsWith('-coordinator') ? 'coordinator' : (clients[f.client] as string)
        counts[f.kind] = (counts[f.kind] ?? 0) + 1
        const detail = `${f.downSeconds.toFixed(1)} s${f.clockSeconds === undefined ? '' : `, clock ${f.clockSeconds > 0 ? '+' : ''}${Math.round(f.clockSeconds)} s`}`
        history.add({ at: history.now(), kind: 'fault', fault: f.kind, target, detail })
        log(`${(history.now() / 1000).toFixed(1)} s: ${f.kind} ${target} for ${detail}`)
        try {
          await inject(cluster, f, target, s)
        } catch (err) {
          // The harness's own failure, not the system's: counted, and the run fails on it (see the report's check).
          injectionErrors.push(`${f.kind} ${target}: ${(err as Error).message}`)
          log(`${(history.now() / 1000).toFixed(1)} s: ${f.kind} ${target} could not be injected: ${(err as Error).message}`)
        }
        history.add({ at: history.now(), kind: 'heal', fault: f.kind, target })
      }
    })()

    let faultsOver = false
    void faultsDone.finally(() => {
      faultsOver = true
    })
    const ctx: WorkloadContext = { s, cluster, history, log, faultsOver: () => faultsOver, faultsOverAt: t0 + s.faults.durationSeconds * 1000, nodes: ['coordinator', ...clients] }
    const outcome = s.workload.kind === 'storage' ? await storageWorkload(ctx, s.workload.spec, faultsDone) : await flWorkload(ctx, s.workload.spec, faultsDone)
    // The clients' acks of the last moments may still be in their pipes.
    await sleep(1_000)
    const entries = history.entries()
    const dp = s.workload.kind === 'fl' ? (s.workload.spec['privacy'] as { dp?: { epsilonLimit?: number } } | undefined)?.dp : undefined
    const checks = [
      ...checkHistory(entries, s.livenessSeconds * 1000, { workload: s.workload.kind, ...(dp?.epsilonLimit === undefined ? {} : { epsilonLimit: dp.epsilonLimit }) }),
      // A fault the harness could not inject leaves the run proving less than it says.
      { name: 'faults-injected', ok: injectionErrors.length === 0, checked: Object.values(counts).reduce((a, b) => a + b, 0), violations: injectionErrors },
    ]
    return {
      scenario: s.name,
      seed: s.seed,
      seconds: Math.round((Date.now() - t0) / 1000),
      faults: counts,
      operations: outcome.operations,
      acks: entries.filter((e) => e.kind === 'client-ack' || e.kind === 'store-ack').length,
      checks,
      ok: checks.every((c) => c.ok),
    }
  } finally {
    await cluster.destroy()
    rmSync(root, { recursive: true, force: true })
  }
}

/** What a workload reads of the run. */
interface WorkloadContext {
  readonly s: Scenario
  readonly cluster: Cluster
  readonly history: History
  readonly log: (line: string) => void
  readonly faultsOver: () => boolean
  readonly faultsOverAt: number
  /** Every node's name, the coordinator first. */
  readonly nodes: readonly string[]
}

/**
 * Federated jobs back to back until the faults are over, then the last one runs to its end; every job's events go
 * to the history as they come, and each job's end state once the faults are done.
 */
async function flWorkload(ctx: WorkloadContext, spec: Record<string, unknown>, faultsDone: Promise<void>): Promise<{ operations: Record<string, number> }> {
  const { s, history, log } = ctx
  const api = () => ctx.cluster.api('coordinator')
  const jobs: string[] = []
  const ended = new Map<string, { status: string; error?: string }>()
  while (!ctx.faultsOver() || jobs.length === 0) {
    let id: string | undefined
    for (let tries = 0; id === undefined && tries <= 600; tries++) {
      id = await api()
        .submitJob({ name: `${s.name}-${jobs.length}`, dataset: 'synth', ...spec })
        .then((r) => r.id)
        .catch(() => undefined)
      if (id === undefined) await sleep(200)
    }
    if (id === undefined) {
      log('the coordinator took no job for 2 minutes')
      break
    }
    jobs.push(id)
    history.add({ at: history.now(), kind: 'op', op: 'submit', job: id })
    const deadline = Math.max(ctx.faultsOverAt, Date.now()) + s.livenessSeconds * 1000
    let after = 0
    for (;;) {
      const page = await api()
        .jobEvents(id, after, 1)
        .catch(() => undefined)
      for (const e of (page?.events ?? []) as JobEvent[]) {
        after = e.seq
        history.add({ at: history.now(), kind: 'job-event', job: id, seq: e.seq, type: e.type, ...(e.round === undefined ? {} : { round: e.round }), data: e.data as Record<string, unknown> })
      }
      const status = page?.status
      if (status !== undefined && status !== 'running' && (page?.events.length ?? 0) === 0) {
        const view = await api().job(id)
        ended.set(id, { status: view.status, ...(view.error === undefined ? {} : { error: view.error }) })
        history.add({ at: history.now(), kind: 'op', op: 'ended', job: id, status: view.status, ...(view.error === undefined ? {} : { error: view.error }) })
        log(`${(history.now() / 1000).toFixed(1)} s: job ${id} ${view.status}${view.error === undefined ? '' : `: ${view.error}`}`)
        break
      }
      if (Date.now() > deadline) break
      if (page === undefined) await sleep(300)
    }
    if (!ended.has(id)) break
  }
  await faultsDone
  // Every job's end state, from the coordinator (restarted if the last fault left it down).
  for (const id of jobs) {
    const view = await api()
      .job(id)
      .catch(() => undefined)
    if (view === undefined) continue
    history.add({
      at: history.now(),
      kind: 'final-job',
      job: id,
      status: view.status,
      rounds: view.history.map((r) => ({
        round: r.round,
        delivered: [...r.delivered],
        results: r.metrics?.results,
        ...(r.metrics?.secureAggregation === undefined ? {} : { session: r.metrics.secureAggregation.session }),
        ...(r.metrics?.privacy === undefined ? {} : { epsilon: r.metrics.privacy.epsilon }),
      })),
    })
  }
  const statuses = [...ended.values()].map((e) => e.status)
  return { operations: { submitted: jobs.length, finished: statuses.filter((x) => x === 'finished').length, failed: statuses.filter((x) => x !== 'finished').length } }
}

/**
 * Artifacts written to the coordinator node while faults last: seeded random bytes, added pinned and announced, then
 * given a replication target; acknowledged (into the history) once both answered. Once faults are over, each
 * acknowledged artifact's holders are polled until every one has its factor or the liveness bound passes, then its
 * bytes are read back from a holder and hashed.
 */
async function storageWorkload(
  ctx: WorkloadContext,
  spec: { fileKiB: number; factor: number; everySeconds: number },
  faultsDone: Promise<void>,
): Promise<{ operations: Record<string, number> }> {
  const { s, history, log, cluster } = ctx
  const prng = mulberry32(deriveSeed(s.seed, 0x5707e))
  const acked = new Map<string, { sha256: string; bytes: number }>()
  let tried = 0
  while (!ctx.faultsOver()) {
    const bytes = new Uint8Array(spec.fileKiB * 1024)
    const words = new DataView(bytes.buffer)
    for (let i = 0; i < bytes.length; i += 4) words.setUint32(i, Math.floor(prng.next() * 2 ** 32), true)
    tried++
    try {
      const api = cluster.api('coordinator')
      const { cid } = await api.storeAddFile(bytes, { name: `chaos-${tried}.bin`, pin: true, announce: true, size: bytes.byteLength })
      await api.storeReplicate(cid, { factor: spec.factor })
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      acked.set(cid, { sha256, bytes: bytes.byteLength })
      history.add({ at: history.now(), kind: 'store-ack', cid, bytes: bytes.byteLength, sha256, factor: spec.factor })
    } catch (err) {
      // Not acknowledged: nothing is promised for it.
      log(`${(history.now() / 1000).toFixed(1)} s: write ${tried} not acknowledged: ${(err as Error).message}`)
    }
    await sleep(spec.everySeconds * 1000)
  }
  await faultsDone
  log(`${(history.now() / 1000).toFixed(1)} s: ${acked.size} of ${tried} writes acknowledged; waiting for ${spec.factor} holders of each`)

  // Holders: the nodes whose store has the artifact's whole DAG.
  const holdersOf = async (cid: string): Promise<string[]> => {
    const held = await Promise.all(ctx.nodes.map(async (name) => ((await cluster.api(name).storeStat(cid).catch(() => undefined))?.missing === 0 ? name : undefined)))
    return held.filter((n): n is string => n !== undefined)
  }
  const deadline = Date.now() + s.livenessSeconds * 1000
  const pending = new Set(acked.keys())
  const last = new Map<string, string[]>()
  for (;;) {
    for (const cid of pending) {
      const holders = await holdersOf(cid)
      last.set(cid, holders)
      if (holders.length >= spec.factor) {
        pending.delete(cid)
        history.add({ at: history.now(), kind: 'final-artifact', cid, holders, ...(await readBack(cluster, cid, holders, acked.get(cid)?.sha256 as string)) })
      }
    }
    if (pending.size === 0 || Date.now() > deadline) break
    await sleep(1_000)
  }
  for (const cid of pending) {
    const holders = last.get(cid) ?? []
    history.add({ at: history.now(), kind: 'final-artifact', cid, holders, ...(await readBack(cluster, cid, holders, acked.get(cid)?.sha256 as string)) })
  }
  return { operations: { writes: tried, acknowledged: acked.size } }
}

/** An artifact's bytes read back from its first holder, hashed against what was written. */
async function readBack(cluster: Cluster, cid: string, holders: readonly string[], sha256: string): Promise<{ content: 'ok' | 'mismatch' | 'unreadable'; detail?: string }> {
  const from = holders[0]
  if (from === undefined) return { content: 'unreadable', detail: 'no holder' }
  try {
    const { body } = await cluster.api(from).storeContent(cid)
    const hash = createHash('sha256')
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk)
    const got = hash.digest('hex')
    return got === sha256 ? { content: 'ok' } : { content: 'mismatch', detail: `sha-256 ${got}, written ${sha256}` }
  } catch (err) {
    return { content: 'unreadable', detail: (err as Error).message }
  }
}

/** Applies one fault for its duration, then undoes it (a killed node is started again on its data directory). */
async function inject(cluster: Cluster, f: PlannedFault, target: string, s: Scenario): Promise<void> {
  const ms = f.downSeconds * 1000
  switch (f.kind) {
    case 'kill-coordinator':
    case 'kill-client':
      cluster.kill(target)
      await sleep(ms)
      await cluster.start(target)
      return
    case 'pause-client':
      cluster.pause(target)
      await sleep(ms)
      cluster.resume(target)
      return
    case 'full-disk-coordinator':
      cluster.fill(target)
      await sleep(ms)
      cluster.unfill(target)
      return
    case 'partition-client':
    case 'partition-client-one-way':
      cluster.partition(target, 'coordinator', f.kind === 'partition-client-one-way')
      await sleep(ms)
      cluster.heal(target, 'coordinator')
      return
    case 'lossy-client':
    case 'slow-client':
      cluster.degradeLink(target, f.kind === 'lossy-client' ? { lossPercent: s.faults.lossPercent } : { rateKbit: s.faults.rateKbit })
      await sleep(ms)
      cluster.restoreLink(target)
      return
    case 'clock-jump-client':
    case 'clock-jump-coordinator':
      try {
        await cluster.setClock(target, f.clockSeconds ?? 0)
        await sleep(ms)
      } finally {
        await cluster.setClock(target, 0)
      }
      return
  }
}
