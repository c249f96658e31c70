// The HTTP client of a node's control API (/v1): fetch only, so it runs in Node and in browsers; every JSON answer
// is checked against its view schema before it is returned.
import type { z } from 'zod'
import { ApiError, type ApiIssue, MalformedResponseError, NodeNotRunningError } from './errors.js'
import {
  cancelledJobSchema,
  type JobEvents,
  jobEventsSchema,
  type JobList,
  jobListSchema,
  type JobView,
  jobViewSchema,
  type SubmittedJob,
  submittedJobSchema,
} from './job-views.js'
import { type MembershipView, membershipViewSchema, type PostedRevocation, postedRevocationSchema } from './membership-views.js'
import {
  type FabricJobCost,
  type FabricJobList,
  type FabricJobLogs,
  type FabricJobView,
  fabricJobCostSchema,
  fabricJobListSchema,
  fabricJobLogsSchema,
  fabricJobViewSchema,
  type LedgerCheck,
  type LedgerPage,
  ledgerCheckSchema,
  ledgerPageSchema,
  type ReputationView,
  reputationViewSchema,
  type WorkView,
  workViewSchema,
} from './orchestration-views.js'
import { parseResponse } from './parse-response.js'
import {
  type StoreGcView,
  type StoreImportView,
  type StoreListView,
  type StorePublishedModelView,
  type StoreRootView,
  type StoreStatView,
  type StoreAnnounceView,
  type StoreFetchView,
  type StoreForgetView,
  type StoreReplicationView,
  type StoreFetchProgressView,
  type StoreUnannounceView,
  storeUnannounceViewSchema,
  type DatasetFetchView,
  datasetFetchViewSchema,
  storeAnnounceViewSchema,
  storeFetchProgressViewSchema,
  storeFetchViewSchema,
  storeGcViewSchema,
  storeImportViewSchema,
  storeListViewSchema,
  storePublishedModelViewSchema,
  storeForgetViewSchema,
  storeReplicationViewSchema,
  storeRootViewSchema,
  storeStatViewSchema,
} from './store-views.js'
import { leftSwarmViewSchema, type SwarmView, swarmListViewSchema, swarmViewSchema } from './swarm-views.js'
import { type CompletionChunk, completionChunkSchema, type InferenceView, inferenceViewSchema, type ServedView, servedViewSchema } from './inference-views.js'
import {
  type MeshView,
  meshViewSchema,
  type NodeView,
  nodeViewSchema,
  type PeerView,
  peerListSchema,
  peerViewSchema,
  type TelemetryView,
  telemetryViewSchema,
} from './views.js'

export interface ApiClientInit {
  /** The API's base URL, e.g. `http://127.0.0.1:7070`; '' for the page's own origin (the dashboard). */
  readonly url: string
  /** Bearer token, sent as `Authorization: Bearer <token>`. */
  readonly token?: string
  /** Per-request time limit (default 15 s; long polls and model downloads add to it). */
  readonly timeoutMs?: number
  /** Cookie policy of each request (the dashboard: 'same-origin', so the login cookie goes along). */
  readonly credentials?: RequestCredentials
  /** Called whenever the node answers 401 (it wants its API token). */
  readonly onUnauthorized?: () => void
  /** The fetch to call (default: the global one). */
  readonly fetch?: typeof fetch
}

