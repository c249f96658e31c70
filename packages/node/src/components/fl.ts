// Federated learning's two roles as node components: the coordinator (jobs submitted here) and the client (jobs
// this node is invited to). Either can run without the other. With a block store, both hand models out by CID for
// jobs that ask for it (`handout: 'cid'`).
import type { ModelHandout } from '@weft/fl-mesh'
import type { DiskStore } from '@weft/store/node'
import type { NodeComponentFactory, NodeContext } from '../component.js'
import { startFlClient } from '../fl/client-role.js'
import { startFlCoordinator } from '../fl/coordinator-role.js'
import { blockStoreHandout } from '../fl/model-handout.js'

/** Hand-outs by CID through the node's block store, when it has one (`store.enabled`). */
const handoutOf = (ctx: NodeContext): { handout?: ModelHandout } => {
  const store = ctx.find('store')
  const exchange = ctx.find('blockExchange')
  return store === undefined || exchange === undefined ? {} : { handout: blockStoreHandout(store, exchange) }
}

/** The node's block store, where the coordinator's FL store keeps its tensors, when it runs. */
const blockStoreOf = (ctx: NodeContext): { blockStore?: DiskStore } => {
  const store = ctx.find('store')
  return store === undefined ? {} : { blockStore: store }
}

export const flCoordinatorComponent: NodeComponentFactory = (ctx) => {
  let removeActivities: (() => void) | undefined
  return {
    name: 'fl-coordinator',
    dependsOn: ['state', 'engines', 'mesh', 'membership', 'peers', 'datasets', 'store', 'block-exchange'],
    async start() {
      const datasets = ctx.get('datasets')
      const role = await startFlCoordinator({
        mesh: ctx.get('mesh'),
        peers: ctx.get('peers'),
        authorize: ctx.get('membership').authorize,
        state: ctx.get('state'),
        engines: ctx.get('engines'),
        config: ctx.config,
        metrics: ctx.metrics,
        logger: ctx.logger,
        loadDataset: (ds) => datasets.load(ds),
        ...handoutOf(ctx),
        ...blockStoreOf(ctx),
      })
      ctx.provide('flCoordinator', role)
      removeActivities = ctx.addActivities(() => role.activities())
    },
    async stop() {
      removeActivities?.()
      const role = ctx.get('flCoordinator')
      ctx.withdraw('flCoordinator')
      await role.stop()
    },
  }
}

export const flClientComponent: NodeComponentFactory = (ctx) => {
  let removeActivities: (() => void) | undefined
  return {
    name: 'fl-client',
    dependsOn: ['engines', 'mesh', 'membership', 'datasets', 'block-exchange'],
    async start() {
      const datasets = ctx.get('datasets')
      const role = await startFlClient({
        mesh: ctx.get('mesh'),
        privateKey: ctx.get('privateKey'),
        authorize: ctx.get('membership').authorize,
        engines: ctx.get('engines'),
        config: ctx.config,
        metrics: ctx.metrics,
        logger: ctx.logger,
        loadDataset: (ds) => datasets.load(ds),
        ...handoutOf(ctx),
      })
      ctx.provide('flClient', role)
      removeActivities = ctx.addActivities(() => role.activities())
    },
    async stop() {
      removeActivities?.()
      const role = ctx.get('flClient')
      ctx.withdraw('flClient')
      await role.stop()
    },
  }
}
