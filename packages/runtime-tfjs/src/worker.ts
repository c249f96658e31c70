// Worker-thread entry of the worker pool: one tfjs engine per thread, training tasks one at a time.
import { parentPort, workerData } from 'node:worker_threads'
import { fromShared, isSharedDatasetDescriptor } from '@weft/data'
import { type Dataset, DatasetSourceError, type Model } from '@weft/runtime'
import { tfjsRuntime } from './tfjs-runtime.js'
import type { WorkerInit, WorkerRequest, WorkerResponse } from './worker-protocol.js'

const init = workerData as WorkerInit
const port = parentPort
if (port === null) throw new Error('worker.js must run in a worker thread')

const runtime = await tfjsRuntime({ backend: init.backend }, { log: () => {} })
type Resolver = (source: unknown) => Dataset | undefined | Promise<Dataset | undefined>
let resolver: Resolver | undefined
if (init.resolver !== undefined) {
  const mod = (await import(init.resolver)) as { resolveDataset?: Resolver }
  if (typeof mod.resolveDataset !== 'function') throw new Error(`${init.resolver} does not export resolveDataset`)
  resolver = mod.resolveDataset
}
/** Models kept per spec, so successive tasks reuse tensors instead of rebuilding the graph. */
const models = new Map<string, Model>()

async function resolve(source: WorkerRequest['dataset']): Promise<Dataset> {
  if (isSharedDatasetDescriptor(source)) return fromShared(source)
  const ds = resolver === undefined ? undefined : await resolver(source)
  if (ds === undefined) throw new DatasetSourceError(`no resolver for data set kind ${JSON.stringify(source.kind)}`)
  return ds
}

async function run(req: WorkerRequest): Promise<WorkerResponse> {
  const key = JSON.stringify(req.spec)
  let model = models.get(key)
  if (model === undefined) {
    model = await runtime.createModel(req.spec)
    models.set(key, model)
  }
  model.setParams(req.params)
  const dataset = await resolve(req.dataset)
  if (req.type === 'evaluate') {
    const evaluation = await model.evaluate(dataset, req.batchSize === undefined ? {} : { batchSize: req.batchSize })
    return { type: 'evaluated', id: req.id, evaluation }
  }
  const result = await model.train(dataset, req.options)
  const evaluation = req.evaluate === true ? await model.evaluate(dataset) : undefined
  return { type: 'done', id: req.id, params: model.getParams(), result, ...(evaluation === undefined ? {} : { evaluation }) }
}

let chain = Promise.resolve()
port.on('message', (req: WorkerRequest) => {
  chain = chain.then(async () => {
    try {
      const res = await run(req)
      port.postMessage(res, res.type === 'done' ? [res.params.buffer as ArrayBuffer] : [])
    } catch (err) {
      const e = err as Error
      port.postMessage({ type: 'failed', id: req.id, name: e.name ?? 'Error', message: e.message ?? String(err) } satisfies WorkerResponse)
    }
  })
})
port.postMessage({
  type: 'ready',
  backend: runtime.backend,
  ...(runtime.fallbackReason === undefined ? {} : { fallbackReason: runtime.fallbackReason }),
} satisfies WorkerResponse)
