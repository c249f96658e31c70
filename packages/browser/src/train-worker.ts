// The browser peer's Web Worker: one tfjs engine on WebAssembly (threads where the page is cross-origin isolated),
// training and evaluating one task at a time, so the page stays responsive while it learns.
import { fromShared, type InMemoryDataset, inMemoryDataset, isSharedDatasetDescriptor } from '@weft/data'
import type { Model } from '@weft/runtime'
import { type TfjsRuntime, tfjsRuntime } from '@weft/runtime-tfjs'
import type { FromWorker, ToWorker, WorkerDatasetSource } from './worker-protocol.js'

interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null
  postMessage(message: FromWorker, transfer?: Transferable[]): void
}
const scope = globalThis as unknown as WorkerScope

let runtime: TfjsRuntime | undefined
const datasets = new Map<string, InMemoryDataset>()
/** Models kept per spec, so successive rounds reuse the engine's tensors. */
const models = new Map<string, Model>()

const datasetOf = (source: WorkerDatasetSource): InMemoryDataset => {
  if (isSharedDatasetDescriptor(source)) return fromShared(source)
  const ds = datasets.get(source.id)
  if (ds === undefined) throw new Error(`the worker holds no data set ${source.id}`)
  return ds
}

const modelOf = async (spec: object): Promise<Model> => {
  if (runtime === undefined) throw new Error('the worker has not started its engine')
  const key = JSON.stringify(spec)
  let model = models.get(key)
  if (model === undefined) {
    model = await runtime.createModel(spec as Parameters<TfjsRuntime['createModel']>[0])
    models.set(key, model)
  }
  return model
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'init': {
      runtime = await tfjsRuntime({ backend: msg.backend, ...msg.wasm }, { log: () => {} })
      scope.postMessage({
        type: 'ready',
        backend: runtime.backend,
        threads: runtime.threads,
        isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
        ...(runtime.fallbackReason === undefined ? {} : { fallbackReason: runtime.fallbackReason }),
      })
      return
    }
    case 'dataset': {
      datasets.set(msg.id, inMemoryDataset({ ...msg.dataset, name: msg.id }))
      return
    }
    case 'train': {
      const model = await modelOf(msg.spec)
      model.setParams(msg.params)
      const dataset = datasetOf(msg.dataset)
      let last = 0
      const result = await model.train(dataset, {
        ...msg.options,
        // At most a few progress messages a second reach the page.
        onProgress: (progress) => {
          if (progress.step === progress.totalSteps || progress.elapsedMs - last >= 250) {
            last = progress.elapsedMs
            scope.postMessage({ type: 'progress', id: msg.id, progress })
          }
        },
      })
      const evaluation = msg.evaluate ? await model.evaluate(dataset) : undefined
      const params = model.getParams()
      scope.postMessage({ type: 'trained', id: msg.id, params, result, ...(evaluation === undefined ? {} : { evaluation }) }, [params.buffer as ArrayBuffer])
      return
    }
    case 'evaluate': {
      const model = await modelOf(msg.spec)
      model.setParams(msg.params)
      const evaluation = await model.evaluate(datasetOf(msg.dataset), msg.batchSize === undefined ? {} : { batchSize: msg.batchSize })
      scope.postMessage({ type: 'evaluated', id: msg.id, evaluation })
      return
    }
  }
}

let chain = Promise.resolve()
scope.onmessage = (event) => {
  const msg = event.data
  chain = chain.then(async () => {
    try {
      await handle(msg)
    } catch (err) {
      const e = err as Error
      const id = 'id' in msg && typeof msg.id === 'number' ? msg.id : -1
      scope.postMessage({ type: 'failed', id, name: e.name ?? 'Error', message: e.message ?? String(err) })
    }
  })
}
