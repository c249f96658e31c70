// The data-set routes on the control API (/v1/datasets): a public data set fetched by CID from the mesh into the
// node's data directory. The node writes only its own folder (`<dataDir>/datasets/<name>`), never a path a caller names.
import type { Context, Hono } from 'hono'
import type { DatasetCache } from './components/datasets.js'
import { MESH_DATASETS, type MeshDatasetName } from './mesh-datasets.js'

const MAX_CID = 256

/** The HTTP answer for a failed fetch, by the error's name. */
function refusal(err: Error): { status: 400 | 502 | 500; error: string } {
  switch (err.name) {
    case 'InvalidCidError':
    case 'WrongKindError':
      return { status: 400, error: 'bad-request' }
    case 'DatasetFetchError':
      return { status: 502, error: 'fetch-failed' }
    case 'ChecksumMismatchError':
      return { status: 502, error: 'bad-content' }
    default:
      return { status: 500, error: 'internal' }
  }
}

/** Mounts /v1/datasets on `app`. `datasets()` undefined: the routes answer 503. */
export function mountDatasets(app: Hono, datasets: () => DatasetCache | undefined): void {
  app.post('/v1/datasets/:name/fetch', async (c: Context) => {
    const d = datasets()
    if (d === undefined) return c.json({ error: 'unavailable', message: 'the data sets are not loaded on this node' }, 503)
    const name = c.req.param('name') ?? ''
    if (!(MESH_DATASETS as readonly string[]).includes(name)) {
      return c.json({ error: 'not-found', message: `no data set "${name.slice(0, 64)}" is fetched by CID; known: ${MESH_DATASETS.join(', ')}` }, 404)
    }
    const body = (await c.req.json().catch(() => ({}))) as { cid?: unknown }
    if (body.cid !== undefined && (typeof body.cid !== 'string' || body.cid.length === 0 || body.cid.length > MAX_CID)) {
      return c.json({ error: 'bad-request', message: `cid must be a CID string of at most ${MAX_CID} characters` }, 400)
    }
    try {
      // Long-running: answers when the files are written; a closed request aborts the fetch.
      const got = await d.fetchFromMesh(name as MeshDatasetName, { signal: c.req.raw.signal, ...(body.cid === undefined ? {} : { cid: body.cid }) })
      return c.json(got)
    } catch (err) {
      const { status, error } = refusal(err as Error)
      return c.json({ error, message: (err as Error).message }, status)
    }
  })
}
