// The block store as a node component: opens `<dataDir>/store` (blocks on disk, the SQLite index) with the
// configured quota, and closes it at stop. The network part (providers, fetching from peers) will build on it.
import { openDiskStore, storeDir } from '@weft/store/node'
import type { NodeComponentFactory } from '../component.js'

export const storeComponent: NodeComponentFactory = (ctx) => ({
  name: 'store',
  dependsOn: ['data-dir'],
  start() {
    if (!ctx.config.store.enabled) return
    const store = openDiskStore(storeDir(ctx.config.dataDir), {
      maxBytes: ctx.config.store.maxBytes,
      now: ctx.now,
      onCorruptBlock: (cid, problem) => ctx.logger.warn({ cid, problem }, 'store: a corrupt block file was dropped; the block counts as missing'),
    })
    ctx.provide('store', store)
  },
  stop() {
    const store = ctx.find('store')
    ctx.withdraw('store')
    store?.close()
  },
})
