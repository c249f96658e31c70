// The block store's routes on the control API (/v1/store). Files and CAR files are uploaded as raw bytes
// (`application/octet-stream`, `application/vnd.ipld.car`), streamed into the store; the store's quota is their
// size limit. The node never reads a path named by a caller: any local user may call a loopback API, and a path
// would let them read the node's own files (its identity key) through the store.
import { CAR_CONTENT_TYPE, type CID, InvalidDirectoryError, parseCid } from '@weft/store'
import type { DiskStore } from '@weft/store/node'
import type { Context, Hono } from 'hono'
import type { FetchDagResult } from './block-fetch.js'
import type { BlockExchange } from './components/block-exchange.js'
import type { Replication } from './components/replication.js'
import type { FlService } from './fl/fl-service.js'

/** Routes whose body is bytes, not JSON, with the content types each takes. */
export const STORE_BYTE_ROUTES: ReadonlyMap<string, readonly string[]> = new Map([
  ['/v1/store/files', ['application/octet-stream']],
  ['/v1/store/car', [CAR_CONTENT_TYPE, 'application/octet-stream']],
])

const MAX_DIRECTORY_ENTRIES = 10_000
const MAX_NAME = 255

type Status = 400 | 404 | 409 | 413 | 500

/** The HTTP answer for a store error, by its name. */
function refusal(err: unknown): { status: Status; error: string } {
  switch ((err as Error).name) {
    case 'InvalidCidError':
    case 'BlockMismatchError':
    case 'BlockTooLargeError':
    case 'InvalidCarError':
    case 'InvalidDirectoryError':
    case 'InvalidDagError':
    case 'WrongKindError':
      return { status: 400, error: 'bad-request' }
    case 'UnknownRootError':
      return { status: 404, error: 'not-found' }
    case 'BlocksMissingError':
      return { status: 409, error: 'incomplete' }
    case 'StoreFullError':
      return { status: 413, error: 'store-full' }
    default:
      return { status: 500, error: 'internal' }
  }
}

function fail(c: Context, err: unknown): Response {
  const { status, error } = refusal(err)
  return c.json({ error, message: (err as Error).message }, status)
}

/** A request body as a stream of byte chunks. */
async function* bodyChunks(c: Context): AsyncGenerator<Uint8Array> {
  const body = c.req.raw.body
  if (body === null) return
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) yield chunk
}

/** An upload's announced size (Content-Length, or X-Weft-Size for a streamed body), to refuse it before reading. */
function announcedSize(c: Context): number | undefined {
  const raw = c.req.header('content-length') ?? c.req.header('x-weft-size')
  const n = raw === undefined ? Number.NaN : Number(raw)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

function pinOf(c: Context): boolean | undefined {
  const q = c.req.query('pin')
  return q === undefined ? undefined : q !== 'false' && q !== '0'
}

function nameOf(raw: unknown): string | undefined {
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_NAME) throw new InvalidDirectoryError(`name must be a string of 1 to ${MAX_NAME} characters`)
  return raw
}

const MAX_PROVIDERS = 64

/** The media type of a fetch's progress stream: one JSON object a line. */
export const NDJSON = 'application/x-ndjson'

/** What a fetch did, as the API shows it. */
function fetchView(cid: CID, result: FetchDagResult) {
  const providers = Object.entries(result.providers).map(([peer, blocks]) => ({ peer, blocks }))
  return { cid: cid.toString(), blocks: result.blocks, bytes: result.bytes, providers, badBlocks: result.badBlocks, dropped: result.dropped }
}

/**
 * Runs a fetch and streams its progress as NDJSON: `{"type":"progress","blocks","bytes","providers"}` as blocks arrive,
 * then one last line: `{"type":"done","ok":true,…}` (the view the JSON answer has), `{"type":"failed","error":
 * "no-providers",…}` or `{"type":"error","error","message"}` (the store refused: a full quota). Closing the response
 * aborts the fetch (the blocks fetched stay: a later fetch resumes).
 */
