// The data-set cache: each configured data set is loaded once, to describe it in the ad, then to train and
// evaluate on it.
import type { InMemoryDataset } from '@weft/data'
import type { NodeComponentFactory } from '../component.js'
import type { DatasetConfig } from '../config.js'
import { loadLocalDataset } from '../local-datasets.js'

export interface DatasetCache {
  /** The data set, loaded at its first use (a failed load is tried again next time). */
  load(config: DatasetConfig): Promise<InMemoryDataset>
}

export const datasetsComponent: NodeComponentFactory = (ctx) => ({
  name: 'datasets',
  start() {
    const loaded = new Map<string, Promise<InMemoryDataset>>()
    ctx.provide('datasets', {
      load(ds) {
        const key = JSON.stringify(ds)
        let p = loaded.get(key)
        if (p === undefined) {
          p = loadLocalDataset(ds)
          p.catch(() => loaded.delete(key))
          loaded.set(key, p)
        }
        return p
      },
    })
  },
  stop() {
    ctx.withdraw('datasets')
  },
})
