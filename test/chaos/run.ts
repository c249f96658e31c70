// Runs one chaos scenario: makes the cluster (a coordinator and the clients, each in its namespace), runs federated
// jobs back to back while the planned faults hit it, heals everything, waits for the last job to end, reads every
// job's end state, and checks the merged history. Returns the report; throws only when the cluster cannot be made.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JobEvent } from '@weft/fl'
import { writeSyntheticCsv } from '../fixtures/synthetic-csv.js'
import { type CheckResult, checkHistory } from './checks.js'
import { type Cluster, makeCluster } from './cluster.js'
import { History } from './history.js'
import { type FaultKind, planFaults, type Scenario } from './scenario.js'

export interface ChaosReport {
  readonly scenario: string
  readonly seed: number
  readonly seconds: number
  readonly faults: Readonly<Record<string, number>>
  readonly jobs: { readonly submitted: number; readonly finished: number; readonly failed: number }
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
  const cluster: Cluster = makeCluster(root, tag, [{ name: 'coordinator', args: [], ...disk }, ...clients.map((name) => ({ name, args: [] }))], history)
  const t0 = Date.now()
  try {
    const cdir = cluster.nodes.get('coordinator')?.dir as string
    writeFileSync(join(cdir, 'weft.json'), JSON.stringify({ dataDir: cdir, fl: { participate: false } }))
    ;(cluster.nodes.get('coordinator') as { args: readonly string[] }).args = [...TIMING, '--config', join(cdir, 'weft.json')]
    const coordinator = await cluster.start('coordinator')
    const bootstrap = `/ip4/${coordinator.ip}/tcp/4100/p2p/${coordinator.peerId}`
    await Promise.all(
      clients.map(async (name, i) => {
        const n = cluster.nodes.get(name) as { dir: string; args: readonly string[] }
        writeSyntheticCsv(join(n.dir, 'share.csv'), s.topology.examples, i + 1)
        writeFileSync(join(n.dir, 'weft.json'), JSON.stringify({ dataDir: n.dir, datasets: [{ name: 'synth', source: join(n.dir, 'share.csv'), label: 'label' }] }))
        n.args = [...TIMING, '--config', join(n.dir, 'weft.json'), '--bootstrap', bootstrap, '--coordinator', coordinator.peerId]
        await cluster.start(name)
      }),
    )
    const api = () => cluster.api('coordinator')
    for (let i = 0; ; i++) {
      const peers = await api().peers('alive').catch(() => [])
      if (peers.filter((p) => p.ad.datasets.some((d) => d.name === 'synth')).length === clients.length) break
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
        const target = f.kind === 'kill-coordinator' || f.kind === 'full-disk-coordinator' ? 'coordinator' : (clients[f.client] as string)
        counts[f.kind] = (counts[f.kind] ?? 0) + 1
        history.add({ at: history.now(), kind: 'fault', fault: f.kind, target, detail: `${f.downSeconds.toFixed(1)} s` })
        log(`${(history.now() / 1000).toFixed(1)} s: ${f.kind} ${target} for ${f.downSeconds.toFixed(1)} s`)
        try {
          await inject(cluster, f.kind, target, f.downSeconds * 1000)
        } catch (err) {
          // The harness's own failure, not the system's: counted, and the run fails on it (see the report's check).
          injectionErrors.push(`${f.kind} ${target}: ${(err as Error).message}`)
          log(`${(history.now() / 1000).toFixed(1)} s: ${f.kind} ${target} could not be injected: ${(err as Error).message}`)
        }
        history.add({ at: history.now(), kind: 'heal', fault: f.kind, target })
      }
    })()

    // The workload: jobs back to back until the faults are over, then the last one runs to its end.
    const jobs: string[] = []
    const ended = new Map<string, { status: string; error?: string }>()
    const faultsOverAt = t0 + s.faults.durationSeconds * 1000
    let faultsOver = false
    void faultsDone.finally(() => {
      faultsOver = true
    })
    while (!faultsOver || jobs.length === 0) {
      let id: string | undefined
      for (let tries = 0; id === undefined && tries <= 600; tries++) {
        id = await api()
          .submitJob({ name: `${s.name}-${jobs.length}`, dataset: 'synth', ...s.workload.spec })
          .then((r) => r.id)
          .catch(() => undefined)
        if (id === undefined) {
          if (tries > 600) break
          await sleep(200)
        }
      }
      if (id === undefined) {
        log('the coordinator took no job for 2 minutes')
        break
      }
      jobs.push(id)
      history.add({ at: history.now(), kind: 'op', op: 'submit', job: id })
      const deadline = Math.max(faultsOverAt, Date.now()) + s.livenessSeconds * 1000
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
    // The clients' acks of the last moments may still be in their pipes.
    await sleep(1_000)
    const entries = history.entries()
    const dp = (s.workload.spec['privacy'] as { dp?: { epsilonLimit?: number } } | undefined)?.dp
    const checks = [
      ...checkHistory(entries, s.livenessSeconds * 1000, dp?.epsilonLimit === undefined ? {} : { epsilonLimit: dp.epsilonLimit }),
      // A fault the harness could not inject leaves the run proving less than it says.
      { name: 'faults-injected', ok: injectionErrors.length === 0, checked: Object.values(counts).reduce((a, b) => a + b, 0), violations: injectionErrors },
    ]
    const statuses = [...ended.values()].map((e) => e.status)
    return {
      scenario: s.name,
      seed: s.seed,
      seconds: Math.round((Date.now() - t0) / 1000),
      faults: counts,
      jobs: { submitted: jobs.length, finished: statuses.filter((x) => x === 'finished').length, failed: statuses.filter((x) => x !== 'finished').length },
      acks: entries.filter((e) => e.kind === 'client-ack').length,
      checks,
      ok: checks.every((c) => c.ok),
    }
  } finally {
    await cluster.destroy()
    rmSync(root, { recursive: true, force: true })
  }
}

/** Applies one fault for `ms`, then undoes it (a killed node is started again on its data directory). */
async function inject(cluster: Cluster, kind: FaultKind, target: string, ms: number): Promise<void> {
  switch (kind) {
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
      cluster.partition(target, 'coordinator', kind === 'partition-client-one-way')
      await sleep(ms)
      cluster.heal(target, 'coordinator')
      return
  }
}
