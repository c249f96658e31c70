// Receipts and the contribution ledger, attacked: forged and misattributed signatures, edited units, tampered chains,
// forged heads; with real Ed25519 keys.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  countersign,
  creditByWorker,
  encodeReceipt,
  entryHash,
  GENESIS,
  Ledger,
  type LedgerStore,
  MemoryLedgerStore,
  receiptHash,
  type Signer,
  signerFromKey,
  signHead,
  verifyChain,
  verifyHead,
  verifyReceipt,
  workerSign,
} from '@weft/jobs'
import {
  type LedgerEntry,
  LedgerEntrySchema,
  LedgerHeadSchema,
  MAX_RECEIPT_BYTES,
  type Receipt,
  ReceiptSchema,
  SignedLedgerHeadSchema,
  SignedReceiptSchema,
} from '@weft/protocol'
import { beforeAll, describe, expect, it } from 'vitest'

const signer = async (): Promise<Signer> => signerFromKey(await generateKeyPair('Ed25519'))

let owner: Signer
let worker: Signer
let other: Signer
let holder: Signer

beforeAll(async () => {
  ;[owner, worker, other, holder] = await Promise.all([signer(), signer(), signer(), signer()])
})

function receipt(fields: Partial<Receipt> = {}): Receipt {
  return create(ReceiptSchema, {
    jobId: 'job-1',
    taskId: 'task-0',
    kind: 'batch-task',
    worker: worker.peerId,
    owner: owner.peerId,
    resultCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
    coreSeconds: 12.5,
    memoryByteSeconds: 1e9,
    acceleratorSeconds: 0,
    bytes: 4096n,
    issuedAtMs: 1_700_000_000_000n,
    credit: 1.25,
    ...fields,
  })
}

/** A receipt signed by its worker and countersigned by its owner, as the protocol means it. */
async function signed(r: Receipt, w: Signer = worker, o: Signer = owner): Promise<Uint8Array> {
  return countersign(r, await workerSign(r, w), o)
}

/** A ledger of n receipts (tasks 0..n-1, alternating two workers where `workers` is given). */
async function ledgerOf(n: number, workers: Signer[] = [worker]): Promise<Ledger> {
  const ledger = new Ledger(new MemoryLedgerStore())
  for (let i = 0; i < n; i++) {
    const w = workers[i % workers.length]!
    await ledger.append(await signed(receipt({ taskId: `task-${i}`, worker: w.peerId, credit: i + 1 }), w))
  }
  return ledger
}

const cloneEntry = (e: LedgerEntry, fields: Partial<LedgerEntry> = {}): LedgerEntry => create(LedgerEntrySchema, { ...e, ...fields })

