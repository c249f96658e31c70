// Orchestration as a node component: this node's offer to placed work and its reservations (the `jobs` RPC service),
// the scheduler of the jobs submitted through it (and of those it takes over), and its contribution ledger.
import { totalmem } from 'node:os'
import { create } from '@bufbuild/protobuf'
import { capacityFromAd, Ledger, type NodeCapacity, signerFromKey } from '@weft/jobs'
import { ROLES as MESH_ROLES, type Role } from '@weft/mesh'
import { ResourceAdSchema } from '@weft/protocol'
import type { NodeComponentFactory } from '../component.js'
import { Capacity, type Offer } from '../jobs/capacity.js'
import { startFlReceipts, vouchFlUpdate } from '../jobs/fl-receipts.js'
import { openJobDb } from '../jobs/job-db.js'
import { type LedgerService, startLedgerService } from '../jobs/ledger-service.js'
import { type Scheduler, startScheduler } from '../jobs/scheduler.js'
import { startServeReceipts, vouchServeSession } from '../jobs/serve-receipts.js'
import { startWorker, type WorkStarter } from '../jobs/worker.js'
import { readHostResources } from '../resources.js'

/** What the node's API and ads see of orchestration. */
export interface NodeJobs {
  readonly scheduler: Scheduler
  readonly ledger: LedgerService
  readonly capacity: Capacity
}

/** Roles a `jobs.from` entry may name. */
const ROLES: ReadonlySet<string> = new Set(MESH_ROLES)