export interface ApiClient {
  /** The base URL, without a trailing slash. */
  readonly url: string
  node(): Promise<NodeView>
  peers(status?: 'alive' | 'gone'): Promise<PeerView[]>
  peer(peerId: string, source?: 'table' | 'dht'): Promise<PeerView>
  /** The Prometheus exposition text of GET /metrics. */
  metrics(): Promise<string>
  /** The mesh as a graph with fabric-wide totals. */
  mesh(): Promise<MeshView>
  /** This node's telemetry samples after `since` (epoch ms; default: all kept). */
  telemetry(since?: number): Promise<TelemetryView>
  /** Submits a federated job (an object, or YAML/JSON text) to this node, or through it to the node `to`, which coordinates it. */
  submitJob(spec: unknown, to?: string): Promise<SubmittedJob>
  jobs(): Promise<JobList>
  job(id: string): Promise<JobView>
  /** Events after `after`, waiting up to `waitSeconds` for one. */
  jobEvents(id: string, after: number, waitSeconds?: number): Promise<JobEvents>
  /** @throws ApiError 409 `not-running` when the job is not running on this node */
  cancelJob(id: string): Promise<void>
  /** The job's model artifact after `round`, and the round it is from. */
  jobModel(id: string, round: number | 'last'): Promise<{ bytes: Uint8Array; round: number }>
  /** Where the model artifact after `round` downloads from (for a link). */
  modelUrl(id: string, round: number | 'last'): string
  /** The node's mesh authority, its certificate and the revocations it holds. */
  membership(): Promise<MembershipView>
  /**
   * Gives the node a revocation signed by the mesh authority (an encoded SignedRevocation, `weft mesh revoke`); the
   * node keeps it and gossips it. @throws ApiError 400 when it does not verify, 409 when the node has no authority
   */
  postRevocation(signed: Uint8Array): Promise<PostedRevocation>
  /** The block store's roots and usage. */
  storeList(): Promise<StoreListView>
  /** A root (or a complete DAG) of the store. @throws ApiError 404 when unknown here */
  storeStat(cid: string): Promise<StoreStatView>
  /**
   * Adds a file's bytes (a stream, so nothing is held in memory) and returns its root, pinned unless `pin` is false;
   * `announce` also serves it to the mesh and provides it in the DHT (never for private artifacts).
   * @throws ApiError 413 `store-full` past the node's quota
   */
  storeAddFile(body: BodyInit, options?: { name?: string; pin?: boolean; size?: number; announce?: boolean }): Promise<StoreRootView>
  /** Adds a directory over roots already in the store. */
  storeAddDirectory(entries: readonly { name: string; cid: string }[], options?: { name?: string; pin?: boolean }): Promise<StoreRootView>
  /** Imports a CAR file's bytes; its roots are pinned unless `pin` is false. */
  storeImportCar(body: BodyInit, options?: { pin?: boolean; size?: number }): Promise<StoreImportView>
  storePin(cid: string, name?: string): Promise<StoreRootView>
  storeUnpin(cid: string): Promise<StoreRootView>
  storeGc(): Promise<StoreGcView>
  /**
   * Fetches a DAG from the mesh into the node's store (long-running: answers when complete), then pins it.
   * @throws ApiError 404 `no-providers` when no provider could deliver it
   */
  storeFetch(cid: string, options?: { providers?: readonly string[]; onProgress?: (progress: StoreFetchProgressView) => void }): Promise<StoreFetchView>
  /** Stops serving a root to the mesh (it stays pinned here). @throws ApiError 404 when it was not announced */
  storeUnannounce(cid: string): Promise<StoreUnannounceView>
  /** Serves a complete DAG to the mesh and provides it in the DHT (never call it for private artifacts). */
  storeAnnounce(cid: string): Promise<StoreAnnounceView>
  /** What this node serves for inference and what the mesh serves. */
  inference(): Promise<InferenceView>
  /** Starts (or takes part in) a swarm from a spec; its id is the spec's CID. @throws ApiError 400 naming the bad field */
  startSwarm(spec: unknown): Promise<SwarmView>
  /** Joins a running swarm by id (fetches its spec and latest state). */
  joinSwarm(id: string): Promise<SwarmView>
  /** The swarms this node trains in. */
  swarms(): Promise<SwarmView[]>
  /** One swarm's status as this node sees it. @throws ApiError 404 when this node is not in it */
  swarm(id: string): Promise<SwarmView>
  /** Leaves a swarm. */
  leaveSwarm(id: string): Promise<void>
  /**
   * Serves a span of a checkpoint in the node's store (by CID; fetched from the mesh when missing): `blocks` as
   * [start, end), or 'auto' with `count` blocks. @throws ApiError 400/404 naming what is wrong
   */
  serveModel(request: { model: string; blocks?: readonly [number, number] | 'auto'; count?: number; engine?: 'tfjs' | 'torch' }): Promise<ServedView>
  /**
   * Streams a completion through the mesh (POST /v1/completions with `stream`), calling `onChunk` with each piece.
   * @returns the last chunk (finish reason, usage, Weft's route and events)
   */
  complete(request: { model: string; prompt: string; max_tokens?: number; temperature?: number; top_p?: number; seed?: number; stop?: string[] }, onChunk: (text: string) => void): Promise<CompletionChunk>
  /**
   * Keeps `factor` copies of a complete root on the mesh (it is announced): the node records the target, asks peers
   * to pull it now and repairs it as holders leave; answers after the first round with the holders seen.
   * @throws ApiError 400 on a bad target, 409 `incomplete` when the root is not complete on the node
   */
  storeReplicate(cid: string, target: { factor: number; labels?: readonly string[]; distinct?: string }): Promise<StoreReplicationView>
  /** Ends a root's replication target on the node and on the holders it reaches (DELETE /v1/store/:cid/replicate). */
  storeForget(cid: string): Promise<StoreForgetView>
  /** A file root's bytes as a stream, with its size. @throws ApiError 409 `incomplete` when blocks are missing */
  storeContent(cid: string): Promise<{ size: number | undefined; body: ReadableStream<Uint8Array> }>
  /** A CAR v1 of a complete DAG, as a stream. */
  storeExportCar(cid: string): Promise<ReadableStream<Uint8Array>>
  /** Puts a federated job's model artifact after `round` into the store, pinned. */
  storePublishModel(job: string, round: number | 'last'): Promise<StorePublishedModelView>
  /**
   * Fetches a public data set by CID from the mesh into the node's data directory (long-running), files checked.
   * @throws ApiError 502 `fetch-failed` (no provider, out of time) or `bad-content` (not the data set's files)
   */
  datasetFetch(name: string, options?: { cid?: string }): Promise<DatasetFetchView>
  /** The jobs this node owns on the mesh (placed by its scheduler) and those it heard of (GET /v1/jobs). */
  fabricJobs(): Promise<FabricJobList>
  /** One job this node owns. @throws ApiError 404 naming the owner when another node owns it */
  fabricJob(id: string): Promise<FabricJobView>
  /**
   * Submits a job of kind fl, swarm, serve or batch (the spec as written) to this node, which owns its scheduling.
   * @throws ApiError 400 naming every bad field
   */
  submitFabricJob(spec: unknown): Promise<FabricJobView>
  /** The job's events from index `after` (0: all kept), the index to ask from next, and its state. */
  fabricJobLogs(id: string, after?: number): Promise<FabricJobLogs>
  /** Usage and credits per placement, the total and the receipts' credit. */
  fabricJobCost(id: string): Promise<FabricJobCost>
  /** Cancels a job this node owns (its placements are released); answers the job as it ended. */
  cancelFabricJob(id: string): Promise<FabricJobView>
  /** This node's work offer, what is reserved, and the placements it holds. */
  work(): Promise<WorkView>
  /** A page of this node's ledger from entry `from` (1 is the first; default 1), at most `limit` (default 100, ≤ 256). */
  ledger(from?: number, limit?: number): Promise<LedgerPage>
  /** Fetches a node's whole ledger (default this node's) and verifies it; the credits when whole. */
  verifyLedger(node?: string): Promise<LedgerCheck>
  /** Workers' valid and invalid results as this node recorded them. */
  reputation(): Promise<ReputationView>
}

