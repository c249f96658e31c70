// Runs one chaos scenario: makes the cluster (a coordinator and the clients, each in its namespace), runs the
// scenario's workload (federated jobs, stored artifacts, swarms, completions or batch jobs) while the planned faults
// hit it, heals everything, lets the workload end its operations and read their end states, and checks the merged
// history. Returns the report; throws only when the cluster cannot be made.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CheckResult, checkHistory } from './checks.js'
import { type Cluster, makeCluster } from './cluster.js'
import { ACK_KINDS, History } from './history.js'
import { addsLatency, jumpsClocks, type PlannedFault, planFaults, type Scenario } from './scenario.js'
import { batchWorkload } from './workloads/batch.js'
import { sleep, type Workload, type WorkloadContext } from './workloads/context.js'
import { flWorkload } from './workloads/fl.js'
import { inferenceWorkload } from './workloads/inference.js'
import { storageWorkload } from './workloads/storage.js'
import { swarmWorkload } from './workloads/swarm.js'

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

/** The scenario's workload. */
export function workloadOf(s: Scenario): Workload {
  const w = s.workload
  switch (w.kind) {
    case 'fl':
      return flWorkload(w.spec, s.topology.examples)
    case 'storage':
      return storageWorkload(w.spec)
    case 'swarm':
      return swarmWorkload(w.spec, s.topology.examples)
    case 'inference':
      return inferenceWorkload(w.spec)
    case 'batch':
      return batchWorkload(w.spec, w.cheaters)
  }
}

export async function runScenario(s: Scenario, log: (line: string) => void = () => {}): Promise<ChaosReport> {
  const root = mkdtempSync(join(tmpdir(), `weft-chaos-${s.name}-`))
  // Names of its own for each run in this process (a run that timed out may still hold its namespaces).
  const tag = ((process.pid * 16 + runs++) % 36 ** 3).toString(36).padStart(3, '0')
  const history = new History()
  const clients = Array.from({ length: s.topology.clients }, (_, i) => `client-${i}`)
  // The coordinator first: the clients name it (its peer id) as the one coordinator they train for.
  const disk = s.topology.coordinatorDiskMiB === undefined ? {} : { diskMiB: s.topology.coordinatorDiskMiB }
  const clientDisk = s.topology.clientDiskMiB === undefined ? {} : { diskMiB: s.topology.clientDiskMiB }
  const specs = [{ name: 'coordinator', args: [], ...disk }, ...clients.map((name) => ({ name, args: [], ...clientDisk }))]
  const cluster: Cluster = makeCluster(root, tag, specs, history, { clocks: jumpsClocks(s), proxied: addsLatency(s) })
  const t0 = Date.now()
  // Set when the run ends, however it ends: the fault schedule stops with it (a run that threw must not leave it
  // killing and restarting nodes of a destroyed cluster).
  let stopped = false
  try {
    const workload = workloadOf(s)
    const configure = (name: string, index: number) => {
      const n = cluster.nodes.get(name) as { dir: string; args: readonly string[] }
      writeFileSync(join(n.dir, 'weft.json'), JSON.stringify({ dataDir: n.dir, ...workload.nodeConfig(name, index, n.dir) }))
      return n
    }
    configure('coordinator', -1).args = [...TIMING, '--config', join(cluster.nodes.get('coordinator')?.dir as string, 'weft.json')]
    const coordinator = await cluster.start('coordinator')
    const bootstrap = `/ip4/${coordinator.ip}/tcp/4100/p2p/${coordinator.peerId}`
    await Promise.all(
      clients.map(async (name, i) => {
        const n = configure(name, i)
        n.args = [...TIMING, '--config', join(n.dir, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', coordinator.peerId]
        await cluster.start(name)
      }),
    )
    const api = () => cluster.api('coordinator')
    for (let i = 0; ; i++) {
      const peers = await api().peers('alive').catch(() => [])
      if (peers.filter((p) => workload.ready(p)).length === clients.length) break
      if (i > 150) throw new Error('the coordinator did not see every client ready within 30 s')
      await sleep(200)
    }
    log(`cluster up in ${Date.now() - t0} ms: ${clients.length} clients`)

    // Faults, one at a time, on the seed's schedule.
    const counts: Record<string, number> = {}
    const injectionErrors: string[] = []
    const faultsDone = (async () => {
      for (const f of planFaults(s)) {
        await sleep(Math.max(0, f.at * 1000 - history.now()))
        if (stopped) return
        const target = f.kind.endsWith('-coordinator') ? 'coordinator' : (clients[f.client] as string)
        counts[f.kind] = (counts[f.kind] ?? 0) + 1
        const detail = `${f.downSeconds.toFixed(1)} s${f.clockSeconds === undefined ? '' : `, clock ${f.clockSeconds > 0 ? '+' : ''}${Math.round(f.clockSeconds)} s`}`
        history.add({ at: history.now(), kind: 'fault', fault: f.kind, target, detail })
        log(`${(history.now() / 1000).toFixed(1)} s: ${f.kind} ${target} for ${detail}`)
        try {
          await inject(cluster, f, target, s, workload)
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
    const ctx: WorkloadContext = { s, cluster, history, log, faultsOver: () => faultsOver, faultsOverAt: t0 + s.faults.durationSeconds * 1000, nodes: ['coordinator', ...clients], clients }
    const operations = await workload.run(ctx, faultsDone)
    // The clients' acks of the last moments may still be in their pipes.
    await sleep(1_000)
    const entries = history.entries()
    const dp = s.workload.kind === 'fl' ? (s.workload.spec['privacy'] as { dp?: { epsilonLimit?: number } } | undefined)?.dp : undefined
    const checks = [
      ...checkHistory(entries, s.livenessSeconds * 1000, {
        workload: s.workload.kind,
        ...(dp?.epsilonLimit === undefined ? {} : { epsilonLimit: dp.epsilonLimit }),
        ...(s.workload.kind === 'swarm' ? { accuracyFloor: s.workload.accuracyFloor } : {}),
      }),
      // A fault the harness could not inject leaves the run proving less than it says.
      { name: 'faults-injected', ok: injectionErrors.length === 0, checked: Object.values(counts).reduce((a, b) => a + b, 0), violations: injectionErrors },
    ]
    return {
      scenario: s.name,
      seed: s.seed,
      seconds: Math.round((Date.now() - t0) / 1000),
      faults: counts,
      operations,
      acks: entries.filter((e) => ACK_KINDS.includes(e.kind) && (e.kind !== 'completion' || e.ok)).length,
      checks,
      ok: checks.every((c) => c.ok),
    }
  } finally {
    stopped = true
    await cluster.destroy()
    // A node's last writes may still be landing as its process ends.
    rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 })
  }
}

/** Applies one fault for its duration, then undoes it (a killed node is started again on its data directory). */
async function inject(cluster: Cluster, f: PlannedFault, target: string, s: Scenario, workload: Workload): Promise<void> {
  const ms = f.downSeconds * 1000
  switch (f.kind) {
    case 'kill-coordinator':
    case 'kill-client':
      cluster.kill(target)
      await sleep(ms)
      await cluster.start(target)
      await workload.restarted?.(target)
      return
    case 'pause-client':
      cluster.pause(target)
      await sleep(ms)
      cluster.resume(target)
      return
    case 'full-disk-coordinator':
    case 'full-disk-client':
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
    case 'laggy-client':
      cluster.lag(target, s.faults.latencyMs, s.faults.jitterMs)
      await sleep(ms)
      cluster.lag(target, 0)
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
