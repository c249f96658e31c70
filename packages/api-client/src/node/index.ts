// Node-only part of @weft/api-client: finds the node running on a data directory (its node.json and api-token)
// and returns a client for it.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { type ApiClient, type ApiClientInit, createApiClient } from '../client.js'
import { NodeNotRunningError } from '../errors.js'

/** The files of a data directory that the client reads. */
export const CLIENT_DATA_DIR_FILES = Object.freeze({ apiToken: 'api-token', running: 'node.json' })

/** What a running node publishes in its data directory (`node.json`) so that clients can find it. */
export const runningNodeRecordSchema = z.object({ pid: z.number().int().positive(), peerId: z.string(), apiUrl: z.string(), startedAt: z.number() })
export type RunningNodeRecord = z.infer<typeof runningNodeRecordSchema>

/** `$WEFT_HOME`, else `~/.weft`. */
export function defaultDataDir(): string {
  return process.env['WEFT_HOME'] ?? join(homedir(), '.weft')
}

/** Reads the API token if the data directory has one. */
export function readApiToken(dir: string): string | undefined {
  const path = join(dir, CLIENT_DATA_DIR_FILES.apiToken)
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined
}

/** Whether a process with this pid exists (one owned by another user counts). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The record of the node running on this data directory, or undefined (missing, unreadable, or a dead process's). */
export function readRunningNode(dir: string): RunningNodeRecord | undefined {
  const path = join(dir, CLIENT_DATA_DIR_FILES.running)
  if (!existsSync(path)) return undefined
  try {
    const record = runningNodeRecordSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
    return record.success && pidAlive(record.data.pid) ? record.data : undefined
  } catch {
    return undefined
  }
}

export interface NodeApiClientInit extends Omit<ApiClientInit, 'url' | 'token'> {
  /** The node's data directory (its node.json names the API URL, its api-token the token). */
  readonly dataDir?: string
  /** Explicit API URL; wins over the data directory. */
  readonly apiUrl?: string
  /** Bearer token; defaults to the data directory's api-token. */
  readonly token?: string
}

/**
 * Resolves where the node's API is (an explicit URL, else the node running on `dataDir`) and returns a client for it.
 * @throws NodeNotRunningError when neither a URL is given nor a live node is recorded in the data directory
 */
export function createNodeApiClient(init: NodeApiClientInit): ApiClient {
  const { dataDir, apiUrl, token, ...rest } = init
  let url = apiUrl
  if (url === undefined) {
    if (dataDir === undefined) throw new NodeNotRunningError('give --api URL or --data-dir')
    const running = readRunningNode(dataDir)
    if (running === undefined) {
      throw new NodeNotRunningError(`no node is running on ${dataDir} (start one with: weft node start --data-dir ${dataDir})`)
    }
    url = running.apiUrl
  }
  const resolvedToken = token ?? (dataDir === undefined ? undefined : readApiToken(dataDir))
  return createApiClient({ ...rest, url, ...(resolvedToken === undefined ? {} : { token: resolvedToken }) })
}