/** Codes of a connection that died under a request (Node's fetch puts them on the error's cause). */
const CONNECTION_DIED = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNRESET', 'EPIPE'])

/** Whether a fetch failed because its connection died before an answer (not a refusal, a timeout or an abort). */
function connectionDied(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause
  return err instanceof TypeError && typeof cause?.code === 'string' && CONNECTION_DIED.has(cause.code)
}

function toBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary)
}

/** Transfers of store content may be long: they get an hour, not the default request time. */
const TRANSFER_MS = 3_600_000

interface RequestInit_ {
  readonly method?: 'GET' | 'POST' | 'DELETE'
  readonly body?: unknown
  /** Bytes sent as they are, with this content type (store uploads). */
  readonly bytes?: { readonly body: BodyInit; readonly contentType: string; readonly size?: number }
  readonly timeoutMs?: number
  /**
   * Sending it twice does what sending it once does (a GET, a content-addressed upload): sent again once when the
   * connection dies before an answer (a kept-alive socket the node had just closed), if its body can be sent again.
   */
  readonly idempotent?: boolean
  /** The Accept header (a progress stream). */
  readonly accept?: string
}

function isIssue(value: unknown): value is ApiIssue {
  const issue = value as Partial<ApiIssue> | null
  return typeof issue?.path === 'string' && typeof issue.message === 'string'
}

