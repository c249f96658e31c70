// Receipts for served sessions: the node that ran a completion through the mesh's span servers owns its session. When
// the completion ends, each server of its route (other than this node) is asked to sign a receipt for the session (the
// bytes this node sent it, its measured compute for the positions it holds, priced at its advertised prices); this
// node countersigns it, appends it to its ledger and delivers it to the server.
import { create } from '@bufbuild/protobuf'
import { MAX_JOB_ID, type Receipt, ReceiptSchema } from '@weft/protocol'
import type { EndedSession } from '../inference/inference-role.js'
import { emptyUsage } from './capacity.js'
import { type FlReceipts, type IssueOutcome, issueReceipt, priceAtAd, type ReceiptIssuerComponents, ReceiptRuns } from './fl-receipts.js'

export interface ServeReceiptsComponents extends ReceiptIssuerComponents {
  readonly inference: { onSessionEnd(listener: (session: EndedSession) => void): () => void }
  /** Called with each receipt's outcome (tests, metrics). */
  readonly onIssued?: (receipt: Receipt, outcome: IssueOutcome) => void
}

/** Resolves `settled` when the receipts being issued now are settled. */
export type ServeReceipts = FlReceipts

/** The receipts of one ended session, one per server of its route other than this node. */
export function sessionReceipts(session: EndedSession, owner: string, price: (peer: string, coreSeconds: number) => number, now: number): Receipt[] {
  if (session.model.length === 0 || session.model.length > MAX_JOB_ID || session.sessionId.length === 0 || session.sessionId.length > MAX_JOB_ID) return []
  // A server that ran several spans of the session gets one receipt, for all of them.
  const byPeer = new Map<string, { bytes: number; coreSeconds: number }>()
  for (const hop of session.hops) {
    if (hop.peer === owner) continue
    const sum = byPeer.get(hop.peer) ?? { bytes: 0, coreSeconds: 0 }
    sum.bytes += hop.bytes
    sum.coreSeconds += Number.isFinite(hop.secondsPerToken) && hop.secondsPerToken > 0 ? hop.secondsPerToken * session.positions : 0
    byPeer.set(hop.peer, sum)
  }
  return [...byPeer].map(([peer, sum]) =>
    create(ReceiptSchema, {
      jobId: session.model,
      taskId: session.sessionId,
      kind: 'serve-session',
      worker: peer,
      owner,
      coreSeconds: sum.coreSeconds,
      bytes: BigInt(Math.max(0, Math.round(sum.bytes))),
      issuedAtMs: BigInt(now),
      credit: price(peer, sum.coreSeconds),
    }),
  )
}

/** Issues receipts for the sessions of the completions this node runs. */
export function startServeReceipts(c: ServeReceiptsComponents): ServeReceipts {
  const self = c.mesh.peerId
  let runs: ReceiptRuns | undefined
  const price = (peer: string, coreSeconds: number): number => priceAtAd(c.peers, peer, { ...emptyUsage(), coreSeconds })

  const issue = async (session: EndedSession): Promise<void> => {
    for (const receipt of sessionReceipts(session, self, price, c.now())) {
      if (runs?.stopped !== false) return
      const outcome = await issueReceipt(c, receipt)
      if (!outcome.ok) c.logger.warn({ model: session.model, session: session.sessionId, server: receipt.worker, reason: outcome.reason }, 'no receipt for a served session')
      c.onIssued?.(receipt, outcome)
    }
  }

  const off = c.inference.onSessionEnd((session) => {
    if (runs?.stopped !== false || session.positions === 0) return
    runs.track(issue(session), (err) => c.logger.warn({ session: session.sessionId, err: err.message }, 'issuing session receipts failed'))
  })

  runs = new ReceiptRuns(off)
  return runs
}

/**
 * The span server's voucher for a 'serve-session' receipt: undefined when this node served session `taskId` of model
 * `jobId` for the receipt's owner, else why not.
 */
export function vouchServeSession(
  inference: { servedSession(caller: string, sessionId: string): { readonly model: string; readonly positions: number } | undefined } | undefined,
  receipt: Receipt,
): string | undefined {
  if (inference === undefined) return 'this node serves no inference'
  const served = inference.servedSession(receipt.owner, receipt.taskId)
  if (served === undefined) return `this node served no session ${receipt.taskId.slice(0, MAX_JOB_ID)} for ${receipt.owner}`
  if (served.model !== receipt.jobId) return `session ${receipt.taskId} ran model ${served.model} here, not ${receipt.jobId.slice(0, MAX_JOB_ID)}`
  return undefined
}
