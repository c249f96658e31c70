// The contribution ledger: receipts signed by the worker and countersigned by the job's owner, kept in an append-only
// hash chain whose head its holder signs; verification of receipts, chains and heads; credit per worker.

import type { DescMessage, MessageShape } from '@bufbuild/protobuf'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import {
  type LedgerEntry,
  LedgerEntrySchema,
  type LedgerHead,
  LedgerHeadSchema,
  MAX_JOB_ID,
  MAX_LEDGER_HEAD_BYTES,
  MAX_RECEIPT_BYTES,
  type Receipt,
  ReceiptSchema,
  type SignedLedgerHead,
  SignedLedgerHeadSchema,
  SignedReceiptSchema,
} from '@weft/protocol'

/** Domain separation: a signature over one kind of message can never be replayed as a signature over another. */
const RECEIPT_PREFIX = new TextEncoder().encode('weft-receipt/v1')
const COUNTERSIGN_PREFIX = new TextEncoder().encode('weft-receipt-countersign/v1')
const LEDGER_PREFIX = new TextEncoder().encode('weft-ledger/v1')
const HEAD_PREFIX = new TextEncoder().encode('weft-ledger-head/v1')
/** The kinds of work a receipt may be for. */
const RECEIPT_KINDS: ReadonlySet<string> = new Set(['batch-task', 'fl-update', 'serve-session', 'swarm-step'])
/** Longest result CID a receipt may carry. */
const MAX_RESULT_CID = 128
const HASH_BYTES = 32
const MAX_UINT64 = (1n << 64n) - 1n

/** The hash before the first entry: 32 zero bytes. */
export const GENESIS: Uint8Array = new Uint8Array(HASH_BYTES)

