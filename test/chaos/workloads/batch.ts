// The batch workload (scheduled tasks under node loss and a cheating node): batch jobs back to back, owned by the
// coordinator's scheduler (which resumes them when it is started again), placed on the clients and verified by a
// quorum of agreeing results; the first `cheaters` clients return wrong results (`jobs.cheat`). At the end: each
// job's tasks and accepted results, each worker's reputation at the owner, and whether each node's contribution
// ledger verifies.
import { ApiError, type FabricJobView } from '@weft/api-client'
import type { InMemoryDataset } from '@weft/data'
import { loadFashionMnist } from '@weft/data/node'
import type { Cluster } from '../cluster.js'
import { at, retrying, sleep, submitJob, type Workload } from './context.js'

/**
 * A job's view from its owner: the coordinator, or the node that took it over when the coordinator's lease lapsed
 * (the coordinator's 404 names it), as a client following the job would ask.
 */
async function readJob(cluster: Cluster, id: string): Promise<FabricJobView> {
  try {
    return await cluster.api('coordinator').fabricJob(id)
  } catch (err) {
    const owner = err instanceof ApiError && err.status === 404 ? /owned by (\S+) \(/.exec(err.detail)?.[1] : undefined
    const name = [...cluster.nodes.values()].find((n) => n.peerId === owner)?.name
    if (name === undefined || name === 'coordinator') throw err
    return cluster.api(name).fabricJob(id)
  }
}

/**
 * What an honest node answers for a `stats` task (the harness's own reckoning, from the same shipped data set): the
 * examples of the shard (a contiguous, even split by index), their class counts and their mean feature value.
 * Undefined for another task: its results are checked by the quorum alone.
 */
async function honestStats(params: unknown, load: (split: 'train' | 'test') => Promise<InMemoryDataset>): Promise<unknown> {
  const p = (params ?? {}) as { source?: string; split?: 'train' | 'test'; shard?: { index: number; count: number }; item?: unknown }
  if (p.item !== undefined || (p.source ?? 'fashion-mnist') !== 'fashion-mnist') return undefined
  const ds = await load(p.split ?? 'train')
  const start = p.shard === undefined ? 0 : Math.floor((p.shard.index * ds.size) / p.shard.count)
  const end = p.shard === undefined ? ds.size : Math.floor(((p.shard.index + 1) * ds.size) / p.shard.count)
  const counts = new Array<number>(ds.numClasses).fill(0)
  const labels = ds.labels()
  let sum = 0
  for (let i = start; i < end; i++) {
    counts[labels[i] as number] = (counts[labels[i] as number] ?? 0) + 1
    for (const v of ds.example(i)) sum += v
  }
  const features = ds.featureShape.reduce((a, b) => a * b, 1)
  return { examples: end - start, classCounts: counts, meanFeature: end === start ? 0 : sum / ((end - start) * features) }
}

export function batchWorkload(spec: Record<string, unknown>, cheaters: number): Workload {
  // Short leases and heartbeats: an owner's lost placements are noticed within seconds.
  const timing = { leaseMs: 4_000, heartbeatMs: 500, maxAttempts: 40 }
  let peers = new Map<string, string>()
  return {
    nodeConfig(name, index) {
      if (name === 'coordinator') return { fl: { participate: false }, jobs: { ...timing, accept: false } }
      return { fl: { participate: false }, jobs: { ...timing, cores: 1, from: ['*'], cheat: index < cheaters } }
    },
    // Placement waits for work offers itself (it retries with backoff).
    ready: () => true,
    async run(ctx, faultsDone) {
      const { s, cluster, history, log } = ctx
      const api = () => cluster.api('coordinator')
      peers = new Map(ctx.clients.map((n) => [n, cluster.nodes.get(n)?.peerId as string]))
      const jobs: string[] = []
      let finished = 0
      while (!ctx.faultsOver() || jobs.length === 0) {
        const id = await submitJob(ctx, () =>
          api()
            .submitFabricJob({ ...spec, kind: 'batch', name: `${s.name}-${jobs.length}` })
            .then((v) => v.id),
        )
        if (id === undefined) break
        jobs.push(id)
        const deadline = () => Math.max(ctx.faultsOverAt, Date.now()) + s.livenessSeconds * 1000
        let bound = deadline()
        for (;;) {
          if (!ctx.faultsOver()) bound = deadline()
          const view = await readJob(cluster, id).catch(() => undefined)
          if (view !== undefined && !['pending', 'running'].includes(view.state)) {
            if (view.state === 'done') finished++
            // The liveness check's words: a job ends finished, or otherwise with a reason.
            const status = view.state === 'done' ? 'finished' : view.state
            history.add({ at: history.now(), kind: 'op', op: 'ended', job: id, status, ...(view.state === 'done' ? {} : { error: view.reason }) })
            log(`${at(ctx)}: batch job ${id.slice(-8)} ${view.state} (${view.tasks.accepted}/${view.tasks.total} tasks, ${view.tasks.results} results, ${view.reschedules} reschedules)${view.state === 'done' ? '' : `: ${view.reason}`}`)
            break
          }
          if (Date.now() > bound) break
          await sleep(500)
        }
      }
      await faultsDone
      // The end states, from the owner (started again if the last fault left it down).
      const loaded = new Map<string, Promise<InMemoryDataset>>()
      const load = (split: 'train' | 'test') => {
        if (!loaded.has(split)) loaded.set(split, loadFashionMnist({ split }))
        return loaded.get(split) as Promise<InMemoryDataset>
      }
      const task = (spec['batch'] as { task?: string } | undefined)?.task
      for (const id of jobs) {
        // The owner may be starting again: a few tries before the job counts as unread. The end state is its owner's.
        const view = await retrying(() => readJob(cluster, id), 30, 1_000, (err) => log(`${at(ctx)}: batch job ${id.slice(-8)} unreadable: ${err.message}`))
        if (view === undefined) continue
        history.add({
          at: history.now(),
          kind: 'final-batch',
          job: id,
          state: view.state,
          reason: view.reason,
          tasks: await Promise.all(
            view.tasks.list.map(async (t) => {
              const honest = task === 'stats' ? await honestStats(t.params, load) : undefined
              return { id: t.id, state: t.state, params: t.params, ...(t.result === undefined ? {} : { result: t.result }), ...(honest === undefined ? {} : { honest }), workers: t.workers }
            }),
          ),
          receipts: view.receipts,
        })
      }
      // Every owner's verdicts: a worker that took a job over judged its results from then on.
      const verdicts = (await Promise.all(ctx.nodes.map((n) => cluster.api(n).reputation().catch(() => ({ workers: [] }))))).flatMap((r) => r.workers)
      for (const [i, name] of ctx.clients.entries()) {
        const peerId = peers.get(name) as string
        const mine = verdicts.filter((w) => w.worker === peerId)
        const r = { valid: mine.reduce((a, w) => a + w.valid, 0), invalid: mine.reduce((a, w) => a + w.invalid, 0) }
        const check = await api()
          .verifyLedger(peerId)
          .catch((err: Error) => ({ verdict: { ok: false as const, reason: err.message } }))
        history.add({ at: history.now(), kind: 'worker-record', node: name, peerId, cheater: i < cheaters, valid: r.valid, invalid: r.invalid, ledger: check.verdict.ok ? 'ok' : check.verdict.reason })
      }
      return { jobs: jobs.length, finished, failed: jobs.length - finished }
    },
  }
}