describe('receipts', () => {
  it('a receipt signed by its worker and countersigned by its owner verifies', async () => {
    const r = receipt()
    const verdict = await verifyReceipt(await signed(r))
    expect(verdict.ok).toBe(true)
    if (verdict.ok) expect(toBinary(ReceiptSchema, verdict.receipt)).toEqual(encodeReceipt(r))
  })

  it('refuses a forged worker signature', async () => {
    const r = receipt()
    // Someone else signs the receipt in the worker's name, and the owner countersigns it.
    const forged = await other.sign(new Uint8Array([...new TextEncoder().encode('weft-receipt/v1'), ...encodeReceipt(r)]))
    const verdict = await verifyReceipt(await countersign(r, forged, owner))
    expect(verdict).toEqual({ ok: false, reason: expect.stringContaining('worker signature') })
    // Garbage in place of a signature, too.
    expect((await verifyReceipt(await countersign(r, new Uint8Array(64), owner))).ok).toBe(false)
    expect((await verifyReceipt(await countersign(r, new Uint8Array(3), owner))).ok).toBe(false)
  })

  it('refuses a receipt countersigned by someone other than its owner', async () => {
    const r = receipt()
    await expect(countersign(r, await workerSign(r, worker), other)).rejects.toThrow(/owned by/)
    // Forge the countersignature by hand: the wrapper says nothing of who signed.
    const workerSignature = await workerSign(r, worker)
    const bytes = encodeReceipt(r)
    const ownerSignature = await other.sign(new Uint8Array([...new TextEncoder().encode('weft-receipt-countersign/v1'), ...bytes, ...workerSignature]))
    const forged = toBinary(SignedReceiptSchema, create(SignedReceiptSchema, { receipt: bytes, workerSignature, ownerSignature }))
    expect(await verifyReceipt(forged)).toEqual({ ok: false, reason: expect.stringContaining('owner signature') })
  })

  it('a worker cannot sign for another peer id', async () => {
    await expect(workerSign(receipt({ worker: other.peerId }), worker)).rejects.toThrow(/worker/)
    // Nor pass its signature off as the other's: the key in the peer id decides.
    const r = receipt({ worker: other.peerId })
    const sig = await worker.sign(new Uint8Array([...new TextEncoder().encode('weft-receipt/v1'), ...encodeReceipt(r)]))
    expect((await verifyReceipt(await countersign(r, sig, owner))).ok).toBe(false)
  })

  it('refuses units edited after signing', async () => {
    const good = await signed(receipt())
    const outer = fromBinary(SignedReceiptSchema, good)
    for (const edit of [{ coreSeconds: 1250 }, { credit: 100 }, { bytes: 1n << 40n }, { worker: other.peerId }]) {
      const inner = { ...fromBinary(ReceiptSchema, outer.receipt), ...edit }
      const tampered = toBinary(SignedReceiptSchema, create(SignedReceiptSchema, { ...outer, receipt: toBinary(ReceiptSchema, create(ReceiptSchema, inner)) }))
      expect((await verifyReceipt(tampered)).ok).toBe(false)
    }
  })

  it('refuses negative or non-finite units even when honestly signed', async () => {
    for (const edit of [{ coreSeconds: -1 }, { credit: Number.POSITIVE_INFINITY }, { acceleratorSeconds: Number.NaN }, { memoryByteSeconds: -0.5 }]) {
      const verdict = await verifyReceipt(await signed(receipt(edit)))
      expect(verdict).toEqual({ ok: false, reason: expect.stringMatching(/finite number ≥ 0/) })
    }
  })

  it('refuses bad bounds, unknown kinds, junk and oversized input', async () => {
    expect((await verifyReceipt(await signed(receipt({ jobId: 'j'.repeat(129) })))).ok).toBe(false)
    expect((await verifyReceipt(await signed(receipt({ kind: 'mining' })))).ok).toBe(false)
    expect((await verifyReceipt(new Uint8Array([0xff, 0xff, 0xff]))).ok).toBe(false)
    expect(await verifyReceipt(new Uint8Array(MAX_RECEIPT_BYTES + 1))).toEqual({ ok: false, reason: expect.stringContaining('bytes') })
    // An owner that is not a peer id.
    const r = receipt({ owner: 'not-a-peer-id' })
    const bytes = encodeReceipt(r)
    const junkOwner = toBinary(SignedReceiptSchema, create(SignedReceiptSchema, { receipt: bytes, workerSignature: await workerSign(r, worker), ownerSignature: new Uint8Array(64) }))
    expect(await verifyReceipt(junkOwner)).toEqual({ ok: false, reason: expect.stringContaining('not a peer id') })
  })

  it('refuses a re-wrapped copy (unknown fields appended), so a replay cannot pass as new bytes', async () => {
    const good = await signed(receipt())
    const rewrapped = new Uint8Array([...good, 0x78, 0x01]) // field 15, varint 1
    expect((await verifyReceipt(rewrapped)).ok).toBe(false)
  })
})

describe('ledger', () => {
  it('appends verified receipts and links each to the one before', async () => {
    const ledger = await ledgerOf(5)
    const entries = ledger.entries(1n, 100)
    expect(entries.map((e) => e.seq)).toEqual([1n, 2n, 3n, 4n, 5n])
    expect(entries[0]!.prev).toEqual(GENESIS)
    for (let i = 1; i < 5; i++) expect(entries[i]!.prev).toEqual(entries[i - 1]!.hash)
    expect(ledger.head()).toEqual({ seq: 5n, hash: entries[4]!.hash })
    expect(await verifyChain(entries, ledger.head())).toEqual({ ok: true, length: 5, head: entries[4]!.hash })
    expect(ledger.entries(4n, 10).map((e) => e.seq)).toEqual([4n, 5n])
    expect(await verifyChain([])).toEqual({ ok: true, length: 0, head: GENESIS })
  })

  it('hashes entries as the protocol says', () => {
    const receiptBytes = new Uint8Array([1, 2, 3])
    const a = entryHash(1n, GENESIS, receiptBytes)
    expect(a.length).toBe(32)
    expect(entryHash(2n, GENESIS, receiptBytes)).not.toEqual(a)
    expect(() => entryHash(-1n, GENESIS, receiptBytes)).toThrow(RangeError)
    expect(() => entryHash(1n, new Uint8Array(31), receiptBytes)).toThrow(RangeError)
  })

  it('refuses a receipt that does not verify, and keeps what it has', async () => {
    const ledger = await ledgerOf(2)
    const r = receipt({ taskId: 'x' })
    const forged = await countersign(r, new Uint8Array(64), owner)
    await expect(ledger.append(forged)).rejects.toMatchObject({ name: 'LedgerError', message: expect.stringContaining('worker signature') })
    expect(ledger.head().seq).toBe(2n)
  })

  it('refuses a receipt already in the chain, also when appended twice at once', async () => {
    const ledger = await ledgerOf(2)
    const again = ledger.entries(1n, 1)[0]!.receipt
    await expect(ledger.append(again)).rejects.toMatchObject({ name: 'LedgerError', message: expect.stringContaining('already') })
    const fresh = await signed(receipt({ taskId: 'new' }))
    const outcomes = await Promise.allSettled([ledger.append(fresh), ledger.append(fresh)])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected'])
    expect(ledger.head().seq).toBe(3n)
    expect((await verifyChain(ledger.entries(1n, 10), ledger.head())).ok).toBe(true)
  })

  it('indexes a store that cannot answer `has` itself', async () => {
    const inner = new MemoryLedgerStore()
    const plain: LedgerStore = { head: () => inner.head(), append: (e) => inner.append(e), range: (f, l) => inner.range(f, l) }
    const first = new Ledger(plain)
    const bytes = await signed(receipt())
    await first.append(bytes)
    // A ledger reopened on the same store knows the receipt.
    await expect(new Ledger(plain).append(bytes)).rejects.toMatchObject({ name: 'LedgerError' })
    expect(inner.has(receiptHash(bytes))).toBe(true)
  })
})

