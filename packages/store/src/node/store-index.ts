// The store's SQLite index (store.db, WAL, 0600): the blocks on disk with their sizes, the roots (name, kind,
// sizes, pinned or not, held or not) and, for each root, the blocks of its DAG: a block's reference count is the
// number of kept roots (pinned, or held by an owner such as the FL store) that reach it, and gc deletes blocks no
// kept root reaches. A hold is counted per owner and is not a pin: unpinning a root leaves its holds.
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE store_blocks (cid TEXT PRIMARY KEY, size INTEGER NOT NULL, added_at INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE store_roots (
     cid TEXT PRIMARY KEY,
     name TEXT,
     kind TEXT NOT NULL,
     size INTEGER NOT NULL,
     dag_size INTEGER NOT NULL,
     blocks INTEGER NOT NULL,
     pinned INTEGER NOT NULL,
     pinned_at INTEGER,
     added_at INTEGER NOT NULL
   );
   CREATE TABLE store_refs (root TEXT NOT NULL, cid TEXT NOT NULL, PRIMARY KEY (root, cid)) WITHOUT ROWID;
   CREATE INDEX store_refs_cid ON store_refs (cid);`,
  // Holds: durable, counted references by an owner inside the node (the FL store's models, deltas and strategy
  // state), kept by gc as a pin is, never dropped by an unpin.
  `CREATE TABLE store_holds (root TEXT NOT NULL, owner TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (root, owner)) WITHOUT ROWID;`,
]

/** A kept root: pinned, or held by some owner (SQL over a root row aliased `t`). */
const KEPT = '(t.pinned = 1 OR EXISTS (SELECT 1 FROM store_holds h WHERE h.root = t.cid))'
/** A root's owners, comma-separated, or NULL (SQL over a root row of `store_roots`). */
const HELD = '(SELECT group_concat(owner) FROM store_holds h WHERE h.root = store_roots.cid)'

/** A root as the index holds it. */
export interface RootRow {
  readonly cid: string
  readonly name: string | null
  readonly kind: 'file' | 'directory'
  /** Content bytes. */
  readonly size: number
  /** Tsize: bytes of every block of the DAG, as a parent link counts them. */
  readonly dagSize: number
  /** Distinct blocks of the DAG. */
  readonly blocks: number
  readonly pinned: boolean
  readonly pinnedAt: number | null
  readonly addedAt: number
  /** The owners holding the root (absent when none does): gc keeps it as if pinned, and `unpin` leaves it held. */
  readonly held?: readonly string[]
}

type Row = Record<string, unknown>

function toRoot(r: Row): RootRow {
  return {
    cid: r.cid as string,
    name: (r.name as string | null) ?? null,
    kind: r.kind as 'file' | 'directory',
    size: r.size as number,
    dagSize: r.dag_size as number,
    blocks: r.blocks as number,
    pinned: r.pinned === 1,
    pinnedAt: (r.pinned_at as number | null) ?? null,
    addedAt: r.added_at as number,
    ...(typeof r.held === 'string' ? { held: r.held.split(',').sort() } : {}),
  }
}

/** Opens (creating and migrating) `store.db` in `dir`, private to the node (0600). */
export function openStoreIndex(dir: string): StoreIndex {
  const file = join(dir, 'store.db')
  closeSync(openSync(file, 'a', 0o600))
  chmodSync(file, 0o600)
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  for (const extra of ['-wal', '-shm']) if (existsSync(file + extra)) chmodSync(file + extra, 0o600)
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)')
  const version = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined
  db.transaction(() => {
    for (let v = version?.version ?? 0; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] as string)
    if (version === undefined) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length)
    else db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length)
  })()

  const q = {
    blockSize: db.prepare('SELECT size FROM store_blocks WHERE cid = ?').pluck(),
    addBlock: db.prepare('INSERT OR IGNORE INTO store_blocks (cid, size, added_at) VALUES (?, ?, ?)'),
    dropBlock: db.prepare('DELETE FROM store_blocks WHERE cid = ?'),
    usedBytes: db.prepare('SELECT COALESCE(SUM(size), 0) FROM store_blocks').pluck(),
    blockCount: db.prepare('SELECT COUNT(*) FROM store_blocks').pluck(),
    refs: db.prepare(`SELECT COUNT(*) FROM store_refs r JOIN store_roots t ON t.cid = r.root WHERE r.cid = ? AND ${KEPT}`).pluck(),
    unreferenced: db.prepare(
      `SELECT cid, size FROM store_blocks WHERE NOT EXISTS (SELECT 1 FROM store_refs r JOIN store_roots t ON t.cid = r.root WHERE r.cid = store_blocks.cid AND ${KEPT})`,
    ),
    rootBlocks: db.prepare('SELECT cid FROM store_refs WHERE root = ?').pluck(),
    missingOf: db.prepare('SELECT cid FROM store_refs r WHERE r.root = ? AND NOT EXISTS (SELECT 1 FROM store_blocks b WHERE b.cid = r.cid)').pluck(),
    root: db.prepare(`SELECT *, ${HELD} AS held FROM store_roots WHERE cid = ?`),
    roots: db.prepare(`SELECT *, ${HELD} AS held FROM store_roots ORDER BY added_at, cid`),
    upsertRoot: db.prepare(
      `INSERT INTO store_roots (cid, name, kind, size, dag_size, blocks, pinned, pinned_at, added_at)
       VALUES (@cid, @name, @kind, @size, @dagSize, @blocks, @pinned, @pinnedAt, @addedAt)
       ON CONFLICT (cid) DO UPDATE SET name = COALESCE(@name, name), pinned = MAX(pinned, @pinned),
         pinned_at = COALESCE(pinned_at, @pinnedAt)`,
    ),
    unpin: db.prepare('UPDATE store_roots SET pinned = 0, pinned_at = NULL WHERE cid = ?'),
    addRef: db.prepare('INSERT OR IGNORE INTO store_refs (root, cid) VALUES (?, ?)'),
    dropRefs: db.prepare('DELETE FROM store_refs WHERE root = ?'),
    rootsWithoutBlock: db.prepare(
      `SELECT cid FROM store_roots t WHERE NOT ${KEPT} AND NOT EXISTS (SELECT 1 FROM store_blocks b WHERE b.cid = t.cid)`,
    ).pluck(),
    dropRoot: db.prepare('DELETE FROM store_roots WHERE cid = ?'),
    hold: db.prepare('INSERT INTO store_holds (root, owner, count) VALUES (?, ?, 1) ON CONFLICT (root, owner) DO UPDATE SET count = count + 1 RETURNING count').pluck(),
    release: db.prepare('UPDATE store_holds SET count = count - 1 WHERE root = ? AND owner = ? RETURNING count').pluck(),
    dropHold: db.prepare('DELETE FROM store_holds WHERE root = ? AND owner = ? AND count <= 0'),
    held: db.prepare('SELECT root, count FROM store_holds WHERE owner = ? ORDER BY root'),
  }
  const hold = (root: string, owner: string): number => q.hold.get(root, owner) as number
  /** One transaction: a hold's count never reads 0 (a crash between the decrement and the delete would keep its root). */
  const release = db.transaction((root: string, owner: string): number => {
    const left = q.release.get(root, owner) as number | undefined
    if (left === undefined) return 0
    if (left <= 0) q.dropHold.run(root, owner)
    return Math.max(0, left)
  })

  return {
    blockSize: (cid: string): number | undefined => q.blockSize.get(cid) as number | undefined,
    addBlock: (cid: string, size: number, at: number): boolean => q.addBlock.run(cid, size, at).changes === 1,
    dropBlock: (cid: string): void => void q.dropBlock.run(cid),
    usedBytes: (): number => q.usedBytes.get() as number,
    blockCount: (): number => q.blockCount.get() as number,
    /** Kept (pinned or held) roots whose DAG holds the block. */
    refs: (cid: string): number => q.refs.get(cid) as number,
    rootBlocks: (root: string): string[] => q.rootBlocks.all(root) as string[],
    missingOf: (root: string): string[] => q.missingOf.all(root) as string[],
    unreferenced: (): { cid: string; size: number }[] => q.unreferenced.all() as { cid: string; size: number }[],
    root: (cid: string): RootRow | undefined => {
      const r = q.root.get(cid) as Row | undefined
      return r === undefined ? undefined : toRoot(r)
    },
    roots: (): RootRow[] => (q.roots.all() as Row[]).map(toRoot),
    /** Records a root with the blocks of its DAG, in one transaction. An existing root keeps its pin. */
    putRoot: (root: RootRow, blocks: Iterable<string>): void =>
      db.transaction(() => {
        q.upsertRoot.run({ ...root, pinned: root.pinned ? 1 : 0 })
        for (const b of blocks) q.addRef.run(root.cid, b)
      })(),
    /**
     * Records blocks just written, a root over them and one hold on it, in one transaction.
     * @returns the bytes of the blocks that were not recorded before
     */
    putHeldRoot: (root: RootRow, blocks: readonly { cid: string; size: number }[], owner: string, at: number): number =>
      db.transaction(() => {
        let added = 0
        for (const b of blocks) if (q.addBlock.run(b.cid, b.size, at).changes === 1) added += b.size
        q.upsertRoot.run({ ...root, pinned: root.pinned ? 1 : 0 })
        for (const b of blocks) q.addRef.run(root.cid, b.cid)
        hold(root.cid, owner)
        return added
      })(),
    hold,
    release,
    held: (owner: string): { root: string; count: number }[] => q.held.all(owner) as { root: string; count: number }[],
    /** Unpins a root (its blocks stay until gc; its holds stay). */
    unpin: (cid: string): void =>
      void q.unpin.run(cid),
    /** Forgets unpinned roots whose root block is gone. */
    dropRootsWithoutBlock: (): number =>
      db.transaction(() => {
        const gone = q.rootsWithoutBlock.all() as string[]
        for (const cid of gone) {
          q.dropRefs.run(cid)
          q.dropRoot.run(cid)
        }
        return gone.length
      })(),
    close: (): void => {
      db.close()
    },
  }
}

/** The index's operations (all synchronous: better-sqlite3). */
export interface StoreIndex {
  blockSize(cid: string): number | undefined
  /** Records a block; false when it was recorded already. */
  addBlock(cid: string, size: number, at: number): boolean
  dropBlock(cid: string): void
  usedBytes(): number
  blockCount(): number
  /** Kept (pinned or held) roots whose DAG holds the block. */
  refs(cid: string): number
  /** The blocks of a root's DAG, as recorded when it was added. */
  rootBlocks(root: string): string[]
  /** Those of a root's blocks not on disk (dropped as corrupt). */
  missingOf(root: string): string[]
  unreferenced(): { cid: string; size: number }[]
  root(cid: string): RootRow | undefined
  roots(): RootRow[]
  /** Records a root with the blocks of its DAG, in one transaction. An existing root keeps its pin. */
  putRoot(root: RootRow, blocks: Iterable<string>): void
  /** Records blocks just written, a root over them and one hold by `owner`, in one transaction; returns the bytes newly recorded. */
  putHeldRoot(root: RootRow, blocks: readonly { cid: string; size: number }[], owner: string, at: number): number
  /** Takes one more hold on a root for `owner`; returns the owner's count. */
  hold(root: string, owner: string): number
  /** Gives one hold back; returns the owner's count left (0: no longer held by it). */
  release(root: string, owner: string): number
  /** The roots `owner` holds, with its counts. */
  held(owner: string): { root: string; count: number }[]
  /** Unpins a root (its blocks stay until gc; its holds stay). */
  unpin(cid: string): void
  /** Forgets unpinned roots whose root block is gone, with their block lists. */
  dropRootsWithoutBlock(): number
  close(): void
}
