// The ledger on the mesh: this node's signed head gossiped on `weft/ledger/1` after each append (and now and then),
// the heads of others kept, its entries served on RPC `ledger/get`, and any node's chain fetched and verified.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { type ChainVerdict, type Credit, creditByWorker, type Ledger, type Signer, signHead, verifyChain, verifyHead, verifyReceipt } from '@weft/jobs'
import type { MeshNode } from '@weft/mesh/node'
import {
  LEDGER_GET,
  LEDGER_TOPIC,
  type LedgerEntry,
  LedgerHeadSchema,
  MAX_LEDGER_ENTRIES_PER_CALL,
  MAX_LEDGER_HEAD_BYTES,
  type Receipt,
  ReceiptSchema,
  SignedLedgerHeadSchema,
  SignedReceiptSchema,
  toHex,
} from '@weft/protocol'
import type { Logger } from 'pino'

/** A head this node heard, as verified. */
export interface HeardHead {
  readonly holder: string
  readonly seq: number
  readonly head: string
  readonly issuedAt: number
}

/** The outcome of `verify`: the chain's verdict and, when whole, its credits. */
export interface LedgerCheck {
  readonly holder: string
  readonly verdict: ChainVerdict
  readonly entries: number
  /** The holder's gossiped head, when heard, and whether the fetched chain ends there. */
  readonly gossipedHead: HeardHead | undefined
  readonly matchesGossipedHead: boolean | undefined
  readonly credit: Credit[]
}

export interface LedgerService {
  /** This node's peer id: the holder of its ledger. */
  readonly self: string
  /** This node's entries, from `fromSeq` (1 is the first). */
  entries(fromSeq: number, limit: number): LedgerEntry[]
  head(): { seq: number; hash: string }
  heads(): HeardHead[]
  /** Fetches `holder`'s whole chain (this node's own when it is this node) and verifies it. */
  verify(holder: string, maxEntries?: number): Promise<LedgerCheck>
  /** Decoded receipts of this node's chain (only verified receipts are ever appended). */
  receipts(): Receipt[]
  /** Gossips the head now (after an append). */
  announce(): Promise<void>
  stop(): Promise<void>
}

const MAX_HEARD = 10_000

export async function startLedgerService(c: { mesh: MeshNode; ledger: Ledger; signer: Signer; logger: Logger; now: () => number }): Promise<LedgerService> {
  const heard = new Map<string, HeardHead>()
  const topic = c.mesh.pubsub.topic(LEDGER_TOPIC, SignedLedgerHeadSchema, {
    validate: async (message) => {
      const bytes = toBinary(SignedLedgerHeadSchema, message)
      if (bytes.length > MAX_LEDGER_HEAD_BYTES) return { ok: false, reason: 'ledger head too large', penalize: true }
      const verdict = await verifyHead(bytes)
      return verdict.ok ? { ok: true } : { ok: false, reason: verdict.reason, penalize: true }
    },
  })
  const unsubscribe = topic.subscribe((message) => {
    void (async () => {
      const verdict = await verifyHead(toBinary(SignedLedgerHeadSchema, message))
      if (!verdict.ok) return
      const h = verdict.head
      const previous = heard.get(h.holder)
      if (previous !== undefined && previous.seq > Number(h.seq)) return
      if (previous === undefined && heard.size >= MAX_HEARD) return
      heard.set(h.holder, { holder: h.holder, seq: Number(h.seq), head: toHex(h.head), issuedAt: Number(h.issuedAtMs) })
    })()
  })

  const entries = (fromSeq: number, limit: number): LedgerEntry[] => c.ledger.entries(BigInt(Math.max(1, fromSeq)), Math.min(Math.max(1, limit), MAX_LEDGER_ENTRIES_PER_CALL))
  const signedHead = async (): Promise<Uint8Array> => {
    const h = c.ledger.head()
    return signHead(create(LedgerHeadSchema, { holder: c.signer.peerId, seq: h.seq, head: h.hash, issuedAtMs: BigInt(c.now()) }), c.signer)
  }

  await c.mesh.rpc.handle(LEDGER_GET, async (request) => ({
    entries: entries(Number(request.fromSeq), request.limit === 0 ? MAX_LEDGER_ENTRIES_PER_CALL : request.limit),
    head: fromBinary(SignedLedgerHeadSchema, await signedHead()),
  }))

  const announce = async (): Promise<void> => {
    try {
      await topic.publish(fromBinary(SignedLedgerHeadSchema, await signedHead()))
    } catch (err) {
      c.logger.debug({ err: (err as Error).message }, 'gossiping the ledger head failed')
    }
  }
  const timer = setInterval(() => void announce(), 30_000)
  timer.unref()

  return {
    self: c.signer.peerId,
    entries,
    head: () => {
      const h = c.ledger.head()
      return { seq: Number(h.seq), hash: toHex(h.hash) }
    },
    heads: () => [...heard.values()],
    async verify(holder, maxEntries = 100_000) {
      const chain: LedgerEntry[] = []
      let expected: { seq: bigint; hash: Uint8Array } | undefined
      if (holder === c.signer.peerId) {
        for (let from = 1; chain.length < maxEntries; ) {
          const page = entries(from, MAX_LEDGER_ENTRIES_PER_CALL)
          chain.push(...page)
          if (page.length < MAX_LEDGER_ENTRIES_PER_CALL) break
          from += page.length
        }
        expected = c.ledger.head()
      } else {
        for (let from = 1; chain.length < maxEntries; ) {
          const answer = await c.mesh.rpc.call(holder, LEDGER_GET, { fromSeq: BigInt(from), limit: MAX_LEDGER_ENTRIES_PER_CALL }, { timeoutMs: 15_000 })
          chain.push(...answer.entries)
          if (answer.head !== undefined && expected === undefined) {
            const head = await verifyHead(toBinary(SignedLedgerHeadSchema, answer.head))
            if (head.ok && head.head.holder === holder) expected = { seq: head.head.seq, hash: head.head.head }
          }
          if (answer.entries.length < MAX_LEDGER_ENTRIES_PER_CALL) break
          from += answer.entries.length
        }
      }
      const verdict = await verifyChain(chain, expected)
      const gossiped = heard.get(holder)
      const receipts: Receipt[] = []
      if (verdict.ok) {
        for (const e of chain) {
          const r = await verifyReceipt(e.receipt)
          if (r.ok) receipts.push(r.receipt)
        }
      }
      const last = chain.at(-1)
      return {
        holder,
        verdict,
        entries: chain.length,
        gossipedHead: gossiped,
        matchesGossipedHead:
          gossiped === undefined ? undefined : chain.some((e) => Number(e.seq) === gossiped.seq && toHex(e.hash) === gossiped.head) || (gossiped.seq === 0 && last === undefined),
        credit: creditByWorker(receipts),
      }
    },
    receipts() {
      const out: Receipt[] = []
      for (let from = 1; ; ) {
        const page = entries(from, MAX_LEDGER_ENTRIES_PER_CALL)
        for (const e of page) {
          try {
            out.push(decodeReceipt(e.receipt))
          } catch {
            // Appended only after verification: unreachable.
          }
        }
        if (page.length < MAX_LEDGER_ENTRIES_PER_CALL) return out
        from += page.length
      }
    },
    announce,
    async stop() {
      clearInterval(timer)
      unsubscribe()
      await c.mesh.rpc.unhandle(LEDGER_GET).catch(() => undefined)
    },
  }
}

function decodeReceipt(signedReceipt: Uint8Array): Receipt {
  return fromBinary(ReceiptSchema, fromBinary(SignedReceiptSchema, signedReceipt).receipt)
}

