// The orchestration state of a node (`<dataDir>/jobs.db`): the jobs it owns (so a restarted owner resumes them), the
// announcements of others' jobs it heard (so it can take one over), the reputation of the workers it verified, and
// its ledger of countersigned receipts (append-only, hash-chained).
import { join } from 'node:path'
import { create } from '@bufbuild/protobuf'
import type { LedgerStore, ReputationRecord } from '@weft/jobs'
import { GENESIS } from '@weft/jobs'
import type { LedgerEntry } from '@weft/protocol'
import { LedgerEntrySchema } from '@weft/protocol'
import { openMigratedDatabase } from '../sqlite.js'

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE owned_jobs (id TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at INTEGER NOT NULL);
   CREATE TABLE known_jobs (id TEXT PRIMARY KEY, announcement BLOB NOT NULL, owner TEXT NOT NULL, epoch INTEGER NOT NULL,
     state TEXT NOT NULL, lease_expires_at INTEGER NOT NULL, received_at INTEGER NOT NULL);
   CREATE TABLE reputation (worker TEXT PRIMARY KEY, record TEXT NOT NULL);
   CREATE TABLE ledger (seq INTEGER PRIMARY KEY, prev BLOB NOT NULL, receipt BLOB NOT NULL UNIQUE, hash BLOB NOT NULL);`,
]

/** A heard announcement, as kept. */
export interface KnownJob {
  readonly id: string
  readonly announcement: Uint8Array
  readonly owner: string
  readonly epoch: number
  readonly state: string
  readonly leaseExpiresAt: number
  readonly receivedAt: number
}

export interface JobDb {
  /** Jobs this node owns, as the scheduler serialised them. */
  saveOwned(id: string, record: string, at: number): void
  deleteOwned(id: string): void
  listOwned(): Array<{ id: string; record: string }>
  /** Keeps a heard announcement when it is newer (higher epoch, or the same epoch issued later) than the one kept. */
  putKnown(job: KnownJob): void
  getKnown(id: string): KnownJob | undefined
  listKnown(): KnownJob[]
  deleteKnown(id: string): void
  saveReputation(record: ReputationRecord): void
  listReputation(): ReputationRecord[]
  /** The ledger's storage. */
  readonly ledger: LedgerStore
  close(): void
}

export function openJobDb(dir: string): JobDb {
  const db = openMigratedDatabase(join(dir, 'jobs.db'), MIGRATIONS)

  const saveOwned = db.prepare('INSERT INTO owned_jobs (id, record, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at')
  const deleteOwned = db.prepare('DELETE FROM owned_jobs WHERE id = ?')
  const listOwned = db.prepare('SELECT id, record FROM owned_jobs ORDER BY id')
  const getKnown = db.prepare('SELECT * FROM known_jobs WHERE id = ?')
  const putKnown = db.prepare(`INSERT INTO known_jobs (id, announcement, owner, epoch, state, lease_expires_at, received_at)
    VALUES (@id, @announcement, @owner, @epoch, @state, @leaseExpiresAt, @receivedAt)
    ON CONFLICT(id) DO UPDATE SET announcement = excluded.announcement, owner = excluded.owner, epoch = excluded.epoch,
      state = excluded.state, lease_expires_at = excluded.lease_expires_at, received_at = excluded.received_at`)
  const listKnown = db.prepare('SELECT * FROM known_jobs ORDER BY id')
  const deleteKnown = db.prepare('DELETE FROM known_jobs WHERE id = ?')
  const saveReputation = db.prepare('INSERT INTO reputation (worker, record) VALUES (?, ?) ON CONFLICT(worker) DO UPDATE SET record = excluded.record')
  const listReputation = db.prepare('SELECT record FROM reputation ORDER BY worker')
  const ledgerHead = db.prepare('SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1')
  const ledgerAppend = db.prepare('INSERT INTO ledger (seq, prev, receipt, hash) VALUES (?, ?, ?, ?)')
  const ledgerRange = db.prepare('SELECT seq, prev, receipt, hash FROM ledger WHERE seq >= ? ORDER BY seq LIMIT ?')
  const ledgerHas = db.prepare('SELECT 1 FROM ledger WHERE receipt = ?')

  const known = (r: Record<string, unknown>): KnownJob => ({
    id: r['id'] as string,
    announcement: new Uint8Array(r['announcement'] as Buffer),
    owner: r['owner'] as string,
    epoch: Number(r['epoch']),
    state: r['state'] as string,
    leaseExpiresAt: Number(r['lease_expires_at']),
    receivedAt: Number(r['received_at']),
  })

  const ledger: LedgerStore & { hasReceipt(receipt: Uint8Array): boolean } = {
    head() {
      const r = ledgerHead.get() as { seq: number; hash: Buffer } | undefined
      return r === undefined ? { seq: 0n, hash: GENESIS } : { seq: BigInt(r.seq), hash: new Uint8Array(r.hash) }
    },
    append(entry: LedgerEntry) {
      ledgerAppend.run(Number(entry.seq), Buffer.from(entry.prev), Buffer.from(entry.receipt), Buffer.from(entry.hash))
    },
    range(fromSeq: bigint, limit: number) {
      return (ledgerRange.all(Number(fromSeq), limit) as Array<{ seq: number; prev: Buffer; receipt: Buffer; hash: Buffer }>).map((r) =>
        create(LedgerEntrySchema, { seq: BigInt(r.seq), prev: new Uint8Array(r.prev), receipt: new Uint8Array(r.receipt), hash: new Uint8Array(r.hash) }),
      )
    },
    hasReceipt: (receipt) => ledgerHas.get(Buffer.from(receipt)) !== undefined,
  }

  return {
    saveOwned: (id, record, at) => void saveOwned.run(id, record, at),
    deleteOwned: (id) => void deleteOwned.run(id),
    listOwned: () => listOwned.all() as Array<{ id: string; record: string }>,
    putKnown(job) {
      const previous = getKnown.get(job.id) as Record<string, unknown> | undefined
      if (previous !== undefined) {
        const p = known(previous)
        if (job.epoch < p.epoch || (job.epoch === p.epoch && job.leaseExpiresAt < p.leaseExpiresAt)) return
      }
      putKnown.run({ ...job, announcement: Buffer.from(job.announcement) })
    },
    getKnown: (id) => {
      const r = getKnown.get(id) as Record<string, unknown> | undefined
      return r === undefined ? undefined : known(r)
    },
    listKnown: () => (listKnown.all() as Array<Record<string, unknown>>).map(known),
    deleteKnown: (id) => void deleteKnown.run(id),
    saveReputation: (record) => void saveReputation.run(record.worker, JSON.stringify(record)),
    listReputation: () => (listReputation.all() as Array<{ record: string }>).map((r) => JSON.parse(r.record) as ReputationRecord),
    ledger,
    close: () => db.close(),
  }
}
