// The node's durable JobStore: job, round, update and event rows in SQLite (fl.db); models, update deltas and
// strategy-state tensors as file roots in the node's block store (the DiskStore, CIDv1 UnixFS files), held there by
// the owner `fl` and never announced. fl.db keeps only rows and root CIDs. A model is stored in its hand-out encoding
// (a one-tensor set, as @weft/fl-mesh's handoutBytes makes it), so a round model handed out by CID is this very
// root; deltas and strategy state are raw float32 bytes.
//
// Crash consistency, across the two databases (fl.db and the block store's index): a tensor's blocks are written and
// its hold taken before the fl.db transaction that references its root commits; a hold is given back only after the
// transaction that dropped the reference commits. A crash in between leaves an extra hold, never a row naming blocks
// that are gone, and `openFlStore` gives extra holds back (reconcile).
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { EvaluationMetrics, JobEvent, JobEventType, JobRecord, JobSpec, JobStatus, JobStore, RoundMetrics, RoundRecord, StrategyState, UpdateRecord } from '@weft/fl'
import { checkMaxEvents, MODEL_TENSOR, parseJobSpec, setVector, vectorSet } from '@weft/fl'
import { decodeTensorSet, encodeTensorSet } from '@weft/protocol'
import { CID } from '@weft/store'
import { type DiskStore, openDiskStore, storeDir } from '@weft/store/node'
import { openMigratedDatabase } from '../sqlite.js'

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE fl_jobs (
     id TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     status TEXT NOT NULL,
     round INTEGER NOT NULL,
     model_hash TEXT NOT NULL,
     submitter TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     error TEXT,
     strategy_state TEXT
   );
   CREATE TABLE fl_models (hash TEXT PRIMARY KEY, block TEXT NOT NULL);
   CREATE TABLE fl_rounds (
     job_id TEXT NOT NULL,
     round INTEGER NOT NULL,
     status TEXT NOT NULL,
     participants TEXT NOT NULL,
     input_hash TEXT NOT NULL,
     output_hash TEXT,
     started_at INTEGER NOT NULL,
     ended_at INTEGER,
     metrics TEXT,
     PRIMARY KEY (job_id, round)
   );
   CREATE TABLE fl_updates (
     job_id TEXT NOT NULL,
     client_id TEXT NOT NULL,
     base_round INTEGER NOT NULL,
     round INTEGER NOT NULL,
     examples INTEGER NOT NULL,
     train_loss REAL NOT NULL,
     train_accuracy REAL NOT NULL,
     train_seconds REAL NOT NULL,
     upload_seconds REAL NOT NULL,
     bytes INTEGER NOT NULL,
     delta_block TEXT,
     seq INTEGER NOT NULL,
     PRIMARY KEY (job_id, client_id, base_round)
   );
   CREATE INDEX fl_updates_round ON fl_updates (job_id, round);
   CREATE TABLE fl_events (
     job_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     at INTEGER NOT NULL,
     type TEXT NOT NULL,
     round INTEGER,
     message TEXT NOT NULL,
     PRIMARY KEY (job_id, seq)
   );`,
  // Typed events: the payload beside the derived message (rows written before this migration keep data NULL and
  // read back with an empty payload); a secure round's attempt number (its session), so a restart never reuses one.
  `ALTER TABLE fl_events ADD COLUMN data TEXT;
   ALTER TABLE fl_rounds ADD COLUMN attempt INTEGER;`,
  // Block references: a block file is shared by every row that names it (a model, an update delta, a job's strategy
  // state tensor; two jobs may hold identical ones), so it is deleted only when the last reference goes. Counted
  // here from the rows already stored.
  `CREATE TABLE fl_blocks (name TEXT PRIMARY KEY, refs INTEGER NOT NULL);
   INSERT INTO fl_blocks (name, refs)
     SELECT name, COUNT(*) FROM (
       SELECT block AS name FROM fl_models
       UNION ALL SELECT delta_block FROM fl_updates WHERE delta_block IS NOT NULL
       UNION ALL SELECT t.value FROM fl_jobs, json_each(fl_jobs.strategy_state, '$.tensors') AS t WHERE fl_jobs.strategy_state IS NOT NULL
     ) GROUP BY name;`,
  // Members and the examples each declared on joining: the bound on what its updates claim, kept across restarts.
  `CREATE TABLE fl_members (
     job_id TEXT NOT NULL,
     client_id TEXT NOT NULL,
     examples INTEGER NOT NULL,
     joined_seq INTEGER NOT NULL,
     PRIMARY KEY (job_id, client_id)
   );`,
  // Tensors moved into the node's block store: the columns that named a block file (block, delta_block, the state's
  // tensors) name a root CID, and references are counted by the block store's holds (owner `fl`), one hold per row
  // reference, so fl_blocks goes. The rows still naming old block files are moved on open (migrateLegacyBlocks).
  `DROP TABLE fl_blocks;`,
]

/** The owner of the FL store's holds in the block store. */
export const FL_HOLD_OWNER = 'fl'

/**
 * Every reference rows make to a tensor root, counted: the holds `fl` should have. Counting holds per reference (not
 * once per root) makes them the one reference count: a row added takes one, a row dropped gives one back.
 */
const REFERENCES = `SELECT name, COUNT(*) AS refs FROM (
    SELECT block AS name FROM fl_models
    UNION ALL SELECT delta_block FROM fl_updates WHERE delta_block IS NOT NULL
    UNION ALL SELECT t.value FROM fl_jobs, json_each(fl_jobs.strategy_state, '$.tensors') AS t WHERE fl_jobs.strategy_state IS NOT NULL
  ) GROUP BY name`

/** How the FL store is bounded. */
export interface FlStoreInit {
  /** Events kept per job; the oldest are deleted past it. Default 10 000. */
  readonly maxEventsPerJob?: number
  /**
   * Largest `fl.db` (bytes; tensors are in the block store, under its own quota). Past it writes fail with SQLITE_FULL, as on a full disk:
   * running jobs pause and the node stays up. Default: no limit but the disk's.
   */
  readonly maxDatabaseBytes?: number
  /**
   * The node's block store, where tensors go (a full quota fails writes with StoreFullError, code EDQUOT: jobs pause
   * as on SQLITE_FULL). Absent: the store in `<dir>/store` is opened here (with `maxStoreBytes`) and closed with this.
   */
  readonly blockStore?: DiskStore
  /** The quota of a block store opened here (no `blockStore` given). */
  readonly maxStoreBytes?: number
}

type Row = Record<string, unknown>

function floatBytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
}

/** A model's bytes as stored and handed out: the one-tensor set `params`, canonically encoded. */
function modelBytes(params: Float32Array): Uint8Array {
  return encodeTensorSet(vectorSet(MODEL_TENSOR, params))
}

/** A stored root's CID, or `undefined` for a value that is none (a row left naming a lost pre-migration block). */
function rootCid(value: string): CID | undefined {
  try {
    return CID.parse(value)
  } catch {
    return undefined
  }
}

/**
 * Opens (creating and migrating) the FL store: `fl.db` under `dir`, tensors in the block store. On open, rows still
 * naming block files of the old layout (`blocks/<aa>/<sha256>`) are moved into the block store, and holds no row
 * references (a crash between a hold and its row's commit) are given back.
 * @param dir - the node's data directory
 * @throws StoreFullError when moving old block files does not fit the block store's quota (nothing is lost: the old
 *   files stay until a move succeeds)
 */
export function openFlStore(dir: string, init: FlStoreInit = {}): JobStore & { close(): void; setMaxDatabaseBytes(bytes: number | undefined): void } {
  const maxEvents = checkMaxEvents(init.maxEventsPerJob)
  const ownStore = init.blockStore === undefined
  const blockStore = init.blockStore ?? openDiskStore(storeDir(dir), init.maxStoreBytes === undefined ? {} : { maxBytes: init.maxStoreBytes })
  const db = openMigratedDatabase(join(dir, 'fl.db'), MIGRATIONS)
  /** Caps the database file: SQLite refuses to grow it past this many pages (SQLITE_FULL). */
  const setMaxDatabaseBytes = (bytes: number | undefined): void => {
    if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes < 1)) throw new RangeError(`maxDatabaseBytes must be a positive integer, got ${bytes}`)
    const pageSize = db.pragma('page_size', { simple: true }) as number
    db.pragma(`max_page_count = ${bytes === undefined ? 4294967294 : Math.max(1, Math.floor(bytes / pageSize))}`)
  }

  if (init.maxDatabaseBytes !== undefined) setMaxDatabaseBytes(init.maxDatabaseBytes)

  /** Stores a tensor as a file root in the block store and takes one `fl` hold on it (before any row names it). */
  const holdTensor = (values: Float32Array): string => blockStore.addBytesSync(floatBytes(values), { hold: FL_HOLD_OWNER }).toString()
  /** Stores a model in its hand-out encoding and takes one `fl` hold on its root. */
  const holdModel = (params: Float32Array): string => blockStore.addBytesSync(modelBytes(params), { hold: FL_HOLD_OWNER }).toString()
  const getModelParams = (root: string): Float32Array | undefined => {
    const cid = rootCid(root)
    const bytes = cid === undefined ? undefined : blockStore.readBytesSync(cid)
    return bytes === undefined ? undefined : setVector(decodeTensorSet(bytes), MODEL_TENSOR)
  }
  /** Gives one `fl` hold back (after the transaction that dropped its reference committed, or failed to add it). */
  const release = (root: string): void => {
    const cid = rootCid(root)
    if (cid !== undefined) blockStore.release(cid, FL_HOLD_OWNER)
  }
  const getFloats = (root: string): Float32Array | undefined => {
    const cid = rootCid(root)
    const bytes = cid === undefined ? undefined : blockStore.readBytesSync(cid)
    if (bytes === undefined) return undefined
    // readBytesSync gives a fresh, aligned buffer: viewed, not copied.
    return bytes.byteOffset % 4 === 0 ? new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4)) : new Float32Array(bytes.slice().buffer, 0, Math.floor(bytes.byteLength / 4))
  }
  /** Runs a transaction that references roots just held; gives those holds back if it fails (nothing then names them). */
  const commitHolding = <T>(held: readonly string[], run: () => T): T => {
    try {
      return db.transaction(run)()
    } catch (err) {
      for (const root of held) release(root)
      throw err
    }
  }

  const q = {
    insertJob: db.prepare(`INSERT INTO fl_jobs (id, spec, status, round, model_hash, submitter, created_at, updated_at)
      VALUES (@id, @spec, @status, @round, @modelHash, @submitter, @createdAt, @updatedAt)`),
    getJob: db.prepare('SELECT * FROM fl_jobs WHERE id = ?'),
    listJobs: db.prepare('SELECT * FROM fl_jobs ORDER BY created_at'),
    setStatus: db.prepare('UPDATE fl_jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?'),
    putModel: db.prepare('INSERT OR IGNORE INTO fl_models (hash, block) VALUES (?, ?)'),
    getModel: db.prepare('SELECT block FROM fl_models WHERE hash = ?'),
    openRound: db.prepare(`INSERT INTO fl_rounds (job_id, round, status, participants, input_hash, started_at, attempt)
      VALUES (?, ?, 'open', ?, ?, ?, ?) ON CONFLICT (job_id, round) DO UPDATE SET participants = excluded.participants,
        attempt = COALESCE(excluded.attempt, fl_rounds.attempt)`),
    getRound: db.prepare('SELECT * FROM fl_rounds WHERE job_id = ? AND round = ?'),
    listRounds: db.prepare('SELECT * FROM fl_rounds WHERE job_id = ? ORDER BY round'),
    closeRound: db.prepare(`UPDATE fl_rounds SET status = 'closed', output_hash = ?, ended_at = ?, metrics = ? WHERE job_id = ? AND round = ?`),
    setMetrics: db.prepare('UPDATE fl_rounds SET metrics = ? WHERE job_id = ? AND round = ?'),
    advance: db.prepare('UPDATE fl_jobs SET round = ?, model_hash = ?, strategy_state = ?, updated_at = ? WHERE id = ?'),
    addUpdate: db.prepare(`INSERT INTO fl_updates (job_id, client_id, base_round, round, examples, train_loss, train_accuracy,
      train_seconds, upload_seconds, bytes, delta_block, seq)
      VALUES (@jobId, @clientId, @baseRound, @round, @examples, @trainLoss, @trainAccuracy, @trainSeconds, @uploadSeconds, @bytes, @block,
        (SELECT COALESCE(MAX(seq), 0) + 1 FROM fl_updates WHERE job_id = @jobId))`),
    listUpdates: db.prepare('SELECT * FROM fl_updates WHERE job_id = ? AND round = ? AND delta_block IS NOT NULL ORDER BY seq'),
    contributors: db.prepare('SELECT client_id FROM fl_updates WHERE job_id = ? AND round = ? ORDER BY seq').pluck(),
    hasUpdate: db.prepare('SELECT 1 FROM fl_updates WHERE job_id = ? AND client_id = ? AND base_round = ?'),
    getUpdate: db.prepare('SELECT delta_block FROM fl_updates WHERE job_id = ? AND round = ? AND client_id = ? AND delta_block IS NOT NULL'),
    clearDeltas: db.prepare('UPDATE fl_updates SET delta_block = NULL WHERE job_id = ? AND round = ?'),
    addEvent: db.prepare(`INSERT INTO fl_events (job_id, seq, at, type, round, message, data)
      VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fl_events WHERE job_id = ?), ?, ?, ?, ?, ?) RETURNING seq`),
    events: db.prepare('SELECT * FROM fl_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
    trimEvents: db.prepare('DELETE FROM fl_events WHERE job_id = ? AND seq <= ?'),
    references: db.prepare(REFERENCES),
    setMember: db.prepare(`INSERT INTO fl_members (job_id, client_id, examples, joined_seq)
      VALUES (?, ?, ?, (SELECT COALESCE(MAX(joined_seq), 0) + 1 FROM fl_members WHERE job_id = ?))
      ON CONFLICT (job_id, client_id) DO UPDATE SET examples = excluded.examples`),
    members: db.prepare('SELECT client_id, examples FROM fl_members WHERE job_id = ? ORDER BY joined_seq'),
  }
  const stateBlocks = (text: string | null | undefined): string[] =>
    text === null || text === undefined ? [] : Object.values((JSON.parse(text) as { tensors: Record<string, string> }).tensors)

  // A job's spec never changes once stored: parsed (and validated) once per job, not on every read.
  const specs = new Map<string, JobSpec>()
  const specOf = (r: Row): JobSpec => {
    const id = r['id'] as string
    let spec = specs.get(id)
    if (spec === undefined) {
      spec = parseJobSpec(JSON.parse(r['spec'] as string))
      specs.set(id, spec)
    }
    return spec
  }
  const toJob = (r: Row): JobRecord => ({
    id: r['id'] as string,
    spec: specOf(r),
    status: r['status'] as JobStatus,
    round: r['round'] as number,
    modelHash: r['model_hash'] as string,
    submitter: r['submitter'] as string,
    createdAt: r['created_at'] as number,
    updatedAt: r['updated_at'] as number,
    ...(r['error'] === null ? {} : { error: r['error'] as string }),
  })
  const toRound = (r: Row): RoundRecord => ({
    jobId: r['job_id'] as string,
    round: r['round'] as number,
    status: r['status'] as 'open' | 'closed',
    participants: JSON.parse(r['participants'] as string) as string[],
    inputHash: r['input_hash'] as string,
    startedAt: r['started_at'] as number,
    ...(r['output_hash'] === null ? {} : { outputHash: r['output_hash'] as string }),
    ...(r['ended_at'] === null ? {} : { endedAt: r['ended_at'] as number }),
    ...(r['metrics'] === null ? {} : { metrics: JSON.parse(r['metrics'] as string) as RoundMetrics }),
    ...(r['attempt'] === null ? {} : { attempt: r['attempt'] as number }),
  })
  const toUpdate = (r: Row): UpdateRecord => ({
    clientId: r['client_id'] as string,
    round: r['round'] as number,
    baseRound: r['base_round'] as number,
    examples: r['examples'] as number,
    trainLoss: r['train_loss'] as number,
    trainAccuracy: r['train_accuracy'] as number,
    trainSeconds: r['train_seconds'] as number,
    uploadSeconds: r['upload_seconds'] as number,
    bytes: r['bytes'] as number,
  })
  /** Stores a model by hash (once: a model row is never deleted, export reads every round's). */
  const putModel = (hash: string, params: Float32Array): void => {
    if (q.getModel.get(hash) !== undefined) return
    const root = holdModel(params)
    if (!commitHolding([root], () => q.putModel.run(hash, root).changes > 0)) release(root)
  }

  /**
   * Moves tensors of the old layout (block files named by sha256 in `<dir>/blocks`) into the block store: each file
   * referenced is added (held), then one transaction rewrites every row naming it to its root; the old folder goes
   * last. A crash part way leaves the old files and rows as they were (and extra holds, given back by reconcile).
   */
  const migrateLegacyBlocks = (): void => {
    const legacy = join(dir, 'blocks')
    if (!existsSync(legacy)) return
    /** An old block file's bytes (raw float32), `undefined` when lost or torn before (its rows then read back as no tensor, as they did). */
    const legacyBytes = (name: string): Uint8Array | undefined => {
      const path = join(legacy, name.slice(0, 2), name)
      if (!/^[0-9a-f]{64}$/.test(name) || !existsSync(path)) return undefined
      const bytes = readFileSync(path)
      return createHash('sha256').update(bytes).digest('hex') === name ? bytes : undefined
    }
    // Models move in their hand-out encoding; deltas and state tensors as they were (a name may be both).
    const models = new Map<string, string>()
    for (const name of db.prepare('SELECT DISTINCT block FROM fl_models').pluck().all() as string[]) {
      const bytes = legacyBytes(name)
      if (bytes !== undefined) models.set(name, holdModel(new Float32Array(Uint8Array.from(bytes.subarray(0, bytes.byteLength - (bytes.byteLength % 4))).buffer)))
    }
    const roots = new Map<string, string>()
    const tensorNames = db.prepare(`SELECT delta_block FROM fl_updates WHERE delta_block IS NOT NULL
      UNION SELECT t.value FROM fl_jobs, json_each(fl_jobs.strategy_state, '$.tensors') AS t WHERE fl_jobs.strategy_state IS NOT NULL`)
    for (const name of tensorNames.pluck().all() as string[]) {
      const bytes = legacyBytes(name)
      if (bytes !== undefined) roots.set(name, blockStore.addBytesSync(bytes, { hold: FL_HOLD_OWNER }).toString())
    }
    const setModel = db.prepare('UPDATE fl_models SET block = ? WHERE block = ?')
    const setDelta = db.prepare('UPDATE fl_updates SET delta_block = ? WHERE delta_block = ?')
    const setState = db.prepare('UPDATE fl_jobs SET strategy_state = ? WHERE id = ?')
    db.transaction(() => {
      for (const [name, root] of models) setModel.run(root, name)
      for (const [name, root] of roots) setDelta.run(root, name)
      for (const job of db.prepare('SELECT id, strategy_state FROM fl_jobs WHERE strategy_state IS NOT NULL').all() as { id: string; strategy_state: string }[]) {
        const state = JSON.parse(job.strategy_state) as { tensors: Record<string, string>; scalars: Record<string, number> }
        const tensors = Object.fromEntries(Object.entries(state.tensors).map(([k, name]) => [k, roots.get(name) ?? name]))
        setState.run(JSON.stringify({ ...state, tensors }), job.id)
      }
    })()
    rmSync(legacy, { recursive: true, force: true })
  }

  /**
   * Makes the `fl` holds match the references rows make: holds no row references (a crash between a hold and its
   * row's commit, or between a commit and its release) are given back; a reference short of its hold (after a
   * migration) takes one, when its root is in the store.
   */
  const reconcile = (): void => {
    const wanted = new Map((q.references.all() as { name: string; refs: number }[]).map((r) => [r.name, r.refs]))
    for (const { root, count } of blockStore.held(FL_HOLD_OWNER)) {
      const cid = CID.parse(root)
      for (let n = count; n > (wanted.get(root) ?? 0); n--) blockStore.release(cid, FL_HOLD_OWNER)
      const short = (wanted.get(root) ?? 0) - count
      for (let n = 0; n < short; n++) blockStore.hold(cid, FL_HOLD_OWNER)
      wanted.delete(root)
    }
    if (wanted.size === 0) return
    const known = new Set(blockStore.roots().map((r) => r.cid))
    for (const [root, refs] of wanted) {
      const cid = rootCid(root)
      if (cid === undefined || !known.has(root)) continue // lost: reads back as no tensor, as before
      for (let n = 0; n < refs; n++) blockStore.hold(cid, FL_HOLD_OWNER)
    }
  }
  try {
    migrateLegacyBlocks()
    reconcile()
  } catch (err) {
    db.close()
    if (ownStore) blockStore.close()
    throw err
  }

  return {
    createJob(job, initialModel) {
      putModel(job.modelHash, initialModel)
      q.insertJob.run({ ...job, spec: JSON.stringify(job.spec) })
    },
    getJob(id) {
      const r = q.getJob.get(id) as Row | undefined
      return r === undefined ? undefined : toJob(r)
    },
    listJobs: () => (q.listJobs.all() as Row[]).map(toJob),
    setJobStatus(id, status, error) {
      q.setStatus.run(status, error ?? null, Date.now(), id)
    },
    hasModel(hash) {
      const r = q.getModel.get(hash) as { block: string } | undefined
      return r !== undefined && blockStore.blockSize(r.block) !== undefined
    },
    getModel(hash) {
      const r = q.getModel.get(hash) as { block: string } | undefined
      return r === undefined ? undefined : getModelParams(r.block)
    },
    openRound(jobId, round, participants, inputHash, startedAt, attempt) {
      q.openRound.run(jobId, round, JSON.stringify(participants), inputHash, startedAt, attempt ?? null)
    },
    getRound(jobId, round) {
      const r = q.getRound.get(jobId, round) as Row | undefined
      return r === undefined ? undefined : toRound(r)
    },
    listRounds: (jobId) => (q.listRounds.all(jobId) as Row[]).map(toRound),
    addUpdate(jobId, update, delta) {
      const block = holdTensor(delta)
      commitHolding([block], () => q.addUpdate.run({ jobId, ...update, block }))
    },
    listUpdates: (jobId, round) => (q.listUpdates.all(jobId, round) as Row[]).map(toUpdate),
    contributors: (jobId, round) => q.contributors.all(jobId, round) as string[],
    hasUpdate: (jobId, clientId, baseRound) => q.hasUpdate.get(jobId, clientId, baseRound) !== undefined,
    loadDelta(jobId, round, clientId) {
      const r = q.getUpdate.get(jobId, round, clientId) as { delta_block: string } | undefined
      return r === undefined ? undefined : getFloats(r.delta_block)
    },
    commitRound(jobId, round, output, outputHash, metrics, state, endedAt) {
      putModel(outputHash, output)
      // New holds first: a tensor unchanged since the last round is the same root, and must stay held throughout.
      const tensors: Record<string, string> = {}
      const taken: string[] = []
      try {
        for (const [name, values] of Object.entries(state.tensors)) {
          tensors[name] = holdTensor(values)
          taken.push(tensors[name])
        }
      } catch (err) {
        for (const root of taken) release(root)
        throw err
      }
      const released = commitHolding(taken, () => {
        const previous = q.getJob.get(jobId) as Row | undefined
        const dropped = [
          ...stateBlocks(previous?.['strategy_state'] as string | null | undefined),
          ...(q.listUpdates.all(jobId, round) as Row[]).map((r) => r['delta_block'] as string),
        ]
        q.closeRound.run(outputHash, endedAt, JSON.stringify(metrics), jobId, round)
        q.advance.run(round + 1, outputHash, JSON.stringify({ tensors, scalars: state.scalars }), Date.now(), jobId)
        q.clearDeltas.run(jobId, round)
        return dropped
      })
      // Committed: nothing names the old state or the round's deltas any more (gc takes them once no hold is left).
      for (const root of released) release(root)
    },
    getStrategyState(jobId) {
      const r = q.getJob.get(jobId) as Row | undefined
      const text = r?.['strategy_state'] as string | null | undefined
      if (text === null || text === undefined) return undefined
      const stored = JSON.parse(text) as { tensors: Record<string, string>; scalars: Record<string, number> }
      const tensors: Record<string, Float32Array> = {}
      for (const [name, block] of Object.entries(stored.tensors)) {
        const values = getFloats(block)
        if (values === undefined) throw new Error(`strategy state tensor ${block} of job ${jobId} is missing from the block store`)
        tensors[name] = values
      }
      return { tensors, scalars: stored.scalars } satisfies StrategyState
    },
    setRoundEvaluation(jobId, round, evaluation: EvaluationMetrics) {
      const r = q.getRound.get(jobId, round) as Row | undefined
      if (r === undefined || r['metrics'] === null) return
      const metrics = { ...(JSON.parse(r['metrics'] as string) as RoundMetrics), evaluation }
      q.setMetrics.run(JSON.stringify(metrics), jobId, round)
    },
    appendEvent(jobId, event): JobEvent {
      const data = JSON.stringify(event.data)
      const r = q.addEvent.get(jobId, jobId, event.at, event.type, event.round ?? null, event.message, data) as { seq: number }
      if (r.seq > maxEvents) q.trimEvents.run(jobId, r.seq - maxEvents)
      return { ...event, seq: r.seq }
    },
    events: (jobId, after, limit = 1000) =>
      (q.events.all(jobId, after, limit) as Row[]).map(
        (r) =>
          ({
            seq: r['seq'] as number,
            at: r['at'] as number,
            type: r['type'] as JobEventType,
            message: r['message'] as string,
            data: r['data'] === null ? {} : (JSON.parse(r['data'] as string) as unknown),
            ...(r['round'] === null ? {} : { round: r['round'] as number }),
          }) as JobEvent,
      ),
    setMember(jobId, clientId, examples) {
      q.setMember.run(jobId, clientId, examples, jobId)
    },
    members: (jobId) => (q.members.all(jobId) as Row[]).map((r) => ({ clientId: r['client_id'] as string, examples: r['examples'] as number })),
    setMaxDatabaseBytes,
    close: () => {
      db.close()
      if (ownStore) blockStore.close()
    },
  }
}
