// Receipts for FL updates: the node coordinating an FL job owns its updates. When a round commits, each client whose
// update counted is asked to sign a receipt for it (its reported training seconds and update bytes, priced at the
// client's advertised prices); this node countersigns it, appends it to its ledger and delivers it to the client.
// Also the owner's side of any receipt an owner builds (`issueReceipt`), which served sessions use too.
import { create } from '@bufbuild/protobuf'
import type { JobEvent, JobStore } from '@weft/fl'
import { countersign, encodeReceipt, type Ledger, type Signer, verifyReceipt } from '@weft/jobs'
import type { MeshNode } from '@weft/mesh/node'
import { JOBS_RECEIPT, JOBS_SIGN, MAX_JOB_ID, type Receipt, ReceiptSchema } from '@weft/protocol'
import type { Logger } from 'pino'
import type { PeerTable } from '../peer-table.js'
import { emptyUsage, priceOf, type Usage } from './capacity.js'

/** How long a worker has to sign or keep a receipt. */
const CALL_TIMEOUT_MS = 15_000

/** What an owner needs to have its receipts signed, countersigned, kept and delivered. */
export interface ReceiptIssuerComponents {
  readonly mesh: MeshNode
  readonly peers: PeerTable
  readonly signer: Signer
  readonly ledger: Ledger
  readonly logger: Logger
  readonly now: () => number
  /** Called after a receipt is appended to this node's ledger. */
  readonly onAppended?: () => void
}

/** A receipt issued, or why not. */
export type IssueOutcome = { readonly ok: true; readonly delivered: boolean } | { readonly ok: false; readonly reason: string }

/** Credits for `usage` at the prices `peer` advertises in its ad (0 when it advertises none). */
export function priceAtAd(peers: PeerTable, peer: string, usage: Usage): number {
  const pricing = peers.get(peer)?.ad.work?.pricing
  return pricing === undefined ? 0 : priceOf(usage, pricing)
}

/**
 * A receipt this node owns, for work `receipt.worker` did for it: asks the worker to sign it (`jobs/sign`),
 * countersigns it, appends it to this node's ledger and delivers it to the worker (`jobs/receipt`).
 * @returns ok (and whether the worker kept it), or why there is no receipt (the worker refused, was unreachable…)
 */
export async function issueReceipt(c: ReceiptIssuerComponents, receipt: Receipt): Promise<IssueOutcome> {
  const worker = receipt.worker
  let workerSignature: Uint8Array
  try {
    const answer = await c.mesh.rpc.call(worker, JOBS_SIGN, { receipt: encodeReceipt(receipt) }, { timeoutMs: CALL_TIMEOUT_MS })
    if (answer.workerSignature.length === 0) return { ok: false, reason: `${worker} refused to sign: ${answer.reason.slice(0, 500)}` }
    workerSignature = answer.workerSignature
  } catch (err) {
    return { ok: false, reason: `${worker} did not sign: ${(err as Error).message}` }
  }
  const signed = await countersign(receipt, workerSignature, c.signer)
  const verdict = await verifyReceipt(signed)
  if (!verdict.ok) return { ok: false, reason: `${worker}'s signature does not verify: ${verdict.reason}` }
  try {
    await c.ledger.append(signed)
  } catch (err) {
    return { ok: false, reason: `the ledger refused it: ${(err as Error).message}` }
  }
  c.onAppended?.()
  try {
    const kept = await c.mesh.rpc.call(worker, JOBS_RECEIPT, { signedReceipt: signed }, { timeoutMs: CALL_TIMEOUT_MS })
    if (!kept.kept) c.logger.warn({ job: receipt.jobId, task: receipt.taskId, worker, reason: kept.reason }, 'a worker did not keep its receipt')
    return { ok: true, delivered: kept.kept }
  } catch (err) {
    c.logger.warn({ job: receipt.jobId, task: receipt.taskId, worker, err: (err as Error).message }, 'could not deliver a receipt')
    return { ok: true, delivered: false }
  }
}

/** What the FL receipts need of the FL coordinator role. */
export interface FlReceiptsComponents extends ReceiptIssuerComponents {
  readonly coordinator: {
    readonly store: Pick<JobStore, 'getJob' | 'contributors' | 'listUpdates'>
    onJobEvent(listener: (jobId: string, event: JobEvent) => void): () => void
  }
  /** Called with each receipt's outcome (tests, metrics). */
  readonly onIssued?: (receipt: Receipt, outcome: IssueOutcome) => void
}

export interface FlReceipts {
  /** Resolves when the receipts being issued now are settled. */
  settled(): Promise<void>
  stop(): Promise<void>
}

/** What one accepted update reported, until its round commits. */
interface AcceptedUpdate {
  readonly trainSeconds: number
  readonly bytes: number
  /** A masked input of a secure round (counted by the round's sum, not stored as an update). */
  readonly masked: boolean
}

/** Receipts issued in the background, tracked so that `settled` and `stop` can wait for them. */
export class ReceiptRuns implements FlReceipts {
  readonly #pending = new Set<Promise<void>>()
  readonly #off: () => void
  #stopped = false

