// The data-set cache: each configured data set is loaded once, to describe it in the ad, then to train and
// evaluate on it. Fashion-MNIST found in no local source is fetched by CID from the mesh (the block exchange, found
// when it is needed) into `<dataDir>/datasets/fashion-mnist`, within a bounded time.
import type { InMemoryDataset } from '@weft/data'
import type { FashionMnistComponents } from '@weft/data/node'
import type { NodeComponentFactory } from '../component.js'
import type { DatasetConfig } from '../config.js'
import { loadLocalDataset } from '../local-datasets.js'
import { fetchFashionMnistFromMesh, type MeshDatasetInit, type MeshDatasetName, type MeshDatasetResult, meshDatasetDir } from '../mesh-datasets.js'

export interface DatasetCache {
  /** The data set, loaded at its first use (a failed load is tried again next time). */
  load(config: DatasetConfig): Promise<InMemoryDataset>
  /**
   * Fetches a public data set by CID from the mesh into `<dataDir>/datasets/<name>` (files checked); a fetch already
   * running for the same CID is shared.
   * @throws as `fetchFashionMnistFromMesh`
   */
  fetchFromMesh(name: MeshDatasetName, init?: MeshDatasetInit): Promise<MeshDatasetResult>
}

export const datasetsComponent: NodeComponentFactory = (ctx) => ({
  name: 'datasets',
  start() {
    const loaded = new Map<string, Promise<InMemoryDataset>>()
    const fetching = new Map<string, Promise<MeshDatasetResult>>()
    const fetchFromMesh: DatasetCache['fetchFromMesh'] = (name, init = {}) => {
      const key = `${name} ${init.cid ?? ''}`
      let p = fetching.get(key)
      if (p === undefined) {
        // Looked up now, not at start: the store and block exchange start after this component.
        const components = { store: ctx.find('store'), exchange: ctx.find('blockExchange') }
        p = fetchFashionMnistFromMesh(components, meshDatasetDir(ctx.config.dataDir, name), init).finally(() => fetching.delete(key))
        fetching.set(key, p)
      }
      return p
    }
    const fashionMnist: FashionMnistComponents = {
      meshDir: meshDatasetDir(ctx.config.dataDir, 'fashion-mnist'),
      fetchMesh: async () => {
        const got = await fetchFromMesh('fashion-mnist')
        ctx.logger.info({ cid: got.cid, dir: got.dir, fetched: got.fetched }, 'datasets: Fashion-MNIST fetched from the mesh')
      },
    }
    ctx.provide('datasets', {
      load(ds) {
        const key = JSON.stringify(ds)
        let p = loaded.get(key)
        if (p === undefined) {
          p = loadLocalDataset(ds, fashionMnist)
          p.catch(() => loaded.delete(key))
          loaded.set(key, p)
        }
        return p
      },
      fetchFromMesh,
    })
  },
  stop() {
    ctx.withdraw('datasets')
  },
})
