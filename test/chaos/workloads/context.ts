// What every chaos workload is given and gives back: the run's cluster and history, and when faults end; a workload
// says how its nodes are configured, when the coordinator sees a client ready for it, what it does after a node it
// uses is started again (the supervisor's part: rejoin, serve again), and drives its operations.
import type { PeerView } from '@weft/api-client'
import type { Cluster } from '../cluster.js'
import type { History } from '../history.js'
import type { Scenario } from '../scenario.js'

export interface WorkloadContext {
  readonly s: Scenario
  readonly cluster: Cluster
  readonly history: History
  readonly log: (line: string) => void
  readonly faultsOver: () => boolean
  /** When faults end (ms since the epoch, the harness's clock). */
  readonly faultsOverAt: number
  /** Every node's name, the coordinator first. */
  readonly nodes: readonly string[]
  /** The client nodes' names. */
  readonly clients: readonly string[]
}

export interface Workload {
  /** The node's config file beyond `dataDir` (it may write its data files into `dir` first). */
  nodeConfig(name: string, index: number, dir: string): Record<string, unknown>
  /** Whether the coordinator's view of a client shows it ready for this workload. */
  ready(peer: PeerView): boolean
  /** After a killed node is started again. */
  restarted?(name: string): Promise<void>
  /** Drives operations until faults are over (`faultsDone`), then ends them; returns the operations' counts. */
  run(ctx: WorkloadContext, faultsDone: Promise<void>): Promise<Record<string, number>>
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Seconds since the run started, for log lines. */
export const at = (ctx: WorkloadContext) => `${(ctx.history.now() / 1000).toFixed(1)} s`

/**
 * Calls `call` up to `tries` times, `everyMs` apart, until it answers: a node of the cluster may be down or starting
 * (a fault, or one that just healed). Each failure goes to `onError`; undefined when no call answered.
 */
export async function retrying<T>(call: () => Promise<T>, tries: number, everyMs: number, onError?: (err: Error) => void): Promise<T | undefined> {
  for (let i = 0; i < tries; i++) {
    if (i > 0) await sleep(everyMs)
    try {
      return await call()
    } catch (err) {
      onError?.(err as Error)
    }
  }
  return undefined
}

/**
 * Submits a job through `submit` every 200 ms until the coordinator takes it (it may be down, or its disk full), for
 * at most 2 minutes, and records the submission; undefined when it never took it.
 */
export async function submitJob(ctx: WorkloadContext, submit: () => Promise<string>): Promise<string | undefined> {
  const id = await retrying(submit, 601, 200)
  if (id === undefined) ctx.log('the coordinator took no job for 2 minutes')
  else ctx.history.add({ at: ctx.history.now(), kind: 'op', op: 'submit', job: id })
  return id
}
