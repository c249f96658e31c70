// Typed calls to the node's control API (/v1) and the one shared server-sent-events stream.
import type {
  JobEvents,
  JobList,
  JobView,
  MeshView,
  NodeView,
  PeerView,
  StreamEvents,
  SubmittedJob,
  TelemetryView,
} from './types'

/** An API answer other than 2xx (`{ error, message }`), or a request that got no answer (status 0). */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: number
  /** The server's error code, e.g. `invalid-spec`. */
  readonly code: string
  /** What was wrong where, when the server lists it (an invalid job spec). */
  readonly issues: readonly SpecIssue[]

  constructor(status: number, code: string, message: string, issues: readonly SpecIssue[] = []) {
    super(message)
    this.status = status
    this.code = code
    this.issues = issues
  }
}

export interface SpecIssue {
  readonly path: string
  readonly message: string
}

function isSpecIssue(value: unknown): value is SpecIssue {
  const issue = value as Partial<SpecIssue> | null
  return typeof issue?.path === 'string' && typeof issue.message === 'string'
}

const unauthorizedListeners = new Set<() => void>()

/** Calls `listener` whenever a request answers 401 (the node wants its API token). */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener)
  return () => {
    unauthorizedListeners.delete(listener)
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  let body: { error?: unknown; message?: unknown; issues?: unknown } = {}
  try {
    body = (await response.json()) as typeof body
  } catch {
    // Not JSON (a proxy's error page, say): the status text has to do.
  }
  const code = typeof body.error === 'string' ? body.error : `http-${response.status}`
  const message = typeof body.message === 'string' ? body.message : `${response.status} ${response.statusText}`
  const issues = Array.isArray(body.issues) ? body.issues.filter(isSpecIssue) : []
  return new ApiError(response.status, code, message, issues)
}

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, { credentials: 'same-origin', ...init })
  } catch (cause) {
    throw new ApiError(0, 'network', `The node did not answer (${String(cause)})`)
  }
  if (response.status === 401) for (const listener of unauthorizedListeners) listener()
  if (!response.ok) throw await errorOf(response)
  return (await response.json()) as T
}

/** Non-GET requests carry these so the server can tell them from cross-site forgeries. */
function post<T>(path: string, body: unknown): Promise<T> {
  return request<T>(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-weft-request': '1' },
    body: JSON.stringify(body),
  })
}

const enc = encodeURIComponent

export const api = Object.freeze({
  node: () => request<NodeView>('/v1/node'),
  /** Samples after `since` (epoch ms), or the last 30 minutes. */
  telemetry: (since?: number) => request<TelemetryView>(since === undefined ? '/v1/node/telemetry' : `/v1/node/telemetry?since=${since}`),
  mesh: () => request<MeshView>('/v1/mesh'),
  peer: (peerId: string) => request<PeerView>(`/v1/peers/${enc(peerId)}`),
  jobs: () => request<JobList>('/v1/fl/jobs'),
  job: (id: string) => request<JobView>(`/v1/fl/jobs/${enc(id)}`),
  jobEvents: (id: string, after = 0) => request<JobEvents>(`/v1/fl/jobs/${enc(id)}/events?after=${after}`),
  /** `spec` is YAML or JSON text, or an object. @throws ApiError `invalid-spec` with the reason in its message */
  submitJob: (spec: string | object) => post<SubmittedJob>('/v1/fl/jobs', { spec }),
  cancelJob: (id: string) => post<{ cancelled: boolean }>(`/v1/fl/jobs/${enc(id)}/cancel`, {}),
})

/** Where the model after `round` of a job downloads from. */
export function modelUrl(jobId: string, round: number | 'last'): string {
  return `/v1/fl/jobs/${enc(jobId)}/model?round=${round}`
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

function dispatch<K extends StreamEventType>(type: K, raw: string): void {
  let data: StreamEvents[K]
  try {
    data = JSON.parse(raw) as StreamEvents[K]
  } catch {
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
