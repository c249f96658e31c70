// The coordinator's RPC surface for other nodes: submit a job here, ask a job's status, report a failed task.
import type { Coordinator } from '@weft/fl'
import { type Authorize, RpcError } from '@weft/mesh'
import { FL_STATUS, FL_SUBMIT, FL_TASK_FAILED, MAX_FAILURE_REASON, MAX_SPEC_JSON, WireErrorCode } from '@weft/protocol'
import { type FlEndpoint, type FlLogger, silentLogger } from './endpoint.js'
import type { SiteUpdateSink } from './site-aggregator.js'

export interface CoordinatorRpcComponents {
  readonly mesh: FlEndpoint
  readonly coordinator: Pick<Coordinator, 'taskFailed'>
  /** Why `peer` may not submit jobs here, or undefined when it may. */
  readonly submitRefusal: (peer: string) => string | undefined
  /**
   * Validates and starts a job submitted by `peer`; returns its id.
   * @throws RpcError with its code (e.g. RESOURCE_EXHAUSTED over a quota), or Error: a spec refused (BAD_REQUEST)
   */
  readonly submit: (spec: unknown, peer: string) => string
  /** A job's status as JSON (the node's job view), or undefined when no such job is here. */
  readonly statusJson: (jobId: string) => string | undefined
  /** Why `peer` may not read the status of job `jobId` (its spec, seed and each round's clients), or undefined. */
  readonly statusRefusal: (peer: string, jobId: string) => string | undefined
  /** The node's role check: failed tasks are reported only by peers holding the `client` role. Default: anyone. */
  readonly authorize?: Authorize
  /** Whether a job is coordinated here. */
  readonly hasJob: (jobId: string) => boolean
  /** The site this node aggregates, when it does: its members report their failed tasks to it. */
  readonly site?: Pick<SiteUpdateSink, 'taskFailed'>
  readonly logger?: FlLogger
}

/**
 * Serves `fl/submit`, `fl/status` and `fl/task-failed`.
 * @returns stop: unregisters the handlers
 */
export async function serveCoordinatorRpc(c: CoordinatorRpcComponents): Promise<{ stop(): Promise<void> }> {
  const { mesh } = c
  const log = c.logger ?? silentLogger
  await mesh.rpc.handle(FL_SUBMIT, (req, ctx) => {
    const refusal = c.submitRefusal(ctx.peer)
    if (refusal !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, refusal)
    if (req.specJson.length > MAX_SPEC_JSON) throw new RpcError(WireErrorCode.TOO_LARGE, `job spec over ${MAX_SPEC_JSON} bytes`)
    try {
      return { jobId: c.submit(JSON.parse(req.specJson), ctx.peer) }
    } catch (err) {
      // A refusal with its own code (a quota) keeps it; anything else is a spec this node cannot run.
      throw err instanceof RpcError ? err : new RpcError(WireErrorCode.BAD_REQUEST, (err as Error).message)
    }
  })
  await mesh.rpc.handle(FL_STATUS, (req, ctx) => {
    const refusal = c.statusRefusal(ctx.peer, req.jobId)
    if (refusal !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, refusal)
    const json = c.statusJson(req.jobId)
    if (json === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `no job ${req.jobId} here`)
    return { statusJson: json }
  })
  await mesh.rpc.handle(FL_TASK_FAILED, (req, ctx) => {
    const unauthorized = c.authorize?.(ctx.peer, 'client')
    if (unauthorized !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, unauthorized)
    const reason = req.reason.slice(0, MAX_FAILURE_REASON)
    // A site member's task (the site checks that `ctx.peer` holds an open task of that round).
    if (c.site?.taskFailed(req.jobId, ctx.peer, req.round, reason) === true) return {}
    if (!c.hasJob(req.jobId)) throw new RpcError(WireErrorCode.NOT_FOUND, `no job ${req.jobId} here`)
    // Only the client's own task: the coordinator checks that `ctx.peer` holds a task of that round.
    log.warn({ job: req.jobId, round: req.round, client: ctx.peer, reason }, 'a client reported its task failed')
    c.coordinator.taskFailed(req.jobId, ctx.peer, req.round, reason)
    return {}
  })
  return {
    async stop() {
      for (const m of [FL_SUBMIT, FL_STATUS, FL_TASK_FAILED]) await mesh.rpc.unhandle(m).catch(() => {})
    },
  }
}