export const jobsComponent: NodeComponentFactory = (ctx) => {
  let stopAll: (() => Promise<void>) | undefined
  return {
    name: 'jobs',
    dependsOn: ['state', 'engines', 'mesh', 'membership', 'peers', 'datasets', 'ads', 'fl-coordinator', 'swarm', 'inference'],
    async start() {
      const { config, logger, now } = ctx
      const mesh = ctx.get('mesh')
      const peers = ctx.get('peers')
      const engines = ctx.get('engines')
      const datasets = ctx.get('datasets')
      const membership = ctx.get('membership')
      const metrics = ctx.metrics.jobs
      const jc = config.jobs
      if (jc.cheat) logger.warn('jobs.cheat is set: THIS NODE RETURNS WRONG BATCH RESULTS (verification tests only)')
      const offer: Offer = {
        cores: jc.cores ?? readHostResources().cpu.cores,
        memoryBytes: jc.memoryBytes ?? Math.floor(totalmem() * 0.8),
        accelerators: jc.accelerators ?? engines.accelerators().length,
        pricing: jc.pricing,
      }
      const db = openJobDb(config.dataDir)
      const signer = signerFromKey(ctx.get('privateKey'))
      const ledger = new Ledger(db.ledger)
      const accrued = new Map<string, { core: number; memory: number; accel: number }>()
      const capacity = new Capacity(offer, now, (lapsed) => {
        logger.info({ job: lapsed.jobId, placement: lapsed.placement, owner: lapsed.owner }, 'a reservation lapsed (its owner stopped renewing it); its work stops')
        void lapsed.stop?.().catch(() => undefined)
      })
      metrics.offeredCores.set(offer.cores)
      const ledgerService = await startLedgerService({ mesh, ledger, signer, logger, now })
      metrics.ledgerEntries.set(ledgerService.head().seq)

      const start: WorkStarter = async (kind, spec, owner) => {
        if (kind === 'fl') {
          const fl = ctx.get('flCoordinator')
          // An FL job from another node is a remote submission: the coordinator's own rules (fl.coordinate, the
          // submitter role, the submitter's quota) apply, whatever placed it here.
          const job = owner === mesh.peerId ? fl.submit(spec) : fl.submitRemote(spec, owner)
          // The view is read asynchronously; status() answers the last one read.
          let last = { status: 'running', round: 0 }
          return {
            status: () => {
              void fl.view(job.id).then((v) => {
                last = v === undefined ? { status: 'failed', round: last.round } : { status: v.status, round: v.completedRounds }
              })
              const s = last.status
              return { state: s === 'finished' ? 'done' : s === 'running' ? 'running' : 'failed', detail: `fl job ${job.id}: ${s}, round ${last.round}` }
            },
            stop: async () => void fl.cancel(job.id),
          }
        }
        if (kind === 'swarm') {
          const swarms = ctx.find('swarms')
          if (swarms === undefined) throw new Error('serverless training is not running on this node')
          const view = await swarms.start(spec)
          return {
            status: () => {
              const v = swarms.get(view.id)
              const s = v?.state ?? 'left'
              return { state: s === 'done' ? 'done' : s === 'training' ? 'running' : 'failed', detail: `swarm ${view.id}: ${s}` }
            },
            stop: async () => void (await swarms.leave(view.id)),
          }
        }
        if (kind === 'serve') {
          const inference = ctx.find('inference')
          if (inference === undefined) throw new Error('inference is not running on this node')
          const s = spec as { model?: unknown; blocks?: unknown; count?: unknown; engine?: unknown }
          if (typeof s.model !== 'string') throw new Error('a serve spec needs model (the checkpoint CID)')
          const served = await inference.serve({
            model: s.model,
            ...(Array.isArray(s.blocks) || s.blocks === 'auto' ? { blocks: s.blocks as [number, number] | 'auto' } : {}),
            ...(typeof s.count === 'number' ? { count: s.count } : {}),
            ...(s.engine === 'tfjs' || s.engine === 'torch' ? { engine: s.engine } : {}),
          })
          return {
            status: () => ({ state: 'running', detail: `serving ${served.model} blocks ${served.start}-${served.end} on ${served.engine}` }),
            stop: async () => void (await inference.unserve(served.model, served.start, served.end)),
          }
        }
        throw new Error(`unknown job kind "${kind}"`)
      }

      const allowAll = jc.from.includes('*')
      /** Why `peer` may not place work here (or own a job this node takes over), or undefined. */
      const refuse = (peer: string): string | undefined => {
        if (peer === mesh.peerId) return undefined
        const notMember = membership.member(peer)
        if (notMember !== undefined) return notMember
        if (allowAll || jc.from.includes(peer)) return undefined
        if (jc.from.some((entry) => ROLES.has(entry) && membership.authorize(peer, entry as Role) === undefined)) return undefined
        return `${peer} may not place work here (jobs.from)`
      }
      const worker = jc.accept
        ? await startWorker({
            mesh,
            capacity,
            signer,
            ledger,
            logger,
            now,
            refuse,
            ownerAlive: (peer) => peer === mesh.peerId || peers.get(peer)?.status === 'alive',
            executor: () => ({ loadDataset: (ds) => datasets.load(ds), pool: () => engines.pool() }),
            start,
            cheat: jc.cheat,
            onTask: (outcome, seconds) => {
              metrics.tasksRun.inc({ outcome })
              metrics.taskSeconds.observe(seconds)
            },
            vouch: (receipt) =>
              receipt.kind === 'fl-update'
                ? vouchFlUpdate(ctx.find('flClient'), receipt)
                : receipt.kind === 'serve-session'
                  ? vouchServeSession(ctx.find('inference'), receipt)
                  : `this node signs ${receipt.kind.slice(0, 40)} receipts only when it answers the work`,
            onReceipt: (kept) => {
              metrics.receipts.inc({ outcome: kept ? 'kept' : 'refused' })
              if (kept) {
                metrics.ledgerEntries.set(ledgerService.head().seq)
                void ledgerService.announce()
              }
            },
          })
        : undefined

      // This node as a candidate of its own scheduler: its ad as others see it.
      const self = (): NodeCapacity | undefined => {
        if (worker === undefined) return undefined
        const offers = ctx.get('ads').offers()
        return capacityFromAd(
          create(ResourceAdSchema, {
            peerId: mesh.peerId,
            runtimes: offers.runtimes,
            datasets: offers.datasets,
            labels: config.labels,
            accelerators: engines.accelerators(),
            work: capacity.workOffer(),
          }),
        )
      }
      const scheduler = await startScheduler({
        mesh,
        peers,
        signer,
        privateKeySign: async (bytes) => ctx.get('privateKey').sign(bytes),
        ledger,
        db,
        logger,
        now,
        self,
        worker: () => worker?.api,
        refuseOwner: refuse,
        leaseMs: jc.leaseMs,
        heartbeatMs: jc.heartbeatMs,
        maxAttempts: jc.maxAttempts,
        onPlacement: (outcome) => metrics.placements.inc({ outcome }),
        onTaskVerified: (outcome) => {
          metrics.tasksVerified.inc({ outcome })
          if (outcome === 'accepted') {
            metrics.ledgerEntries.set(ledgerService.head().seq)
            void ledgerService.announce()
          }
        },
        onJobEnd: (state) => metrics.jobsEnded.inc({ state }),
      })

      // Receipts this node owns for FL updates to the jobs it coordinates and for the sessions of its completions.
      const issuer = {
        mesh,
        peers,
        signer,
        ledger,
        logger,
        now,
        onAppended: () => {
          metrics.ledgerEntries.set(ledgerService.head().seq)
          void ledgerService.announce()
        },
      }
      const flReceipts = startFlReceipts({ ...issuer, coordinator: ctx.get('flCoordinator') })
      const inference = ctx.find('inference')
      const serveReceipts = inference === undefined ? undefined : startServeReceipts({ ...issuer, inference })

      // Usage metering: the units each placement here holds, exported per job; a changed reservation is advertised.
      let advertised = ''
      const meter = setInterval(() => {
        capacity.sweep()
        const held = capacity.reserved()
        const key = `${held.cores}/${held.memoryBytes}/${held.accelerators}`
        if (key !== advertised) {
          advertised = key
          void ctx.get('ads').publish()
        }
        metrics.reservedCores.set(held.cores)
        metrics.reservedMemoryBytes.set(held.memoryBytes)
        for (const r of capacity.list()) {
          const k = `${r.jobId}\u0000${r.placement}`
          const before = accrued.get(k) ?? { core: 0, memory: 0, accel: 0 }
          metrics.coreSeconds.inc({ job: r.jobId }, Math.max(0, r.usage.coreSeconds - before.core))
          metrics.memoryByteSeconds.inc({ job: r.jobId }, Math.max(0, r.usage.memoryByteSeconds - before.memory))
          metrics.acceleratorSeconds.inc({ job: r.jobId }, Math.max(0, r.usage.acceleratorSeconds - before.accel))
          accrued.set(k, { core: r.usage.coreSeconds, memory: r.usage.memoryByteSeconds, accel: r.usage.acceleratorSeconds })
        }
      }, 1_000)
      meter.unref()

      const removeActivities = ctx.addActivities(() => [
        ...scheduler
          .list()
          .filter((j) => j.state === 'pending' || j.state === 'running')
          .map((j) => ({ kind: 'job-owner', jobId: j.id, detail: `${j.spec.kind} ${j.state}` })),
        ...capacity
          .list()
          .filter((r) => r.state === 'reserved' || r.state === 'running')
          .map((r) => ({ kind: 'job-placement', jobId: r.jobId, detail: `${r.placement} ${r.state}` })),
      ])

      ctx.provide('jobs', { scheduler, ledger: ledgerService, capacity })
      stopAll = async () => {
        clearInterval(meter)
        removeActivities()
        await scheduler.stop()
        await serveReceipts?.stop()
        await flReceipts.stop()
        await worker?.stop()
        await ledgerService.stop()
        db.close()
      }
    },
    async stop() {
      ctx.withdraw('jobs')
      await stopAll?.()
    },
  }
}
