// The node's data directory: its persistent identity, API token, running-node record and state database.
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { CLIENT_DATA_DIR_FILES, readRunningNode, type RunningNodeRecord } from '@weft/api-client/node'
import { DataDirError } from './errors.js'

export { readRunningNode, type RunningNodeRecord }

/** File names inside a data directory (documented in docs/ARCHITECTURE.md). */
export const DATA_DIR_FILES = Object.freeze({
  identity: 'identity.key',
  ...CLIENT_DATA_DIR_FILES,
  state: 'state.db',
})

/** Creates the directory (mode 0700) if needed. */
export function ensureDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new DataDirError(`cannot create data directory ${dir}: ${(err as Error).message}`, { cause: err })
  }
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

/** Loads the control API bearer token, creating a random one at first start (mode 0600). */
export function loadOrCreateApiToken(dir: string): string {
  const path = join(dir, DATA_DIR_FILES.apiToken)
  if (existsSync(path)) return readFileSync(path, 'utf8').trim()
  const token = randomBytes(32).toString('base64url')
  writeSecretFile(path, `${token}\n`)
  return token
}

/**
 * Claims the data directory for this process.
 * @throws DataDirError if another live node already runs on it
 */
export function claimDataDir(dir: string): void {
  const other = readRunningNode(dir)
  if (other !== undefined && other.pid !== process.pid) {
    throw new DataDirError(`a node (pid ${other.pid}, ${other.peerId}) is already running on ${dir}`)
  }
}

export function writeRunningNode(dir: string, record: RunningNodeRecord): void {
  writeSecretFile(join(dir, DATA_DIR_FILES.running), `${JSON.stringify(record, null, 2)}\n`)
}

export function removeRunningNode(dir: string): void {
  rmSync(join(dir, DATA_DIR_FILES.running), { force: true })
}
