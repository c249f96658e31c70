// The worker side of orchestration: the `jobs` RPC service through which owners reserve this node's capacity, start
// work on it, check on it (the heartbeat that renews reservations) and run batch tasks, and through which a task's
// countersigned receipt comes back for this node's ledger; and through which an owner asks it to sign a receipt the
// owner built for work it confirms (an FL update, a served session).
import { create, fromBinary, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf'
import { canonicalJson, encodeReceipt, type Ledger, resultCid, type Signer, verifyReceipt, workerSign } from '@weft/jobs'
import { RpcError } from '@weft/mesh'
import type { MeshNode } from '@weft/mesh/node'
import {
  JOBS_RECEIPT,
  JOBS_RELEASE,
  JOBS_RESERVE,
  JOBS_SIGN,
  JOBS_START,
  JOBS_STATUS,
  JOBS_TASK,
  MAX_JOB_ID,
  MAX_JOB_SPEC_BYTES,
  MAX_RECEIPT_BYTES,
  MAX_RESERVATION_LEASE_MS,
  MAX_TASK_RESULT_BYTES,
  type Receipt,
  ReceiptSchema,
  WireErrorCode,
} from '@weft/protocol'
import type { Logger } from 'pino'
import { type Capacity, emptyUsage, priceOf, type Reservation } from './capacity.js'
import { type ExecutorContext, runBatchTask, TaskSpecError } from './executors.js'

/** Starts an FL coordinator, swarm peer or served model for a placement; returns how to check and stop it. */
export type WorkStarter = (kind: string, spec: unknown, owner: string) => Promise<{ status(): { state: 'running' | 'done' | 'failed'; detail: string }; stop(): Promise<void> }>

export interface WorkerComponents {
  readonly mesh: MeshNode
  readonly capacity: Capacity
  readonly signer: Signer
  readonly ledger: Ledger
  readonly logger: Logger
  readonly now: () => number
  /** Why `peer` may not place work here, or undefined. */
  readonly refuse: (peer: string) => string | undefined
  readonly executor: () => Omit<ExecutorContext, 'signal'>
  readonly start: WorkStarter
  /** Whether a peer is alive in this node's peer table (a takeover needs the old owner gone). */
  readonly ownerAlive: (peer: string) => boolean
  /** FOR VERIFICATION TESTS ONLY: answer wrong batch results. */
  readonly cheat: boolean
  readonly onTask?: (outcome: 'ok' | 'failed', seconds: number) => void
  readonly onReceipt?: (kept: boolean) => void
  /**
   * Confirms from this node's own records that it did the work an owner's receipt names (its kind's voucher: the FL
   * client for an 'fl-update', the span server for a 'serve-session'). Undefined: confirmed; else why not. Absent:
   * this node signs no receipt an owner built.
   */
  readonly vouch?: (receipt: Receipt) => string | undefined
  readonly onSign?: (signed: boolean) => void
}

/** The service's methods, callable in-process by this node's own scheduler (a node cannot dial itself) and over RPC. */
export interface WorkerApi {
  reserve(request: MessageShape<typeof JOBS_RESERVE.input>, caller: string): MessageInitShape<typeof JOBS_RESERVE.output>
  release(request: MessageShape<typeof JOBS_RELEASE.input>, caller: string): Promise<MessageInitShape<typeof JOBS_RELEASE.output>>
  start(request: MessageShape<typeof JOBS_START.input>, caller: string): Promise<MessageInitShape<typeof JOBS_START.output>>
  status(request: MessageShape<typeof JOBS_STATUS.input>, caller: string): MessageInitShape<typeof JOBS_STATUS.output>
  task(request: MessageShape<typeof JOBS_TASK.input>, caller: string, signal: AbortSignal): Promise<MessageInitShape<typeof JOBS_TASK.output>>
  receipt(request: MessageShape<typeof JOBS_RECEIPT.input>, caller: string): Promise<MessageInitShape<typeof JOBS_RECEIPT.output>>
  sign(request: MessageShape<typeof JOBS_SIGN.input>, caller: string): Promise<MessageInitShape<typeof JOBS_SIGN.output>>
}

export interface Worker {
  readonly api: WorkerApi
  stop(): Promise<void>
}

/** Receipts an owner asked this node to sign that it remembers having signed, (job, task, kind) each. */
const MAX_SIGNED_RECEIPTS = 16_384
/** Slack on the worker's own pricing of a receipt's units (an owner's rounding). */
const CREDIT_SLACK = 1.0001

const checkId = (what: string, id: string): void => {
  if (id.length === 0 || id.length > MAX_JOB_ID) throw new RpcError(WireErrorCode.BAD_REQUEST, `${what} must be 1..${MAX_JOB_ID} characters`)
}

/** Registers the `jobs` RPC service. */
export async function startWorker(c: WorkerComponents): Promise<Worker> {
  const { mesh, capacity } = c
  const allowed = (peer: string): void => {
    const why = c.refuse(peer)
    if (why !== undefined) throw new RpcError(WireErrorCode.UNAUTHORIZED, why)
  }
  /** The caller's reservation, or an error: only the owner that holds it may use it. */
  const held = (jobId: string, placement: string, peer: string): Reservation => {
    const r = capacity.get(jobId, placement)
    if (r === undefined) throw new RpcError(WireErrorCode.NOT_FOUND, `no reservation for ${jobId}/${placement} here`)
    if (r.owner !== peer) throw new RpcError(WireErrorCode.UNAUTHORIZED, `${jobId}/${placement} is reserved for another owner`)
    return r
  }

  const reserve: WorkerApi['reserve'] = (request, caller) => {
    const context = { peer: caller }
    allowed(context.peer)
    checkId('job id', request.jobId)
    checkId('placement', request.placement)
    if (!(Number.isFinite(request.cores) && request.cores > 0)) throw new RpcError(WireErrorCode.BAD_REQUEST, 'cores must be a positive number')
    if (request.leaseMs < 100 || request.leaseMs > MAX_RESERVATION_LEASE_MS) throw new RpcError(WireErrorCode.BAD_REQUEST, `lease_ms must be 100..${MAX_RESERVATION_LEASE_MS}`)
    const outcome = capacity.reserve({
      jobId: request.jobId,
      placement: request.placement,
      owner: context.peer,
      epoch: request.epoch,
      cores: request.cores,
      memoryBytes: Number(request.memoryBytes),
      accelerators: request.accelerators,
      leaseMs: request.leaseMs,
    })
    if (!outcome.granted) return { granted: false, reason: outcome.reason }
    return { granted: true, expiresAtMs: BigInt(outcome.reservation.expiresAt) }
  }

  const release: WorkerApi['release'] = async (request, caller) => {
    const context = { peer: caller }
    const r = capacity.get(request.jobId, request.placement)
    if (r !== undefined && r.owner === context.peer) {
      capacity.release(request.jobId, request.placement)
      await r.stop?.().catch((err: unknown) => c.logger.warn({ job: r.jobId, err: (err as Error).message }, 'stopping released work failed'))
    }
    return {}
  }

  const start: WorkerApi['start'] = async (request, caller) => {
    const context = { peer: caller }
    const r = held(request.jobId, request.placement, context.peer)
    if (request.spec.length > MAX_JOB_SPEC_BYTES) throw new RpcError(WireErrorCode.TOO_LARGE, `a spec is at most ${MAX_JOB_SPEC_BYTES} bytes`)
    if (r.state === 'running') return { started: true }
    let spec: unknown
    try {
      spec = JSON.parse(new TextDecoder().decode(request.spec))
    } catch {
      throw new RpcError(WireErrorCode.BAD_REQUEST, 'the spec must be JSON')
    }
    try {
      const work = await c.start(request.kind, spec, context.peer)
      r.state = 'running'
      r.detail = work.status().detail
      r.stop = () => work.stop()
      const poll = setInterval(() => {
        const s = work.status()
        r.detail = s.detail
        if (s.state !== 'running' && r.state === 'running') {
          r.state = s.state
          clearInterval(poll)
        }
      }, 500)
      poll.unref()
      const stop = r.stop
      r.stop = async () => {
        clearInterval(poll)
        await stop()
      }
      return { started: true }
    } catch (err) {
      r.state = 'failed'
      r.detail = (err as Error).message
      return { started: false, reason: (err as Error).message }
    }
  }

  const status: WorkerApi['status'] = (request, caller) => {
    const context = { peer: caller }
    capacity.accrue()
    const lease = Math.min(Math.max(request.leaseMs, 100), MAX_RESERVATION_LEASE_MS)
    const placements = capacity
      .ofJob(request.jobId)
      .filter((r) => {
        if (r.owner === context.peer) return true
        // A takeover: a later epoch, from a member, while the placement's owner is gone in this node's view too. (A
        // live owner keeps its placements, whatever epoch a peer claims.)
        if (request.epoch <= r.epoch || c.ownerAlive(r.owner) || c.refuse(context.peer) !== undefined) return false
        c.logger.info({ job: r.jobId, placement: r.placement, from: r.owner, to: context.peer }, 'a new owner adopted a placement')
        r.owner = context.peer
        return true
      })
      .map((r) => {
        // The heartbeat renews the lease; a newer owner (a takeover, a higher epoch) adopts the placement.
        capacity.reserve({ jobId: r.jobId, placement: r.placement, owner: context.peer, epoch: request.epoch, cores: r.cores, memoryBytes: r.memoryBytes, accelerators: r.accelerators, leaseMs: lease })
        return {
          placement: r.placement,
          state: r.state,
          detail: r.detail,
          coreSeconds: r.usage.coreSeconds,
          memoryByteSeconds: r.usage.memoryByteSeconds,
          acceleratorSeconds: r.usage.acceleratorSeconds,
          bytes: BigInt(Math.round(r.usage.bytes)),
        }
      })
    return { placements }
  }

  const task: WorkerApi['task'] = async (request, caller, signal) => {
    const context = { peer: caller, signal }
    const r = held(request.jobId, request.placement, context.peer)
    checkId('task id', request.taskId)
    if (request.spec.length > MAX_JOB_SPEC_BYTES) throw new RpcError(WireErrorCode.TOO_LARGE, `a task spec is at most ${MAX_JOB_SPEC_BYTES} bytes`)
    let spec: { task?: unknown; params?: unknown }
    try {
      spec = JSON.parse(new TextDecoder().decode(request.spec)) as typeof spec
    } catch {
      throw new RpcError(WireErrorCode.BAD_REQUEST, 'the task spec must be JSON')
    }
    if (typeof spec.task !== 'string' || spec.params === null || typeof spec.params !== 'object' || Array.isArray(spec.params)) {
      throw new RpcError(WireErrorCode.BAD_REQUEST, 'the task spec must be { "task": string, "params": { … } }')
    }
    const started = c.now()
    const cpu = process.cpuUsage()
    r.state = 'running'
    r.detail = `task ${request.taskId}`
    let result: unknown
    try {
      result = await runBatchTask(spec.task, spec.params as Record<string, unknown>, Number(request.seed % BigInt(2 ** 31)), { ...c.executor(), signal: context.signal })
    } catch (err) {
      r.state = 'reserved'
      c.onTask?.('failed', (c.now() - started) / 1000)
      if (err instanceof TaskSpecError) throw new RpcError(WireErrorCode.BAD_REQUEST, err.message)
      throw new RpcError(WireErrorCode.INTERNAL, `task ${request.taskId} failed: ${(err as Error).message}`)
    }
    r.state = 'reserved'
    r.detail = ''
    if (c.cheat) result = falsify(result)
    const bytes = new TextEncoder().encode(canonicalJson(result))
    if (bytes.length > MAX_TASK_RESULT_BYTES) throw new RpcError(WireErrorCode.TOO_LARGE, `the result is ${bytes.length} bytes, more than ${MAX_TASK_RESULT_BYTES}`)
    const used = process.cpuUsage(cpu)
    const usage = { ...emptyUsage(), coreSeconds: (used.user + used.system) / 1e6, bytes: bytes.length }
    r.usage.bytes += bytes.length
    c.onTask?.('ok', (c.now() - started) / 1000)
    const claim = create(ReceiptSchema, {
      jobId: request.jobId,
      taskId: request.taskId,
      kind: 'batch-task',
      worker: c.signer.peerId,
      owner: context.peer,
      resultCid: resultCid(bytes),
      coreSeconds: usage.coreSeconds,
      memoryByteSeconds: 0,
      acceleratorSeconds: 0,
      bytes: BigInt(bytes.length),
      issuedAtMs: BigInt(c.now()),
      credit: priceOf(usage, capacity.offer.pricing),
    })
    return {
      result: bytes,
      resultCid: claim.resultCid,
      coreSeconds: usage.coreSeconds,
      bytes: BigInt(bytes.length),
      receipt: encodeReceipt(claim),
      workerSignature: await workerSign(claim, c.signer),
    }
  }

  const receipt: WorkerApi['receipt'] = async (request, caller) => {
    const context = { peer: caller }
    if (request.signedReceipt.length > MAX_RECEIPT_BYTES) throw new RpcError(WireErrorCode.TOO_LARGE, `a receipt is at most ${MAX_RECEIPT_BYTES} bytes`)
    const verdict = await verifyReceipt(request.signedReceipt)
    if (!verdict.ok) {
      c.onReceipt?.(false)
      return { kept: false, reason: verdict.reason }
    }
    // Only this node's own receipts, countersigned by the peer that delivers them, go into its ledger.
    if (verdict.receipt.worker !== c.signer.peerId || verdict.receipt.owner !== context.peer) {
      c.onReceipt?.(false)
      return { kept: false, reason: 'a receipt is kept only by its worker, delivered by its owner' }
    }
    try {
      await c.ledger.append(request.signedReceipt)
    } catch (err) {
      c.onReceipt?.(false)
      return { kept: false, reason: (err as Error).message }
    }
    c.onReceipt?.(true)
    return { kept: true }
  }

  /** "job\ntask\nkind" of the receipts signed on request, oldest first. */
  const signed = new Set<string>()
  const sign: WorkerApi['sign'] = async (request, caller) => {
    const context = { peer: caller }
    if (request.receipt.length > MAX_RECEIPT_BYTES) throw new RpcError(WireErrorCode.TOO_LARGE, `a receipt is at most ${MAX_RECEIPT_BYTES} bytes`)
    let claim: Receipt
    try {
      claim = fromBinary(ReceiptSchema, request.receipt, { readUnknownFields: false })
    } catch (err) {
      throw new RpcError(WireErrorCode.BAD_REQUEST, `the receipt must be an encoded Receipt: ${(err as Error).message}`)
    }
    const refusal = checkClaim(claim, context.peer)
    if (refusal !== undefined) {
      c.onSign?.(false)
      c.logger.info({ job: claim.jobId.slice(0, MAX_JOB_ID), task: claim.taskId.slice(0, MAX_JOB_ID), kind: claim.kind.slice(0, 40), owner: context.peer, reason: refusal }, 'refused to sign a receipt')
      return { workerSignature: new Uint8Array(0), reason: refusal }
    }
    const key = `${claim.jobId}\n${claim.taskId}\n${claim.kind}`
    signed.add(key)
    if (signed.size > MAX_SIGNED_RECEIPTS) signed.delete(signed.values().next().value as string)
    c.onSign?.(true)
    return { workerSignature: await workerSign(claim, c.signer) }
  }
  /** Why this node does not sign an owner's receipt, or undefined. */
  const checkClaim = (claim: Receipt, caller: string): string | undefined => {
    if (claim.worker !== c.signer.peerId) return `the receipt names worker ${claim.worker.slice(0, MAX_JOB_ID)}; this node is ${c.signer.peerId}`
    if (claim.owner !== caller) return `the receipt names owner ${claim.owner.slice(0, MAX_JOB_ID)}; a receipt is signed only for its owner, and the caller is ${caller}`
    if (claim.jobId.length === 0 || claim.jobId.length > MAX_JOB_ID) return `job id of ${claim.jobId.length} characters; 1 to ${MAX_JOB_ID} expected`
    if (claim.taskId.length === 0 || claim.taskId.length > MAX_JOB_ID) return `task id of ${claim.taskId.length} characters; 1 to ${MAX_JOB_ID} expected`
    if (claim.kind.length > 40) return `kind of ${claim.kind.length} characters`
    const units = { coreSeconds: claim.coreSeconds, memoryByteSeconds: claim.memoryByteSeconds, acceleratorSeconds: claim.acceleratorSeconds, credit: claim.credit }
    for (const [name, value] of Object.entries(units)) {
      if (!Number.isFinite(value) || value < 0) return `${name} is ${value}; a finite number ≥ 0 expected`
    }
    const priced = priceOf({ ...emptyUsage(), coreSeconds: claim.coreSeconds, memoryByteSeconds: claim.memoryByteSeconds, acceleratorSeconds: claim.acceleratorSeconds }, capacity.offer.pricing)
    if (claim.credit > priced * CREDIT_SLACK) return `credit ${claim.credit} is more than this node's prices give for the receipt's units (${priced})`
    if (c.vouch === undefined) return 'this node signs no receipts an owner built'
    const unconfirmed = c.vouch(claim)
    if (unconfirmed !== undefined) return unconfirmed
    if (signed.has(`${claim.jobId}\n${claim.taskId}\n${claim.kind}`)) return `already signed a ${claim.kind} receipt for ${claim.jobId}/${claim.taskId}`
    return undefined
  }

  const api: WorkerApi = { reserve, release, start, status, task, receipt, sign }
  await mesh.rpc.handle(JOBS_RESERVE, (request, context) => reserve(request, context.peer))
  await mesh.rpc.handle(JOBS_RELEASE, (request, context) => release(request, context.peer))
  await mesh.rpc.handle(JOBS_START, (request, context) => start(request, context.peer))
  await mesh.rpc.handle(JOBS_STATUS, (request, context) => status(request, context.peer))
  await mesh.rpc.handle(JOBS_TASK, (request, context) => task(request, context.peer, context.signal))
  await mesh.rpc.handle(JOBS_RECEIPT, (request, context) => receipt(request, context.peer))
  await mesh.rpc.handle(JOBS_SIGN, (request, context) => sign(request, context.peer))

  return {
    api,
    async stop() {
      for (const m of [JOBS_RESERVE, JOBS_RELEASE, JOBS_START, JOBS_STATUS, JOBS_TASK, JOBS_RECEIPT, JOBS_SIGN]) await mesh.rpc.unhandle(m).catch(() => undefined)
      for (const r of capacity.list()) {
        capacity.release(r.jobId, r.placement)
        await r.stop?.().catch(() => undefined)
      }
    },
  }
}

/** A cheating worker's answer: every number shifted by one. */
function falsify(value: unknown): unknown {
  if (typeof value === 'number') return value + 1
  if (Array.isArray(value)) return value.map(falsify)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, falsify(v)]))
  return value
}
