// The node's control API (/v1) through @weft/api-client (each answer checked against its view schema), and the one
// shared server-sent-events stream.
import { ApiError, createApiClient, parseResponse, streamEventSchemas } from '@weft/api-client'
import type { z } from 'zod'
import type { StreamEvents } from './types'

export { ApiError, type ApiIssue as SpecIssue } from '@weft/api-client'

const unauthorizedListeners = new Set<() => void>()

/** Calls `listener` whenever a request answers 401 (the node wants its API token). */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener)
  return () => {
    unauthorizedListeners.delete(listener)
  }
}

/** The page's own node: same origin, with the login cookie; POSTs carry x-weft-request against forgeries. */
export const api = createApiClient({
  url: '',
  credentials: 'same-origin',
  onUnauthorized: () => {
    for (const listener of unauthorizedListeners) listener()
  },
})

/** What a route answered to a request of this page's, checked against `schema` (for routes the client has no method for). */
export async function fetchJson<S extends z.ZodType>(schema: S, path: string, method: 'GET' | 'POST' = 'GET'): Promise<z.output<S>> {
  const request = `${method} ${path}`
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: method === 'GET' ? {} : { 'x-weft-request': '1' },
    signal: AbortSignal.timeout(15_000),
  })
  if (res.status === 401) for (const listener of unauthorizedListeners) listener()
  let body: unknown
  try {
    body = await res.json()
  } catch {
    body = undefined
  }
  if (!res.ok) {
    const message = (body as { message?: unknown } | undefined)?.message
    const detail = typeof message === 'string' ? message : `${res.status} ${res.statusText}`
    throw new ApiError(`${request}: ${detail}`, res.status, { detail })
  }
  return parseResponse(schema, body, request)
}

/** Where the model after `round` of a job downloads from. */
export function modelUrl(jobId: string, round: number | 'last'): string {
  return api.modelUrl(jobId, round)
}

// --- The event stream: one EventSource for the whole page, fanned out to subscribers. ---

export type StreamEventType = keyof StreamEvents
export type StreamStatus = 'connecting' | 'live' | 'reconnecting'

const STREAM_TYPES: readonly StreamEventType[] = ['sample', 'peer', 'connection', 'job']
/** EventSource gives up for good when an answer is not a stream (a 401, a proxy's 502): retry after this. */
const REOPEN_DELAY_MS = 3000

const handlers: { [K in StreamEventType]: Set<(data: StreamEvents[K]) => void> } = {
  sample: new Set(),
  peer: new Set(),
  connection: new Set(),
  job: new Set(),
}
const statusListeners = new Set<(status: StreamStatus) => void>()
let source: EventSource | undefined
let status: StreamStatus = 'connecting'
let reopenTimer: ReturnType<typeof setTimeout> | undefined

function setStatus(next: StreamStatus): void {
  if (next === status) return
  status = next
  for (const listener of statusListeners) listener(status)
}

/** Hands a stream event to its subscribers if it has the shape of its kind; a malformed one is dropped with a warning. */
function dispatch<K extends StreamEventType>(type: K, raw: string): void {
  let data: StreamEvents[K]
  try {
    data = parseResponse(streamEventSchemas[type], JSON.parse(raw), `event '${type}' of GET /v1/stream`) as StreamEvents[K]
  } catch (err) {
    console.warn((err as Error).message)
    return
  }
  for (const handler of handlers[type]) handler(data)
}

function open(): void {
  const stream = new EventSource('/v1/stream')
  source = stream
  stream.onopen = () => setStatus('live')
  stream.onerror = () => {
    setStatus('reconnecting')
    if (stream.readyState !== EventSource.CLOSED) return // the browser retries by itself
    source = undefined
    reopenTimer = setTimeout(openIfNeeded, REOPEN_DELAY_MS)
  }
  for (const type of STREAM_TYPES) stream.addEventListener(type, (event) => dispatch(type, event.data))
}

function subscriberCount(): number {
  return statusListeners.size + STREAM_TYPES.reduce((sum, type) => sum + handlers[type].size, 0)
}

function openIfNeeded(): void {
  reopenTimer = undefined
  if (source === undefined && subscriberCount() > 0) open()
}

function closeIfUnused(): void {
  if (subscriberCount() > 0) return
  source?.close()
  source = undefined
  clearTimeout(reopenTimer)
  setStatus('connecting')
}

/** Calls `handler` with each `type` event of the stream until the returned function is called. */
export function subscribe<K extends StreamEventType>(type: K, handler: (data: StreamEvents[K]) => void): () => void {
  handlers[type].add(handler)
  openIfNeeded()
  return () => {
    handlers[type].delete(handler)
    closeIfUnused()
  }
}

/** Calls `listener` with the stream's status now and on each change, until the returned function is called. */
export function watchStreamStatus(listener: (status: StreamStatus) => void): () => void {
  statusListeners.add(listener)
  openIfNeeded()
  listener(status)
  return () => {
    statusListeners.delete(listener)
    closeIfUnused()
  }
}