async function errorOf(res: Response, request: string): Promise<ApiError> {
  let body: { error?: unknown; message?: unknown; issues?: unknown } = {}
  try {
    body = (await res.json()) as typeof body
  } catch {
    // Not JSON (a proxy's error page): the status text has to do.
  }
  const detail = typeof body.message === 'string' ? body.message : `${res.status} ${res.statusText}`
  return new ApiError(`${request}: ${res.status} ${typeof body.message === 'string' ? body.message : res.statusText}`, res.status, {
    detail,
    ...(typeof body.error === 'string' ? { code: body.error } : {}),
    issues: Array.isArray(body.issues) ? body.issues.filter(isIssue) : [],
  })
}

/**
 * A client of the control API at `init.url`.
 * @throws TypeError when `init.url` is not a string
 */
export function createApiClient(init: ApiClientInit): ApiClient {
  if (typeof init.url !== 'string') throw new TypeError(`createApiClient: url must be a string, got ${typeof init.url}`)
  const base = init.url.replace(/\/+$/, '')
  const timeoutMs = init.timeoutMs ?? 15_000
  const fetchFn = init.fetch ?? ((input: RequestInfo | URL, options?: RequestInit) => globalThis.fetch(input, options))
  const enc = encodeURIComponent

  /** @throws NodeNotRunningError when there is no answer; ApiError on a status other than 2xx */
  async function send(path: string, options: RequestInit_ = {}): Promise<Response> {
    const method = options.method ?? 'GET'
    const headers: Record<string, string> = {}
    if (init.token !== undefined) headers['authorization'] = `Bearer ${init.token}`
    if (method !== 'GET') headers['x-weft-request'] = '1'
    if (options.accept !== undefined) headers['accept'] = options.accept
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    if (options.bytes !== undefined) {
      headers['content-type'] = options.bytes.contentType
      if (options.bytes.size !== undefined) headers['x-weft-size'] = String(options.bytes.size)
    }
    const attempt = () =>
      fetchFn(`${base}${path}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        // A stream body needs half-duplex (fetch's rule for request streams).
        ...(options.bytes === undefined ? {} : { body: options.bytes.body, duplex: 'half' }),
        ...(init.credentials === undefined ? {} : { credentials: init.credentials }),
        signal: AbortSignal.timeout(options.timeoutMs ?? timeoutMs),
      })
    const replayable = options.bytes === undefined || !(options.bytes.body instanceof ReadableStream)
    let res: Response
    try {
      try {
        res = await attempt()
      } catch (err) {
        if (!((method === 'GET' || options.idempotent === true) && replayable && connectionDied(err))) throw err
        res = await attempt()
      }
    } catch (err) {
      throw new NodeNotRunningError(`cannot reach the node API${base === '' ? '' : ` at ${base}`}: ${(err as Error).message}`, { cause: err })
    }
    if (res.status === 401) init.onUnauthorized?.()
    if (!res.ok) throw await errorOf(res, `${method} ${path}`)
    return res
  }

  async function json<S extends z.ZodType>(schema: S, path: string, options: RequestInit_ = {}): Promise<z.output<S>> {
    const res = await send(path, options)
    const request = `${options.method ?? 'GET'} ${path}`
    let body: unknown
    try {
      body = await res.json()
    } catch (err) {
      throw new MalformedResponseError(`${request}: the node answered a malformed response: the body is not JSON (${(err as Error).message})`, request, '', {
        cause: err,
      })
    }
    return parseResponse(schema, body, request)
  }

  return Object.freeze({
    url: base,
    node: () => json(nodeViewSchema, '/v1/node'),
    peers: async (status?: 'alive' | 'gone') => (await json(peerListSchema, `/v1/peers${status === undefined ? '' : `?status=${status}`}`)).peers,
    peer: (peerId: string, source: 'table' | 'dht' = 'table') => json(peerViewSchema, `/v1/peers/${enc(peerId)}?source=${source}`),
    metrics: async () => (await send('/metrics')).text(),
    mesh: () => json(meshViewSchema, '/v1/mesh'),
    telemetry: (since?: number) => json(telemetryViewSchema, since === undefined ? '/v1/node/telemetry' : `/v1/node/telemetry?since=${since}`),
    submitJob: (spec: unknown, to?: string) =>
      json(submittedJobSchema, '/v1/fl/jobs', { method: 'POST', body: { spec, ...(to === undefined ? {} : { to }) }, timeoutMs: 60_000 }),
    jobs: () => json(jobListSchema, '/v1/fl/jobs'),
    job: (id: string) => json(jobViewSchema, `/v1/fl/jobs/${enc(id)}`),
    jobEvents: (id: string, after: number, waitSeconds = 0) =>
      json(jobEventsSchema, `/v1/fl/jobs/${enc(id)}/events?after=${after}&wait=${waitSeconds}`, { timeoutMs: timeoutMs + waitSeconds * 1000 }),
    cancelJob: async (id: string) => {
      await json(cancelledJobSchema, `/v1/fl/jobs/${enc(id)}/cancel`, { method: 'POST', body: {} })
    },
    membership: () => json(membershipViewSchema, '/v1/mesh/membership'),
    postRevocation: (signed: Uint8Array) => json(postedRevocationSchema, '/v1/mesh/revocations', { method: 'POST', body: { revocation: toBase64(signed) } }),
    jobModel: async (id: string, round: number | 'last') => {
      const res = await send(`/v1/fl/jobs/${enc(id)}/model?round=${round}`, { timeoutMs: 120_000 })
      return { bytes: new Uint8Array(await res.arrayBuffer()), round: Number(res.headers.get('x-weft-round') ?? Number.NaN) }
    },
    modelUrl: (id: string, round: number | 'last') => `${base}/v1/fl/jobs/${enc(id)}/model?round=${round}`,
    storeList: () => json(storeListViewSchema, '/v1/store'),
    storeStat: (cid: string) => json(storeStatViewSchema, `/v1/store/${enc(cid)}`, { timeoutMs: 120_000 }),
    inference: () => json(inferenceViewSchema, '/v1/inference', { timeoutMs: 30_000 }),
    startSwarm: (spec: unknown) => json(swarmViewSchema, '/v1/swarms', { method: 'POST', body: { spec }, timeoutMs: TRANSFER_MS }),
    joinSwarm: (id: string) => json(swarmViewSchema, `/v1/swarms/${enc(id)}/join`, { method: 'POST', body: {}, timeoutMs: TRANSFER_MS }),
    swarms: () => json(swarmListViewSchema, '/v1/swarms'),
    swarm: (id: string) => json(swarmViewSchema, `/v1/swarms/${enc(id)}`),
    leaveSwarm: async (id: string) => {
      await json(leftSwarmViewSchema, `/v1/swarms/${enc(id)}`, { method: 'DELETE', timeoutMs: TRANSFER_MS })
    },
    serveModel: (request: { model: string; blocks?: readonly [number, number] | 'auto'; count?: number; engine?: 'tfjs' | 'torch' }) =>
      json(servedViewSchema, '/v1/inference/serve', { method: 'POST', body: request, timeoutMs: TRANSFER_MS }),
    complete: async (request: Record<string, unknown>, onChunk: (text: string) => void): Promise<CompletionChunk> => {
      const res = await send('/v1/completions', { method: 'POST', body: { ...request, stream: true }, accept: 'text/event-stream', timeoutMs: TRANSFER_MS })
      const reader = (res.body as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let buffered = ''
      let last: CompletionChunk | undefined
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffered += decoder.decode(value, { stream: true })
        let end = buffered.indexOf('\n\n')
        while (end >= 0) {
          const event = buffered.slice(0, end)
          buffered = buffered.slice(end + 2)
          end = buffered.indexOf('\n\n')
          const data = event
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('\n')
          if (data === '' || data === '[DONE]') continue
          const parsed = JSON.parse(data) as { error?: { message: string } }
          if (parsed.error !== undefined) throw new Error(`the completion failed: ${parsed.error.message}`)
          last = parseResponse(completionChunkSchema, parsed, 'POST /v1/completions')
          const text = last.choices[0]?.text ?? ''
          if (text !== '') onChunk(text)
        }
      }
      if (last === undefined) throw new Error('POST /v1/completions: the stream ended without a chunk')
      return last
    },
    storeAddFile: (body: BodyInit, options: { name?: string; pin?: boolean; size?: number; announce?: boolean } = {}) =>
      json(storeRootViewSchema, `/v1/store/files?${storeQuery(options)}`, {
        method: 'POST',
        bytes: { body, contentType: 'application/octet-stream', ...(options.size === undefined ? {} : { size: options.size }) },
        timeoutMs: TRANSFER_MS,
        // Content-addressed: the same bytes make the same root.
        idempotent: true,
      }),
    storeAddDirectory: (entries: readonly { name: string; cid: string }[], options: { name?: string; pin?: boolean } = {}) =>
      json(storeRootViewSchema, '/v1/store/directories', { method: 'POST', body: { entries, ...options }, timeoutMs: 120_000, idempotent: true }),
    storeImportCar: (body: BodyInit, options: { pin?: boolean; size?: number } = {}) =>
      json(storeImportViewSchema, `/v1/store/car?${storeQuery(options)}`, {
        method: 'POST',
        bytes: { body, contentType: 'application/vnd.ipld.car', ...(options.size === undefined ? {} : { size: options.size }) },
        timeoutMs: TRANSFER_MS,
        idempotent: true,
      }),
    storePin: (cid: string, name?: string) =>
      json(storeRootViewSchema, `/v1/store/${enc(cid)}/pin`, { method: 'POST', body: name === undefined ? {} : { name }, timeoutMs: 120_000 }),
    storeUnpin: (cid: string) => json(storeRootViewSchema, `/v1/store/${enc(cid)}/unpin`, { method: 'POST', body: {} }),
    storeGc: () => json(storeGcViewSchema, '/v1/store/gc', { method: 'POST', body: {}, timeoutMs: 120_000 }),
    storeFetch: async (cid: string, options: { providers?: readonly string[]; onProgress?: (progress: StoreFetchProgressView) => void } = {}) => {
      const path = `/v1/store/${enc(cid)}/fetch`
      const body = options.providers === undefined ? {} : { providers: options.providers }
      if (options.onProgress === undefined) return json(storeFetchViewSchema, path, { method: 'POST', body, timeoutMs: TRANSFER_MS })
      const res = await send(path, { method: 'POST', body, timeoutMs: TRANSFER_MS, accept: 'application/x-ndjson' })
      return readFetchStream(res, `POST ${path}`, options.onProgress)
    },
    storeUnannounce: (cid: string) => json(storeUnannounceViewSchema, `/v1/store/${enc(cid)}/unannounce`, { method: 'POST', body: {} }),
    storeAnnounce: (cid: string) => json(storeAnnounceViewSchema, `/v1/store/${enc(cid)}/announce`, { method: 'POST', body: {}, timeoutMs: 120_000 }),
    storeReplicate: (cid: string, target: { factor: number; labels?: readonly string[]; distinct?: string }) =>
      json(storeReplicationViewSchema, `/v1/store/${enc(cid)}/replicate`, { method: 'POST', body: target, timeoutMs: TRANSFER_MS }),
    storeForget: (cid: string) => json(storeForgetViewSchema, `/v1/store/${enc(cid)}/replicate`, { method: 'DELETE', timeoutMs: TRANSFER_MS }),
    storeContent: async (cid: string) => {
      const res = await send(`/v1/store/${enc(cid)}/content`, { timeoutMs: TRANSFER_MS })
      const length = res.headers.get('content-length')
      if (res.body === null) throw new MalformedResponseError(`GET /v1/store/${cid}/content: the node answered no body`, 'content', '')
      return { size: length === null ? undefined : Number(length), body: res.body }
    },
    storePublishModel: (job: string, round: number | 'last') =>
      json(storePublishedModelViewSchema, '/v1/store/models', { method: 'POST', body: { job, round }, timeoutMs: 120_000 }),
    datasetFetch: (name: string, options: { cid?: string } = {}) =>
      json(datasetFetchViewSchema, `/v1/datasets/${enc(name)}/fetch`, { method: 'POST', body: options.cid === undefined ? {} : { cid: options.cid }, timeoutMs: TRANSFER_MS }),
    fabricJobs: () => json(fabricJobListSchema, '/v1/jobs'),
    fabricJob: (id: string) => json(fabricJobViewSchema, `/v1/jobs/${enc(id)}`),
    submitFabricJob: (spec: unknown) => json(fabricJobViewSchema, '/v1/jobs', { method: 'POST', body: { spec }, timeoutMs: 60_000 }),
    fabricJobLogs: (id: string, after = 0) => json(fabricJobLogsSchema, `/v1/jobs/${enc(id)}/logs?after=${after}`),
    fabricJobCost: (id: string) => json(fabricJobCostSchema, `/v1/jobs/${enc(id)}/cost`),
    cancelFabricJob: (id: string) => json(fabricJobViewSchema, `/v1/jobs/${enc(id)}`, { method: 'DELETE', timeoutMs: 60_000 }),
    work: () => json(workViewSchema, '/v1/work'),
    ledger: (from = 1, limit = 100) => json(ledgerPageSchema, `/v1/ledger?from=${from}&limit=${limit}`),
    verifyLedger: (node?: string) => json(ledgerCheckSchema, `/v1/ledger/verify${node === undefined ? '' : `?node=${enc(node)}`}`, { timeoutMs: 120_000 }),
    reputation: () => json(reputationViewSchema, '/v1/reputation'),
    storeExportCar: async (cid: string) => {
      const res = await send(`/v1/store/${enc(cid)}/car`, { timeoutMs: TRANSFER_MS })
      if (res.body === null) throw new MalformedResponseError(`GET /v1/store/${cid}/car: the node answered no body`, 'car', '')
      return res.body
    },
  })
}

/**
 * Reads a fetch's NDJSON progress stream: each progress line to `onProgress`, the last line as the result.
 * @throws ApiError for a `failed` or `error` line (as the JSON answer would); MalformedResponseError for a line that
 *   is not one of those, one over 64 KiB, or a stream that ends without a last line
 */
async function readFetchStream(res: Response, request: string, onProgress: (progress: StoreFetchProgressView) => void): Promise<StoreFetchView> {
  if (res.body === null) throw new MalformedResponseError(`${request}: the node answered no body`, request, '')
  const decoder = new TextDecoder()
  let buffer = ''
  const handle = (text: string): StoreFetchView | undefined => {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      throw new MalformedResponseError(`${request}: a progress line is not JSON`, request, '')
    }
    const type = (value as { type?: unknown }).type
    if (type === 'progress') {
      onProgress(parseResponse(storeFetchProgressViewSchema, value, request))
      return undefined
    }
    if (type === 'done') return parseResponse(storeFetchViewSchema, value, request)
    const failed = value as { status?: unknown; error?: unknown; message?: unknown }
    if (type === 'failed' || type === 'error') {
      const status = type === 'failed' ? 404 : typeof failed.status === 'number' ? failed.status : 500
      const detail = typeof failed.message === 'string' ? failed.message : 'the fetch failed'
      throw new ApiError(`${request}: ${status} ${detail}`, status, { detail, ...(typeof failed.error === 'string' ? { code: failed.error } : {}), issues: [] })
    }
    throw new MalformedResponseError(`${request}: a progress line has an unknown type`, request, '')
  }
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    let nl = buffer.indexOf('\n')
    while (nl >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (line.trim() !== '') {
        const last = handle(line)
        if (last !== undefined) return last
      }
      nl = buffer.indexOf('\n')
    }
    if (buffer.length > MAX_PROGRESS_LINE) throw new MalformedResponseError(`${request}: a progress line is over ${MAX_PROGRESS_LINE} characters`, request, '')
  }
  throw new MalformedResponseError(`${request}: the progress stream ended before the fetch did`, request, '')
}

/** The longest line a fetch's progress stream may send. */
const MAX_PROGRESS_LINE = 64 * 1024

function storeQuery(options: { name?: string; pin?: boolean; announce?: boolean }): string {
  const q = new URLSearchParams()
  if (options.announce === true) q.set('announce', 'true')
  if (options.name !== undefined) q.set('name', options.name)
  if (options.pin !== undefined) q.set('pin', String(options.pin))
  return q.toString()
}