describe('verifyChain, attacked', () => {
  let entries: LedgerEntry[]
  beforeAll(async () => {
    entries = (await ledgerOf(6, [worker, other])).entries(1n, 100)
  })

  it('detects any byte of any entry’s receipt tampered with, at that entry', async () => {
    for (let k = 0; k < entries.length; k++) {
      for (let i = 0; i < entries[k]!.receipt.length; i++) {
        const receiptBytes = entries[k]!.receipt.slice()
        receiptBytes[i]! ^= 0x01
        const tampered = entries.map((e, j) => (j === k ? cloneEntry(e, { receipt: receiptBytes }) : e))
        expect(await verifyChain(tampered)).toMatchObject({ ok: false, seq: k + 1 })
      }
    }
  })

  it('detects a receipt tampered with and the entry rehashed: the next entry no longer links, or the receipt fails', async () => {
    const k = 2
    const receiptBytes = entries[k]!.receipt.slice()
    receiptBytes[receiptBytes.length - 1]! ^= 0x01
    const rehashed = cloneEntry(entries[k]!, { receipt: receiptBytes, hash: entryHash(entries[k]!.seq, entries[k]!.prev, receiptBytes) })
    const chain = entries.map((e, j) => (j === k ? rehashed : e))
    expect(await verifyChain(chain)).toMatchObject({ ok: false, seq: k + 1, reason: expect.stringContaining('receipt') })
  })

  it('detects two entries swapped', async () => {
    const swapped = [...entries]
    ;[swapped[2], swapped[4]] = [swapped[4]!, swapped[2]!]
    expect(await verifyChain(swapped)).toMatchObject({ ok: false, seq: 3 })
    // Swapped and renumbered: the links break instead.
    const renumbered = swapped.map((e, i) => cloneEntry(e, { seq: BigInt(i + 1) }))
    expect(await verifyChain(renumbered)).toMatchObject({ ok: false, seq: 3 })
  })

  it('detects an entry dropped', async () => {
    expect(await verifyChain([...entries.slice(0, 3), ...entries.slice(4)])).toMatchObject({ ok: false, seq: 4 })
    expect(await verifyChain(entries.slice(1))).toMatchObject({ ok: false, seq: 1 })
    // Dropped from the end: only the signed head tells.
    const head = { seq: entries.at(-1)!.seq, hash: entries.at(-1)!.hash }
    expect(await verifyChain(entries.slice(0, -1), head)).toMatchObject({ ok: false, seq: entries.length })
    expect(await verifyChain(entries, head)).toMatchObject({ ok: true, length: entries.length })
    expect(await verifyChain(entries, { seq: head.seq, hash: GENESIS })).toMatchObject({ ok: false, seq: entries.length })
  })

  it('detects a changed prev or hash, at that entry', async () => {
    for (let k = 0; k < entries.length; k++) {
      const prev = entries[k]!.prev.slice()
      prev[5]! ^= 0x80
      expect(await verifyChain(entries.map((e, j) => (j === k ? cloneEntry(e, { prev }) : e)))).toMatchObject({ ok: false, seq: k + 1 })
      const hash = entries[k]!.hash.slice()
      hash[31]! ^= 0x01
      expect(await verifyChain(entries.map((e, j) => (j === k ? cloneEntry(e, { hash }) : e)))).toMatchObject({ ok: false, seq: k + 1 })
    }
  })

  it('detects a duplicate receipt appended with valid links', async () => {
    const last = entries.at(-1)!
    const dup = entries[1]!.receipt
    const seq = last.seq + 1n
    const extra = create(LedgerEntrySchema, { seq, prev: last.hash, receipt: dup, hash: entryHash(seq, last.hash, dup) })
    expect(await verifyChain([...entries, extra])).toMatchObject({ ok: false, seq: entries.length + 1, reason: expect.stringContaining('entry 2') })
  })

  it('detects a wrong seq number', async () => {
    expect(await verifyChain(entries.map((e, j) => (j === 3 ? cloneEntry(e, { seq: 40n }) : e)))).toMatchObject({ ok: false, seq: 4 })
  })
})