function streamFetch(c: Context, x: BlockExchange, cid: CID, from: { providers?: string[] }): Response {
  const abort = new AbortController()
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    start(out) {
      const line = (value: object): void => {
        if (!abort.signal.aborted) out.enqueue(encoder.encode(`${JSON.stringify(value)}\n`))
      }
      const signal = AbortSignal.any([abort.signal, c.req.raw.signal])
      void x
        .fetch(cid, { signal, ...from, onProgress: (p) => line({ type: 'progress', blocks: p.blocks, bytes: p.bytes, providers: p.providers }) })
        .then((result) => {
          const view = fetchView(cid, result)
          line(result.ok ? { type: 'done', ok: true, ...view } : { type: 'failed', error: 'no-providers', message: result.detail, ...view })
        })
        .catch((err: unknown) => line({ type: 'error', ...refusal(err), message: (err as Error).message }))
        .finally(() => {
          if (!abort.signal.aborted) out.close()
        })
    },
    cancel() {
      abort.abort(new Error('the client closed the progress stream'))
    },
  })
  return new Response(body, { headers: { 'content-type': NDJSON, 'cache-control': 'no-store' } })
}

/** Mounts /v1/store on `app`. `store()` absent or undefined: the routes answer 503. */
export function mountStore(
  app: Hono,
  store: () => DiskStore | undefined,
  fl: () => FlService | undefined,
  exchange: () => BlockExchange | undefined = () => undefined,
  replication: () => Replication | undefined = () => undefined,
): void {
  const unavailable = { error: 'unavailable', message: 'the block store is not running on this node (store.enabled is false)' }
  const withStore =
    (handler: (c: Context, s: DiskStore) => Promise<Response> | Response) =>
    async (c: Context): Promise<Response> => {
      const s = store()
      if (s === undefined) return c.json(unavailable, 503)
      try {
        return await handler(c, s)
      } catch (err) {
        return fail(c, err)
      }
    }
  const exchangeUnavailable = { error: 'unavailable', message: 'the block exchange is not running on this node' }
  /** A store route that needs the block exchange too (503 when it is not running). */
  const withExchange = (handler: (c: Context, x: BlockExchange) => Promise<Response>) =>
    withStore(async (c) => {
      const x = exchange()
      if (x === undefined) return c.json(exchangeUnavailable, 503)
      return handler(c, x)
    })
  const cidParam = (c: Context): CID => parseCid(c.req.param('cid') ?? '')

  app.get(
    '/v1/store',
    withStore((c, s) => {
      const x = exchange()
      return c.json({ usage: s.usage(), roots: s.roots().map((r) => ({ ...r, announced: x?.announced(parseCid(r.cid)) ?? false })) })
    }),
  )
  app.post(
    '/v1/store/files',
    withStore(async (c, s) => {
      const size = announcedSize(c)
      if (size !== undefined) s.checkRoom(size)
      const name = nameOf(c.req.query('name'))
      const pin = pinOf(c)
      const announce = c.req.query('announce') === 'true'
      const x = exchange()
      if (announce && x === undefined) return c.json(exchangeUnavailable, 503)
      const root = await s.addFile(bodyChunks(c), { ...(name === undefined ? {} : { name }), ...(pin === undefined ? {} : { pin }) })
      if (announce) await x?.announce(parseCid(root.cid))
      return c.json({ ...root, announced: announce }, 201)
    }),
  )
  app.post(
    '/v1/store/car',
    withStore(async (c, s) => {
      const size = announcedSize(c)
      if (size !== undefined) s.checkRoom(size)
      const pin = pinOf(c)
      return c.json(await s.importCar(bodyChunks(c), pin === undefined ? {} : { pin }), 201)
    }),
  )
  app.post(
    '/v1/store/directories',
    withStore(async (c, s) => {
      const body = (await c.req.json().catch(() => undefined)) as { entries?: unknown; name?: unknown; pin?: unknown } | undefined
      const entries = body?.entries
      if (!Array.isArray(entries) || entries.length > MAX_DIRECTORY_ENTRIES) {
        return c.json({ error: 'bad-request', message: `the body must be { "entries": [{ "name", "cid" }, …] } with at most ${MAX_DIRECTORY_ENTRIES} entries` }, 400)
      }
      const parsed = entries.map((e: { name?: unknown; cid?: unknown }, i) => {
        if (typeof e?.name !== 'string' || typeof e.cid !== 'string') throw new InvalidDirectoryError(`entries[${i}] must have a string name and cid`)
        return { name: e.name, cid: parseCid(e.cid) }
      })
      const name = nameOf(body?.name)
      const root = await s.addDirectory(parsed, { ...(name === undefined ? {} : { name }), ...(typeof body?.pin === 'boolean' ? { pin: body.pin } : {}) })
      return c.json(root, 201)
    }),
  )
  app.post(
    '/v1/store/models',
    withStore(async (c, s) => {
      const service = fl()
      if (service === undefined) return c.json({ error: 'unavailable', message: 'federated learning is not running on this node' }, 503)
      const body = (await c.req.json().catch(() => undefined)) as { job?: unknown; round?: unknown } | undefined
      const job = body?.job
      const round = body?.round ?? 'last'
      if (typeof job !== 'string' || job.length === 0 || job.length > 128 || (round !== 'last' && !(Number.isInteger(round) && (round as number) >= 0))) {
        return c.json({ error: 'bad-request', message: `the body must be { "job": "<id>", "round"?: "last" | <round number> }` }, 400)
      }
      const model = service.exportModel(job, round as number | 'last')
      if (model === undefined) return c.json({ error: 'not-found', message: `no model of job ${job} at round ${String(round)}` }, 404)
      s.checkRoom(model.bytes.byteLength)
      const root = await s.addFile([model.bytes], { name: `${job}-round-${model.round}.weft` })
      return c.json({ ...root, job, round: model.round }, 201)
    }),
  )
  app.post(
    '/v1/store/gc',
    withStore((c, s) => c.json({ ...s.gc(), usage: s.usage() })),
  )
  app.get(
    '/v1/store/:cid',
    withStore(async (c, s) => {
      const cid = cidParam(c)
      const stat = await s.stat(cid)
      if (stat === undefined) return c.json({ error: 'not-found', message: `${cid} is not in this store` }, 404)
      const target = replication()?.status(cid)
      return c.json({
        ...stat,
        ...(stat.entries === undefined ? {} : { entries: stat.entries.map((e) => ({ name: e.name, cid: e.cid.toString(), dagSize: e.dagSize })) }),
        ...(target === undefined ? {} : { replication: target }),
      })
    }),
  )
  app.post(
    '/v1/store/:cid/pin',
    withStore(async (c, s) => {
      const body = (await c.req.json().catch(() => ({}))) as { name?: unknown }
      const name = nameOf(body.name)
      return c.json(await s.pin(cidParam(c), name === undefined ? {} : { name }))
    }),
  )
  app.post(
    '/v1/store/:cid/announce',
    withExchange(async (c, x) => {
      const cid = cidParam(c)
      await x.announce(cid)
      return c.json({ cid: cid.toString(), announced: true })
    }),
  )
  app.post(
    '/v1/store/:cid/fetch',
    withExchange(async (c, x) => {
      const cid = cidParam(c)
      const body = (await c.req.json().catch(() => ({}))) as { providers?: unknown }
      const providers = body.providers
      if (providers !== undefined && (!Array.isArray(providers) || providers.length > MAX_PROVIDERS || !providers.every((p) => typeof p === 'string' && p.length > 0 && p.length <= 128))) {
        return c.json({ error: 'bad-request', message: `providers must be an array of at most ${MAX_PROVIDERS} peer ids` }, 400)
      }
      const from = providers === undefined ? {} : { providers: providers as string[] }
      if ((c.req.header('accept') ?? '').includes(NDJSON)) return streamFetch(c, x, cid, from)
      // Long-running: answers when the DAG is complete here (or no provider is left); a closed request aborts it.
      const result = await x.fetch(cid, { signal: c.req.raw.signal, ...from })
      const view = fetchView(cid, result)
      if (!result.ok) return c.json({ error: 'no-providers', message: result.detail, ...view }, 404)
      return c.json({ ok: true, ...view })
    }),
  )
  app.post(
    '/v1/store/:cid/replicate',
    withStore(async (c) => {
      const r = replication()
      if (r === undefined) return c.json({ error: 'unavailable', message: 'replication is not running on this node' }, 503)
      const cid = cidParam(c)
      const body = (await c.req.json().catch(() => ({}))) as { factor?: unknown; labels?: unknown; distinct?: unknown }
      const { factor, labels, distinct } = body
      if (
        typeof factor !== 'number' ||
        (labels !== undefined && (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))) ||
        (distinct !== undefined && typeof distinct !== 'string')
      ) {
        return c.json({ error: 'bad-request', message: 'the body must be { "factor": <1..16>, "labels"?: ["key=value", …], "distinct"?: "<label key>" }' }, 400)
      }
      try {
        // Records the target and runs one check and repair round: answers with the holders it saw.
        const status = await r.replicate(cid, { factor, ...(labels === undefined ? {} : { labels: labels as string[] }), ...(distinct === undefined ? {} : { distinct }) })
        return c.json(status)
      } catch (err) {
        if (err instanceof RangeError) return c.json({ error: 'bad-request', message: err.message }, 400)
        throw err
      }
    }),
  )
  app.delete(
    '/v1/store/:cid/replicate',
    withStore(async (c) => {
      const r = replication()
      if (r === undefined) return c.json({ error: 'unavailable', message: 'replication is not running on this node' }, 503)
      const cid = cidParam(c)
      // Ends the target here and on the holders the last check saw; this node's own copy stays pinned.
      return c.json({ cid: cid.toString(), ...(await r.forget(cid)) })
    }),
  )
  app.post(
    '/v1/store/:cid/unpin',
    withStore(async (c, s) => {
      // Unpinned means no longer kept, so no longer served: the mesh must not count on it.
      const cid = cidParam(c)
      const row = s.unpin(cid)
      const unannounced = (await exchange()?.unannounce(cid)) ?? false
      return c.json({ ...row, unannounced })
    }),
  )
  app.post(
    '/v1/store/:cid/unannounce',
    withExchange(async (c, x) => {
      const cid = cidParam(c)
      if (!(await x.unannounce(cid))) return c.json({ error: 'not-found', message: `${cid} is not announced by this node` }, 404)
      return c.json({ cid: cid.toString(), announced: false })
    }),
  )
  app.get(
    '/v1/store/:cid/content',
    withStore(async (c, s) => {
      const cid = cidParam(c)
      const stat = await s.stat(cid)
      if (stat === undefined) return c.json({ error: 'not-found', message: `${cid} is not in this store` }, 404)
      if (stat.kind !== 'file') return c.json({ error: 'bad-request', message: `${cid} is a directory: get its entries (GET /v1/store/${cid})` }, 400)
      if (stat.missing > 0) return c.json({ error: 'incomplete', message: `${cid} is not complete in this store: ${stat.missing} blocks are missing` }, 409)
      return new Response(ReadableStream.from(s.cat(cid)), {
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(stat.size), 'x-weft-cid': cid.toString() },
      })
    }),
  )
  app.get(
    '/v1/store/:cid/car',
    withStore(async (c, s) => {
      const cid = cidParam(c)
      const car = await s.exportCar(cid)
      return new Response(ReadableStream.from(car), { headers: { 'content-type': CAR_CONTENT_TYPE } })
    }),
  )
}
