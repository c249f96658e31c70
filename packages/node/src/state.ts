// The node's SQLite state: node metadata, the peer table and the mesh authority's revocations, so a restarted node
// remembers the mesh.
import { openMigratedDatabase } from './sqlite.js'

/** A peer as stored: the last verified signed ad and what this node observed. */
export interface StoredPeer {
  readonly peerId: string
  /** The encoded SignedResourceAd last accepted from this peer. */
  readonly signedAd: Uint8Array
  readonly seq: bigint
  readonly expiresAt: number
  readonly lastSeen: number
  readonly status: 'alive' | 'gone'
  readonly goneReason: string | null
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE peers (
     peer_id TEXT PRIMARY KEY,
     signed_ad BLOB NOT NULL,
     seq INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     last_seen INTEGER NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('alive', 'gone')),
     gone_reason TEXT
   );`,
  // Revocations signed by the mesh's authority, as received (canonical bytes), kept for good: a revoked certificate
  // stays revoked across restarts.
  `CREATE TABLE revocations (
     signed BLOB PRIMARY KEY,
     received_at INTEGER NOT NULL
   );`,
]

/** The node's state database. */
export interface NodeState {
  getMeta(key: string): string | undefined
  setMeta(key: string, value: string): void
  upsertPeer(peer: StoredPeer): void
  setPeerStatus(peerId: string, status: 'alive' | 'gone', reason: string | null): void
  listPeers(): StoredPeer[]
  /** Forgets a peer (evicted from a full peer table). */
  deletePeer(peerId: string): void
  /** Stores a verified revocation (encoded SignedRevocation); false when it was stored already. */
  addRevocation(signed: Uint8Array, receivedAt: number): boolean
  /** Every stored revocation, oldest first. */
  listRevocations(): Uint8Array[]
  close(): void
}

/** Longest a peer-table change waits to be written. */
const PEER_FLUSH_MS = 250
/** Peer-table changes written at once at most (a queue this long is written at once). */
const PEER_FLUSH_OPS = 1_000

export interface NodeStateOptions {
  /**
   * Told when queued peer-table changes could not be written (a full disk: SQLITE_FULL). They are dropped: the
   * table is soft state that the next ads refill. Default: nothing is told.
   */
  readonly onWriteError?: (err: Error, dropped: number) => void
}

/**
 * Opens (creating and migrating) the state database.
 * @param path - file path, or ':memory:'
 */
export function openNodeState(path: string, options: NodeStateOptions = {}): NodeState {
  const db = openMigratedDatabase(path, MIGRATIONS)

  const getMeta = db.prepare('SELECT value FROM meta WHERE key = ?')
  const setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
  const upsert = db.prepare(`INSERT INTO peers (peer_id, signed_ad, seq, expires_at, last_seen, status, gone_reason)
    VALUES (@peerId, @signedAd, @seq, @expiresAt, @lastSeen, @status, @goneReason)
    ON CONFLICT(peer_id) DO UPDATE SET signed_ad = excluded.signed_ad, seq = excluded.seq,
      expires_at = excluded.expires_at, last_seen = excluded.last_seen, status = excluded.status,
      gone_reason = excluded.gone_reason`)
  const setStatus = db.prepare('UPDATE peers SET status = ?, gone_reason = ? WHERE peer_id = ?')
  const list = db.prepare('SELECT * FROM peers ORDER BY peer_id').safeIntegers(true)
  const remove = db.prepare('DELETE FROM peers WHERE peer_id = ?')
  const addRevocation = db.prepare('INSERT OR IGNORE INTO revocations (signed, received_at) VALUES (?, ?)')
  const listRevocations = db.prepare('SELECT signed FROM revocations ORDER BY received_at, rowid')

  // Peer rows are soft state written on every ad: they are queued and written together, one transaction at most every
  // PEER_FLUSH_MS (or every PEER_FLUSH_OPS changes), so a burst of ads costs one commit, not one per ad. A crash
  // loses at most that much of the table, which the next ads refill; so does a write that fails (a full disk).
  // Reads and close flush first.
  const queued: Array<() => void> = []
  let flushTimer: ReturnType<typeof setTimeout> | undefined
  const flush = (): void => {
    if (flushTimer !== undefined) clearTimeout(flushTimer)
    flushTimer = undefined
    if (queued.length === 0) return
    const ops = queued.splice(0)
    try {
      db.transaction(() => {
        for (const op of ops) op()
      })()
    } catch (err) {
      // Run from a timer, a throw here would end the process (seen with a full disk): the changes are dropped.
      options.onWriteError?.(err as Error, ops.length)
    }
  }
  const queue = (op: () => void): void => {
    queued.push(op)
    if (queued.length >= PEER_FLUSH_OPS) flush()
    else if (flushTimer === undefined) {
      flushTimer = setTimeout(flush, PEER_FLUSH_MS)
      flushTimer.unref()
    }
  }

  return {
    getMeta: (key) => (getMeta.get(key) as { value: string } | undefined)?.value,
    setMeta: (key, value) => void setMeta.run(key, value),
    upsertPeer: (peer) => {
      const row = { ...peer, signedAd: Buffer.from(peer.signedAd), seq: peer.seq }
      queue(() => upsert.run(row))
    },
    setPeerStatus: (peerId, status, reason) => queue(() => setStatus.run(status, reason, peerId)),
    deletePeer: (peerId) => queue(() => remove.run(peerId)),
    addRevocation: (signed, receivedAt) => addRevocation.run(Buffer.from(signed), receivedAt).changes > 0,
    listRevocations: () => (listRevocations.all() as Array<{ signed: Buffer }>).map((r) => new Uint8Array(r.signed)),
    listPeers: () => {
      flush()
      return (list.all() as Array<Record<string, unknown>>).map((r) => ({
        peerId: r['peer_id'] as string,
        signedAd: new Uint8Array(r['signed_ad'] as Buffer),
        seq: r['seq'] as bigint,
        expiresAt: Number(r['expires_at']),
        lastSeen: Number(r['last_seen']),
        status: r['status'] as 'alive' | 'gone',
        goneReason: (r['gone_reason'] as string | null) ?? null,
      }))
    },
    close: () => {
      flush()
      db.close()
    },
  }
}
