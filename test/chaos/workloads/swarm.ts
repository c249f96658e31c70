// The swarm workload (serverless training under churn): swarms back to back, each started on every client with the
// same spec (so one swarm id), the clients training on their own shares of a synthetic two-class CSV and evaluating on
// a test share. A client killed and started again has forgotten its swarms: like its operator, the workload joins it
// to the running one again (a late joiner, handed the swarm's state). Every outer step a peer completes goes to the
// history as its own view lists it, and every peer's view once the swarm ended.
import { join } from 'node:path'
import { ApiError, type SwarmView } from '@weft/api-client'
import { writeSyntheticCsv } from '../../fixtures/synthetic-csv.js'
import { at, sleep, type Workload, type WorkloadContext } from './context.js'

export function swarmWorkload(spec: Record<string, unknown>, examples: number): Workload {
  let ctx: WorkloadContext | undefined
  /** The swarm now training, and how many times each node was started (a life's steps are counted apart). */
  let current: string | undefined
  const lives = new Map<string, number>()
  return {
    nodeConfig(name, index, dir) {
      if (name === 'coordinator') return { fl: { participate: false } }
      writeSyntheticCsv(join(dir, 'share.csv'), examples, index + 1)
      // One test set for every peer: peers holding one model must score alike.
      writeSyntheticCsv(join(dir, 'test.csv'), 400, 1000)
      return {
        fl: { participate: false },
        datasets: [
          { name: 'synth', source: join(dir, 'share.csv'), label: 'label' },
          { name: 'synth-test', source: join(dir, 'test.csv'), label: 'label' },
        ],
      }
    },
    ready: (peer) => peer.ad.datasets.some((d) => d.name === 'synth'),
    async restarted(name) {
      lives.set(name, (lives.get(name) ?? 0) + 1)
      const id = current
      if (ctx === undefined || id === undefined || name === 'coordinator') return
      // Like an operator: join again only a swarm some member still trains in.
      const c = ctx
      const states = await Promise.all(c.clients.filter((n) => n !== name).map((n) => c.cluster.api(n).swarm(id).then((v) => v.state, () => undefined)))
      if (!states.includes('training')) return
      // The operator's part: join again (the spec by CID from the members, then their state at the next step).
      await ctx.cluster
        .api(name)
        .joinSwarm(id)
        .then(() => ctx?.log(`${at(ctx)}: ${name} joined swarm ${id.slice(-8)} again`))
        .catch((err) => ctx?.log(`${at(ctx as WorkloadContext)}: ${name} could not join swarm ${id.slice(-8)} again: ${(err as Error).message}`))
    },
    async run(c, faultsDone) {
      ctx = c
      const { s, cluster, history, log } = c
      let started = 0
      let finished = 0
      let failed = 0
      while (!c.faultsOver() || started === 0) {
        const name = `${s.name}-${started}`
        const body = { ...spec, name, dataset: 'synth', evaluation: { dataset: 'synth-test', every: 1 } }
        // Every client starts the same spec: its CID is the swarm's id. A client down now joins when it is back.
        const views = await Promise.all(c.clients.map((n) => cluster.api(n).startSwarm(body).catch(() => undefined)))
        const id = views.find((v) => v !== undefined)?.id
        if (id === undefined) {
          log(`${at(c)}: no client could start swarm ${name}`)
          await sleep(1_000)
          continue
        }
        current = id
        started++
        history.add({ at: history.now(), kind: 'op', op: 'submit', job: id })
        log(`${at(c)}: swarm ${id.slice(-8)} started on ${views.filter((v) => v !== undefined).length} clients`)
        const end = await follow(c, id, lives)
        if (end.status === 'finished') finished++
        else failed++
        // A swarm still training at the bound has not ended: the liveness check says so.
        if (end.status !== 'unended') history.add({ at: history.now(), kind: 'op', op: 'ended', job: id, status: end.status, ...(end.error === undefined ? {} : { error: end.error }) })
        log(`${at(c)}: swarm ${id.slice(-8)} ${end.status}${end.error === undefined ? '' : `: ${end.error}`}`)
        if (end.status === 'unended') break
      }
      current = undefined
      await faultsDone
      return { swarms: started, finished, failed }
    },
  }
}

/**
 * Polls every client's view of swarm `id` until each client in it has ended it (done, failed or left), recording each
 * outer step as it appears; after faults, gives up at the liveness bound. A swarm is `finished` when every client
 * that ended it is done, `failed` (with the peers' errors) otherwise.
 */
async function follow(ctx: WorkloadContext, id: string, lives: ReadonlyMap<string, number>): Promise<{ status: string; error?: string }> {
  const { s, cluster, history } = ctx
  const seen = new Map<string, number>()
  const last = new Map<string, SwarmView>()
  const deadline = () => Math.max(ctx.faultsOverAt, Date.now()) + s.livenessSeconds * 1000
  let bound = deadline()
  for (;;) {
    if (!ctx.faultsOver()) bound = deadline()
    for (const name of ctx.clients) {
      const view = await cluster
        .api(name)
        .swarm(id)
        .catch((err: unknown) => (err instanceof ApiError && err.status === 404 ? null : undefined))
      // Not in the swarm (started again and not joined, or its join refused): its last view no longer stands.
      if (view === null) last.delete(name)
      if (view === null || view === undefined) continue
      const life = lives.get(name) ?? 0
      const key = `${name} ${life}`
      // A life's history starts empty: its steps are those it completed.
      for (const step of view.history.slice(seen.get(key) ?? 0)) {
        history.add({ at: history.now(), kind: 'swarm-step', node: name, swarm: id, life, step: step.step, accuracy: step.accuracy })
      }
      seen.set(key, view.history.length)
      last.set(name, view)
    }
    // Ended when every client that is up and in the swarm is past training (a killed one is not in it until rejoined).
    const views = [...last.values()]
    const training = views.filter((v) => v.state === 'training')
    if (views.length > 0 && training.length === 0) return finish(ctx, id, last, 'ended')
    if (Date.now() > bound) return finish(ctx, id, last, 'unended')
    await sleep(1_000)
  }
}

function finish(ctx: WorkloadContext, id: string, last: ReadonlyMap<string, SwarmView>, how: 'ended' | 'unended'): { status: string; error?: string } {
  for (const [node, v] of last) {
    ctx.history.add({
      at: ctx.history.now(),
      kind: 'final-swarm',
      node,
      swarm: id,
      state: v.state,
      ...(v.error === undefined ? {} : { error: v.error }),
      step: v.step,
      totalSteps: v.totalSteps,
      // The score of the model the peer ended with (a step's score may be of parameters a catch-up replaced).
      accuracy: v.evaluation?.final === true ? v.evaluation.accuracy : null,
      swarmSamples: v.swarmSamples,
      totalSamples: v.totalSamples,
    })
  }
  if (how === 'unended') return { status: 'unended' }
  // A node started again after the swarm's last members were done finds nothing to join, and says so: it was never
  // in the swarm's end.
  const neverJoined = (v: SwarmView) => v.state === 'failed' && v.history.length === 0 && (v.error ?? '').includes('nothing to join')
  const bad = [...last].filter(([, v]) => v.state !== 'done' && !neverJoined(v))
  return bad.length === 0 ? { status: 'finished' } : { status: 'failed', error: bad.map(([n, v]) => `${n} ${v.state}${v.error === undefined ? '' : `: ${v.error}`}`).join('; ') }
}
