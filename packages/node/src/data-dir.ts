// The node's data directory: its persistent identity, API token, running-node record and state database.
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CLIENT_DATA_DIR_FILES, pidAlive, readRunningNode, type RunningNodeRecord } from '@weft/api-client/node'
import { DataDirError } from './errors.js'

export { readRunningNode, type RunningNodeRecord }

/** File names inside a data directory (documented in docs/ARCHITECTURE.md). */
export const DATA_DIR_FILES = Object.freeze({
  identity: 'identity.key',
  ...CLIENT_DATA_DIR_FILES,
  state: 'state.db',
  lock: 'node.lock',
})

/**
 * Creates the directory if needed and makes it private (0700): it holds the identity, raw client updates and the
 * job databases. A directory others can read is closed, not refused: this process owns it.
 */
export function ensureDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700)
  } catch (err) {
    throw new DataDirError(`cannot create data directory ${dir}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Makes a database file private (0600) before SQLite opens it: SQLite gives its -wal and -shm files the database
 * file's mode, so they are private too.
 */
export function privateDatabaseFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600))
  chmodSync(path, 0o600)
  for (const extra of ['-wal', '-shm']) if (existsSync(path + extra)) chmodSync(path + extra, 0o600)
}

function writeSecretFile(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, data, { mode: 0o600 })
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
}

/**
 * Loads the node's Ed25519 identity, creating it at first start (file mode 0600).
 * @throws DataDirError if the file exists but is not a valid key, or is readable by others
 */
export async function loadOrCreateIdentity(dir: string): Promise<PrivateKey> {
  const path = join(dir, DATA_DIR_FILES.identity)
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777
    if ((mode & 0o077) !== 0) {
      throw new DataDirError(`${path} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${path}`)
    }
    try {
      return privateKeyFromProtobuf(readFileSync(path))
    } catch (err) {
      throw new DataDirError(`${path} does not hold a valid libp2p private key: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }
  const key = await generateKeyPair('Ed25519')
  writeSecretFile(path, privateKeyToProtobuf(key))
  return key
}

/**
 * The peer id of the node that uses `dir`, creating the directory and its identity when they do not exist yet (so an
 * authority can certify a node before its first start: `weft node id`, `weft demo`).
 * @throws DataDirError as loadOrCreateIdentity
 */
export async function nodePeerId(dir: string): Promise<string> {
  ensureDataDir(dir)
  return peerIdFromPrivateKey(await loadOrCreateIdentity(dir)).toString()
}

/** Loads the control API bearer token, creating a random one at first start (mode 0600). */
export function loadOrCreateApiToken(dir: string): string {
  const path = join(dir, DATA_DIR_FILES.apiToken)
  if (existsSync(path)) return readFileSync(path, 'utf8').trim()
  const token = randomBytes(32).toString('base64url')
  writeSecretFile(path, `${token}\n`)
  return token
}

/** The lock a node holds on its data directory while it runs. */
export interface DataDirLock {
  readonly path: string
  /** Removes the lock file (once; only while it is still this lock's). */
  release(): void
}

interface LockRecord {
  readonly pid: number
  readonly startedAt: number
  readonly token: string
}

function readLock(path: string): LockRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockRecord
  } catch {
    return undefined
  }
}

/**
 * Claims the data directory for this node, before anything else touches it: creates `node.lock` exclusively
 * (O_EXCL). A lock left by a process that is gone is taken over; a live one refuses this node.
 * @throws DataDirError naming the running node (pid, peer id and API when it has published them)
 */
export function lockDataDir(dir: string): DataDirLock {
  const path = join(dir, DATA_DIR_FILES.lock)
  const token = randomBytes(8).toString('hex')
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx', 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DataDirError(`cannot lock data directory ${dir}: ${(err as Error).message}`, { cause: err })
      }
      const holder = readLock(path)
      // A lock being written right now reads as empty: the other node is starting.
      if (holder === undefined || pidAlive(holder.pid)) {
        const running = readRunningNode(dir)
        const who =
          running !== undefined
            ? `a node (pid ${running.pid}, ${running.peerId}, API ${running.apiUrl})`
            : holder !== undefined
              ? `a node (pid ${holder.pid}, started ${new Date(holder.startedAt).toISOString()})`
              : 'another node'
        throw new DataDirError(
          `${who} is already running on ${dir}; stop it first, or give this node another --data-dir (lock file ${path})`,
        )
      }
      rmSync(path, { force: true })
      continue
    }
    try {
      writeSync(fd, `${JSON.stringify({ pid: process.pid, startedAt: Date.now(), token } satisfies LockRecord)}\n`)
    } finally {
      closeSync(fd)
    }
    let released = false
    return {
      path,
      release() {
        if (released) return
        released = true
        if (readLock(path)?.token === token) rmSync(path, { force: true })
      },
    }
  }
  throw new DataDirError(`cannot lock data directory ${dir}: the lock file ${path} keeps changing`)
}

export function writeRunningNode(dir: string, record: RunningNodeRecord): void {
  writeSecretFile(join(dir, DATA_DIR_FILES.running), `${JSON.stringify(record, null, 2)}\n`)
}

export function removeRunningNode(dir: string): void {
  rmSync(join(dir, DATA_DIR_FILES.running), { force: true })
}