/** Signs with a node's key; its peer id is that key's. */
export interface Signer {
  readonly peerId: string
  sign(bytes: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** A Signer for a libp2p private key (its peer id derived from the key). */
export function signerFromKey(key: PrivateKey): Signer {
  return Object.freeze({ peerId: peerIdFromPrivateKey(key).toString(), sign: (bytes: Uint8Array) => key.sign(bytes) })
}

/** A ledger refused a receipt or an entry; `message` says why. */
export class LedgerError extends Error {
  override name = 'LedgerError'
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The encoded Receipt, the bytes both signatures cover. */
export function encodeReceipt(receipt: Receipt): Uint8Array {
  return toBinary(ReceiptSchema, receipt)
}

/**
 * The worker's signature over a receipt: over "weft-receipt/v1" || receipt.
 * @throws Error when receipt.worker is not the signer's peer id (a worker signs only for itself)
 */
export async function workerSign(receipt: Receipt, worker: Signer): Promise<Uint8Array> {
  if (receipt.worker !== worker.peerId) throw new Error(`workerSign: receipt is for worker ${receipt.worker}, signer is ${worker.peerId}`)
  return await worker.sign(concat(RECEIPT_PREFIX, encodeReceipt(receipt)))
}

/**
 * The owner's countersignature, and the signed receipt: the owner signs "weft-receipt-countersign/v1" || receipt ||
 * workerSignature. The worker's signature is not checked here; verify the result with verifyReceipt.
 * @returns the encoded SignedReceipt
 * @throws Error when receipt.owner is not the signer's peer id
 */
export async function countersign(receipt: Receipt, workerSignature: Uint8Array, owner: Signer): Promise<Uint8Array> {
  if (receipt.owner !== owner.peerId) throw new Error(`countersign: receipt is owned by ${receipt.owner}, signer is ${owner.peerId}`)
  const receiptBytes = encodeReceipt(receipt)
  const ownerSignature = await owner.sign(concat(COUNTERSIGN_PREFIX, receiptBytes, workerSignature))
  return toBinary(SignedReceiptSchema, create(SignedReceiptSchema, { receipt: receiptBytes, workerSignature, ownerSignature }))
}

/** A receipt verified, or why not. */
export type ReceiptVerdict = { readonly ok: true; readonly receipt: Receipt } | { readonly ok: false; readonly reason: string }

/**
 * Decodes bytes that must be the canonical encoding of a message: unknown fields and any other encoding of the same
 * message are refused, so the same message always has the same bytes (and a copy cannot pass as new by re-wrapping).
 */
function decodeCanonical<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> | string {
  let message: MessageShape<Desc>
  try {
    message = fromBinary(schema, bytes, { readUnknownFields: false })
  } catch (err) {
    return `malformed ${schema.name}: ${(err as Error).message}`
  }
  if (!bytesEqual(toBinary(schema, message), bytes)) return `${schema.name} is not canonically encoded`
  return message
}

function publicKeyOf(peerId: string, role: string): PublicKey | string {
  try {
    const key = peerIdFromString(peerId).publicKey
    return key ?? `${role} ${peerId} does not embed a public key`
  } catch (err) {
    return `${role} ${JSON.stringify(peerId.slice(0, 80))} is not a peer id: ${(err as Error).message}`
  }
}

/**
 * Verifies an encoded SignedReceipt: its size (≤ MAX_RECEIPT_BYTES), canonical decoding, the bounds of its fields
 * (ids ≤ MAX_JOB_ID, a known kind, finite non-negative units and credit), the worker's signature by the key in the
 * worker's peer id and the owner's countersignature by the key in the owner's peer id.
 * @param signedReceipt - the encoded SignedReceipt as received
 */
export async function verifyReceipt(signedReceipt: Uint8Array): Promise<ReceiptVerdict> {
  if (signedReceipt.length > MAX_RECEIPT_BYTES) {
    return { ok: false, reason: `signed receipt of ${signedReceipt.length} bytes; at most ${MAX_RECEIPT_BYTES}` }
  }
  const signed = decodeCanonical(SignedReceiptSchema, signedReceipt)
  if (typeof signed === 'string') return { ok: false, reason: signed }
  const receipt = decodeCanonical(ReceiptSchema, signed.receipt)
  if (typeof receipt === 'string') return { ok: false, reason: receipt }
  const bad = checkFields(receipt)
  if (bad !== undefined) return { ok: false, reason: bad }
  const workerKey = publicKeyOf(receipt.worker, 'worker')
  if (typeof workerKey === 'string') return { ok: false, reason: workerKey }
  const ownerKey = publicKeyOf(receipt.owner, 'owner')
  if (typeof ownerKey === 'string') return { ok: false, reason: ownerKey }
  if (!(await verifySignature(workerKey, concat(RECEIPT_PREFIX, signed.receipt), signed.workerSignature))) {
    return { ok: false, reason: `worker signature does not match ${receipt.worker}` }
  }
  const countersigned = concat(COUNTERSIGN_PREFIX, signed.receipt, signed.workerSignature)
  if (!(await verifySignature(ownerKey, countersigned, signed.ownerSignature))) {
    return { ok: false, reason: `owner signature does not match ${receipt.owner}` }
  }
  return { ok: true, receipt }
}

async function verifySignature(key: PublicKey, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    return await key.verify(data, signature)
  } catch {
    return false
  }
}

function checkFields(r: Receipt): string | undefined {
  if (r.jobId.length === 0 || r.jobId.length > MAX_JOB_ID) return `jobId of ${r.jobId.length} characters; 1 to ${MAX_JOB_ID} expected`
  if (r.taskId.length > MAX_JOB_ID) return `taskId of ${r.taskId.length} characters; at most ${MAX_JOB_ID}`
  if (!RECEIPT_KINDS.has(r.kind)) return `kind ${JSON.stringify(r.kind.slice(0, 40))}; expected one of ${[...RECEIPT_KINDS].join(', ')}`
  if (r.resultCid.length > MAX_RESULT_CID) return `resultCid of ${r.resultCid.length} characters; at most ${MAX_RESULT_CID}`
  const units = { coreSeconds: r.coreSeconds, memoryByteSeconds: r.memoryByteSeconds, acceleratorSeconds: r.acceleratorSeconds, credit: r.credit }
  for (const [name, value] of Object.entries(units)) {
    if (!Number.isFinite(value) || value < 0) return `${name} is ${value}; a finite number ≥ 0 expected`
  }
  return undefined
}

/** The key a ledger deduplicates receipts by: hex sha-256 of the encoded SignedReceipt (canonical, see verifyReceipt). */
export function receiptHash(signedReceipt: Uint8Array): string {
  return bytesToHex(sha256(signedReceipt))
}

/**
 * The hash of a ledger entry: sha-256("weft-ledger/v1" || seq (8 bytes, big-endian) || prev || receipt).
 * @throws RangeError when seq is outside [0, 2^64) or prev is not 32 bytes
 */
export function entryHash(seq: bigint, prev: Uint8Array, receipt: Uint8Array): Uint8Array {
  if (seq < 0n || seq > MAX_UINT64) throw new RangeError(`entryHash: seq must be in [0, 2^64), got ${seq}`)
  if (prev.length !== HASH_BYTES) throw new RangeError(`entryHash: prev must be ${HASH_BYTES} bytes, got ${prev.length}`)
  const seqBytes = new Uint8Array(8)
  new DataView(seqBytes.buffer).setBigUint64(0, seq, false)
  return sha256(concat(LEDGER_PREFIX, seqBytes, prev, receipt))
}

/** Where a ledger keeps its entries (in memory, SQLite, IndexedDB…). Entries are appended in order, never changed. */
export interface LedgerStore {
  /** The last entry's seq and hash (0 and GENESIS when empty). */
  head(): { readonly seq: bigint; readonly hash: Uint8Array }
  /** Appends the entry after the head; the Ledger has linked and checked it. */
  append(entry: LedgerEntry): void
  /** At most `limit` entries from seq `fromSeq` on, in order. */
  range(fromSeq: bigint, limit: number): LedgerEntry[]
  /** Whether an entry holds the receipt of this receiptHash; without it, the Ledger indexes the store itself. */
  has?(receiptHash: string): boolean
}

/** A LedgerStore in memory. */
export class MemoryLedgerStore implements LedgerStore {
  readonly #entries: LedgerEntry[] = []
  readonly #receipts = new Set<string>()

  head(): { readonly seq: bigint; readonly hash: Uint8Array } {
    const last = this.#entries.at(-1)
    return last === undefined ? { seq: 0n, hash: GENESIS } : { seq: last.seq, hash: last.hash }
  }

  /** @throws LedgerError when the entry does not follow the head (wrong seq or prev) */
  append(entry: LedgerEntry): void {
    const head = this.head()
    if (entry.seq !== head.seq + 1n || !bytesEqual(entry.prev, head.hash)) {
      throw new LedgerError(`entry ${entry.seq} does not follow the head (seq ${head.seq})`)
    }
    this.#entries.push(entry)
    this.#receipts.add(receiptHash(entry.receipt))
  }

  range(fromSeq: bigint, limit: number): LedgerEntry[] {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`range: limit must be an integer ≥ 0, got ${limit}`)
    const from = fromSeq < 1n ? 0 : Number(fromSeq - 1n)
    return this.#entries.slice(from, from + limit)
  }

  has(hash: string): boolean {
    return this.#receipts.has(hash)
  }
}

/** Pages the index of a store without `has` is built with. */
const INDEX_PAGE = 1024

/** A node's ledger: verified receipts, each linked to the one before. */
export class Ledger {
  readonly #store: LedgerStore
  /** The receipts in the store, where the store cannot answer `has` itself. */
  readonly #index: Set<string> | undefined

