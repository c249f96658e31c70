// The block store as a node component: opens `<dataDir>/store` (blocks on disk, the SQLite index) with the
// configured quota, and closes it at stop; its state feeds the weft_store_* gauges. The network part (providers,
// fetching from peers) is the block-exchange component.
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
      onCorruptBlock: (cid, problem) => {
        ctx.metrics.store.badBlocks.inc({ source: 'disk' })
        ctx.logger.warn({ cid, problem }, 'store: a corrupt block file was dropped; the block counts as missing')
      },
    })
    ctx.metrics.store.observe(() => store.usage())
    ctx.provide('store', store)
  },
  stop() {
    ctx.metrics.store.observe(undefined)
    const store = ctx.find('store')
    ctx.withdraw('store')
    store?.close()
  },
})