describe('ledger heads', () => {
  const head = (holderId: string, seq = 3n, hash: Uint8Array = new Uint8Array(32).fill(7)) =>
    create(LedgerHeadSchema, { holder: holderId, seq, head: hash, issuedAtMs: 1_700_000_000_000n })

  it('a head signed by its holder verifies', async () => {
    const h = head(holder.peerId)
    const verdict = await verifyHead(await signHead(h, holder))
    expect(verdict.ok).toBe(true)
    if (verdict.ok) expect(toBinary(LedgerHeadSchema, verdict.head)).toEqual(toBinary(LedgerHeadSchema, h))
  })

  it('refuses a head signed by a forger in the holder’s name', async () => {
    await expect(signHead(head(holder.peerId), other)).rejects.toThrow(/held by/)
    const headBytes = toBinary(LedgerHeadSchema, head(holder.peerId))
    const signature = await other.sign(new Uint8Array([...new TextEncoder().encode('weft-ledger-head/v1'), ...headBytes]))
    const forged = toBinary(SignedLedgerHeadSchema, create(SignedLedgerHeadSchema, { head: headBytes, signature }))
    expect(await verifyHead(forged)).toEqual({ ok: false, reason: expect.stringContaining('signature') })
    // A receipt signature cannot be replayed as a head signature (domain separation).
    const replay = toBinary(SignedLedgerHeadSchema, create(SignedLedgerHeadSchema, { head: headBytes, signature: await holder.sign(headBytes) }))
    expect((await verifyHead(replay)).ok).toBe(false)
  })

  it('refuses a bad head hash, a non-zero empty head and oversized input', async () => {
    expect((await verifyHead(await signHead(head(holder.peerId, 3n, new Uint8Array(31)), holder))).ok).toBe(false)
    expect((await verifyHead(await signHead(head(holder.peerId, 0n), holder))).ok).toBe(false)
    expect((await verifyHead(await signHead(head(holder.peerId, 0n, GENESIS), holder))).ok).toBe(true)
    expect((await verifyHead(new Uint8Array(2048))).ok).toBe(false)
  })

  it('a signed head checks a fetched chain end to end', async () => {
    const ledger = await ledgerOf(3)
    const { seq, hash } = ledger.head()
    const verdict = await verifyHead(await signHead(head(holder.peerId, seq, hash), holder))
    if (!verdict.ok) throw new Error(verdict.reason)
    expect(await verifyChain(ledger.entries(1n, 256), { seq: verdict.head.seq, hash: verdict.head.head })).toMatchObject({ ok: true, length: 3 })
  })
})

describe('creditByWorker', () => {
  it('sums per worker, most credit first', async () => {
    const receipts = [
      receipt({ worker: 'a', credit: 1, coreSeconds: 10, acceleratorSeconds: 1, bytes: 100n }),
      receipt({ worker: 'b', credit: 5, coreSeconds: 1, acceleratorSeconds: 0, bytes: 1n }),
      receipt({ worker: 'a', credit: 2.5, coreSeconds: 5, acceleratorSeconds: 2, bytes: 50n }),
    ]
    expect(creditByWorker(receipts)).toEqual([
      { peerId: 'b', credit: 5, receipts: 1, coreSeconds: 1, acceleratorSeconds: 0, bytes: 1 },
      { peerId: 'a', credit: 3.5, receipts: 2, coreSeconds: 15, acceleratorSeconds: 3, bytes: 150 },
    ])
    expect(creditByWorker([])).toEqual([])
  })

  it('sums a verified ledger', async () => {
    const ledger = await ledgerOf(4, [worker, other])
    const receipts = ledger.entries(1n, 10).map((e) => fromBinary(ReceiptSchema, fromBinary(SignedReceiptSchema, e.receipt).receipt))
    const credit = creditByWorker(receipts)
    // Credits 1..4, alternating: worker 1 + 3, other 2 + 4.
    expect(credit.map((c) => [c.peerId, c.credit, c.receipts])).toEqual([
      [other.peerId, 6, 2],
      [worker.peerId, 4, 2],
    ])
  })
})