  /** @param store - where the entries live; one without `has` is read through once, to index its receipts */
  constructor(store: LedgerStore) {
    this.#store = store
    if (store.has === undefined) {
      this.#index = new Set()
      for (let from = 1n; ; ) {
        const page = store.range(from, INDEX_PAGE)
        for (const e of page) this.#index.add(receiptHash(e.receipt))
        if (page.length < INDEX_PAGE) break
        from += BigInt(page.length)
      }
    }
  }

  /**
   * Verifies a signed receipt and appends it after the head.
   * @param signedReceipt - an encoded SignedReceipt
   * @returns the new entry
   * @throws LedgerError when the receipt does not verify (its reason in the message) or is in the chain already
   */
  async append(signedReceipt: Uint8Array): Promise<LedgerEntry> {
    const verdict = await verifyReceipt(signedReceipt)
    if (!verdict.ok) throw new LedgerError(`receipt refused: ${verdict.reason}`)
    // From here on nothing awaits: the duplicate check and the link to the head see the same head.
    const hash = receiptHash(signedReceipt)
    const known = this.#index === undefined ? this.#store.has!(hash) : this.#index.has(hash)
    if (known) throw new LedgerError(`receipt refused: already in the ledger (job ${verdict.receipt.jobId}, task ${verdict.receipt.taskId}, worker ${verdict.receipt.worker})`)
    const head = this.#store.head()
    const seq = head.seq + 1n
    const receipt = signedReceipt.slice()
    const entry = create(LedgerEntrySchema, { seq, prev: head.hash, receipt, hash: entryHash(seq, head.hash, receipt) })
    this.#store.append(entry)
    this.#index?.add(hash)
    return entry
  }