  /** @param off - removes the listener that starts the runs */
  constructor(off: () => void) {
    this.#off = off
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /** Tracks one run; its failure is logged by `onError`, never thrown. */
  track(run: Promise<void>, onError: (err: Error) => void): void {
    const tracked: Promise<void> = run.catch(onError).finally(() => this.#pending.delete(tracked))
    this.#pending.add(tracked)
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.#pending])
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#off()
    await this.settled()
  }
}

/** Rounds whose accepted updates are remembered until they commit (older ones are dropped). */
const MAX_OPEN_ROUNDS = 256
/** Accepted updates remembered per round. */
const MAX_UPDATES_PER_ROUND = 4096

/** Issues a receipt for every update that counted in each round committed by this node's FL coordinator. */
export function startFlReceipts(c: FlReceiptsComponents): FlReceipts {
  const self = c.mesh.peerId
  /** "job\nround" → client → what its accepted update reported. */
  const accepted = new Map<string, Map<string, AcceptedUpdate>>()
  // Set once the listener is on (it only starts runs after this function returns).
  let runs: ReceiptRuns | undefined

  const remember = (jobId: string, round: number, client: string, trainSeconds: number, masked: boolean): void => {
    const key = `${jobId}\n${round}`
    let updates = accepted.get(key)
    if (updates === undefined) {
      updates = new Map()
      accepted.set(key, updates)
      if (accepted.size > MAX_OPEN_ROUNDS) accepted.delete(accepted.keys().next().value as string)
    }
    if (updates.size >= MAX_UPDATES_PER_ROUND) return
    // The stored update's bytes; its deltas are dropped when the round commits, so they are read now.
    const bytes = c.coordinator.store.listUpdates(jobId, round).find((u) => u.clientId === client)?.bytes ?? 0
    updates.set(client, { trainSeconds, bytes, masked })
  }

  const roundClosed = async (jobId: string, round: number): Promise<void> => {
    const key = `${jobId}\n${round}`
    const updates = accepted.get(key)
    accepted.delete(key)
    if (updates === undefined) return
    // A differentially private job's rounds must not tell who was sampled: its ledger entries would (issue 15).
    if (c.coordinator.store.getJob(jobId)?.spec.privacy.dp !== undefined) return
    if (jobId.length > MAX_JOB_ID) return
    const counted = new Set(c.coordinator.store.contributors(jobId, round))
    for (const [client, update] of updates) {
      if (runs?.stopped !== false) return
      if (client === self || !(update.masked || counted.has(client))) continue
      const usage = { ...emptyUsage(), coreSeconds: Math.max(0, update.trainSeconds) }
      const receipt = create(ReceiptSchema, {
        jobId,
        taskId: `round-${round}`,
        kind: 'fl-update',
        worker: client,
        owner: self,
        coreSeconds: usage.coreSeconds,
        bytes: BigInt(Math.max(0, Math.round(update.bytes))),
        issuedAtMs: BigInt(c.now()),
        credit: priceAtAd(c.peers, client, usage),
      })
      const outcome = await issueReceipt(c, receipt)
      if (!outcome.ok) c.logger.warn({ job: jobId, round, client, reason: outcome.reason }, 'no receipt for an FL update')
      c.onIssued?.(receipt, outcome)
    }
  }

  const off = c.coordinator.onJobEvent((jobId, event) => {
    if (runs?.stopped !== false || event.round === undefined) return
    const round = event.round
    switch (event.type) {
      case 'update-accepted':
        remember(jobId, round, event.data.client, event.data.trainSeconds, event.data.session !== undefined)
        return
      case 'secure-round-aborted':
        // Its masked inputs are thrown away; the next attempt's count.
        accepted.delete(`${jobId}\n${round}`)
        return
      case 'round-closed':
        runs.track(roundClosed(jobId, round), (err) => c.logger.warn({ job: jobId, round, err: err.message }, 'issuing FL receipts failed'))
        return
      default:
        return
    }
  })

  runs = new ReceiptRuns(off)
  return runs
}

/**
 * The FL client's voucher for an 'fl-update' receipt: undefined when this node sent an update for the receipt's job
 * and round (task id `round-<n>`) to the receipt's owner, else why not.
 */
export function vouchFlUpdate(client: { sentUpdate(jobId: string, round: number): string | undefined } | undefined, receipt: Receipt): string | undefined {
  if (client === undefined) return 'this node is not an FL client'
  const m = /^round-([1-9]\d{0,8})$/.exec(receipt.taskId)
  if (m === null) return `task id ${JSON.stringify(receipt.taskId.slice(0, 40))} of an fl-update receipt; "round-<n>" expected`
  const round = Number(m[1])
  const coordinator = client.sentUpdate(receipt.jobId, round)
  if (coordinator === undefined) return `this node sent no update for round ${round} of job ${receipt.jobId}`
  if (coordinator !== receipt.owner) return `this node's update for round ${round} of job ${receipt.jobId} went to ${coordinator}, not ${receipt.owner}`
  return undefined
}