  /** The last entry's seq and hash (0 and GENESIS when empty). */
  head(): { seq: bigint; hash: Uint8Array } {
    const { seq, hash } = this.#store.head()
    return { seq, hash }
  }

  /** At most `limit` entries from `fromSeq` (1 is the first). */
  entries(fromSeq: bigint, limit: number): LedgerEntry[] {
    return this.#store.range(fromSeq, limit)
  }
}

/** A chain verified (its length and last hash), or the first entry found wrong. */
export type ChainVerdict =
  | { readonly ok: true; readonly length: number; readonly head: Uint8Array }
  | { readonly ok: false; readonly seq: number; readonly reason: string }

/**
 * Verifies a whole ledger, from its first entry: seqs 1..n in order without gaps, each prev the hash of the entry
 * before (GENESIS for the first), each hash recomputed, each receipt verified, no receipt twice; and, when given, that
 * the chain ends at the expected head.
 * @param entries - the ledger's entries from seq 1 on, in order
 * @param expectedHead - the head its holder signed (see verifyHead)
 * @returns ok with the length and last hash, or the seq (position, 1 is the first) of the first entry found wrong
 */
export async function verifyChain(entries: readonly LedgerEntry[], expectedHead?: { seq: bigint; hash: Uint8Array }): Promise<ChainVerdict> {
  let prev = GENESIS
  const seen = new Map<string, number>()
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    const at = i + 1
    const fail = (reason: string): ChainVerdict => ({ ok: false, seq: at, reason })
    if (e.seq !== BigInt(at)) return fail(`entry ${at} has seq ${e.seq}`)
    if (!bytesEqual(e.prev, prev)) return fail(`prev is not the hash of entry ${at - 1}`)
    if (e.hash.length !== HASH_BYTES || !bytesEqual(e.hash, entryHash(e.seq, e.prev, e.receipt))) return fail('hash does not match the entry')
    const verdict = await verifyReceipt(e.receipt)
    if (!verdict.ok) return fail(`receipt: ${verdict.reason}`)
    const hash = receiptHash(e.receipt)
    const first = seen.get(hash)
    if (first !== undefined) return fail(`receipt already in entry ${first}`)
    seen.set(hash, at)
    prev = e.hash
  }
  const n = entries.length
  if (expectedHead !== undefined) {
    if (expectedHead.seq !== BigInt(n)) {
      const firstOff = Math.min(n, Number(expectedHead.seq)) + 1
      return { ok: false, seq: firstOff, reason: `chain has ${n} entries; the head says ${expectedHead.seq}` }
    }
    if (!bytesEqual(expectedHead.hash, prev)) return { ok: false, seq: n, reason: 'last hash is not the head' }
  }
  return { ok: true, length: n, head: prev }
}

/**
 * Signs a ledger head: over "weft-ledger-head/v1" || head.
 * @returns the encoded SignedLedgerHead
 * @throws Error when head.holder is not the signer's peer id
 */
export async function signHead(head: LedgerHead, holder: Signer): Promise<Uint8Array> {
  if (head.holder !== holder.peerId) throw new Error(`signHead: head is held by ${head.holder}, signer is ${holder.peerId}`)
  const headBytes = toBinary(LedgerHeadSchema, head)
  const signature = await holder.sign(concat(HEAD_PREFIX, headBytes))
  return toBinary(SignedLedgerHeadSchema, create(SignedLedgerHeadSchema, { head: headBytes, signature }))
}

/**
 * Verifies an encoded SignedLedgerHead: its size (≤ MAX_LEDGER_HEAD_BYTES), canonical decoding, a 32-byte head (GENESIS
 * at seq 0) and the signature by the key in the holder's peer id.
 */
export async function verifyHead(bytes: Uint8Array): Promise<{ ok: true; head: LedgerHead } | { ok: false; reason: string }> {
  if (bytes.length > MAX_LEDGER_HEAD_BYTES) return { ok: false, reason: `signed head of ${bytes.length} bytes; at most ${MAX_LEDGER_HEAD_BYTES}` }
  const signed: SignedLedgerHead | string = decodeCanonical(SignedLedgerHeadSchema, bytes)
  if (typeof signed === 'string') return { ok: false, reason: signed }
  const head = decodeCanonical(LedgerHeadSchema, signed.head)
  if (typeof head === 'string') return { ok: false, reason: head }
  if (head.head.length !== HASH_BYTES) return { ok: false, reason: `head hash of ${head.head.length} bytes; ${HASH_BYTES} expected` }
  if (head.seq === 0n && !bytesEqual(head.head, GENESIS)) return { ok: false, reason: 'an empty ledger (seq 0) must have the zero head' }
  const key = publicKeyOf(head.holder, 'holder')
  if (typeof key === 'string') return { ok: false, reason: key }
  if (!(await verifySignature(key, concat(HEAD_PREFIX, signed.head), signed.signature))) {
    return { ok: false, reason: `signature does not match holder ${head.holder}` }
  }
  return { ok: true, head }
}

/** One worker's contribution, summed over its receipts. */
export interface Credit {
  readonly peerId: string
  readonly credit: number
  readonly receipts: number
  readonly coreSeconds: number
  readonly acceleratorSeconds: number
  readonly bytes: number
}

/**
 * Sums receipts per worker, most credit first (ties by peer id). Pass only verified receipts (verifyReceipt,
 * verifyChain, or a Ledger's entries): this trusts every field it is given.
 */
export function creditByWorker(receipts: readonly Receipt[]): Credit[] {
  const sums = new Map<string, { peerId: string; credit: number; receipts: number; coreSeconds: number; acceleratorSeconds: number; bytes: number }>()
  for (const r of receipts) {
    let s = sums.get(r.worker)
    if (s === undefined) {
      s = { peerId: r.worker, credit: 0, receipts: 0, coreSeconds: 0, acceleratorSeconds: 0, bytes: 0 }
      sums.set(r.worker, s)
    }
    s.credit += r.credit
    s.receipts += 1
    s.coreSeconds += r.coreSeconds
    s.acceleratorSeconds += r.acceleratorSeconds
    s.bytes += Number(r.bytes)
  }
  return [...sums.values()].sort((a, b) => b.credit - a.credit || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
}
