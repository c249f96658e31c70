// Federated learning's roles as node components: the coordinator (jobs submitted here), the client (jobs this node is
// invited to) and the site aggregator (`fl.aggregator`: the client role run on the site's members instead of local
// data). Each can run without the others. With a block store, they hand models out by CID for jobs that ask for it
// (`handout: 'cid'`).
import { createHash } from 'node:crypto'
import { createSiteAggregator, type ModelHandout } from '@weft/fl-mesh'
import type { DiskStore } from '@weft/store/node'
import type { NodeComponentFactory, NodeContext } from '../component.js'
import { startFlClient } from '../fl/client-role.js'
import { siteMembers } from '../fl/candidates.js'
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

/** The site aggregator, when this node runs one. */
const siteOf = (ctx: NodeContext) => {
  const site = ctx.find('flAggregator')
  return site === undefined ? {} : { site }
}

/**
 * The site aggregator (hierarchical FL, `fl.aggregator`): drives the site's members (peers of the peer table labelled
 * with its site) as their coordinator for each job the node joins; starts nothing without `fl.aggregator`.
 */
export const flAggregatorComponent: NodeComponentFactory = (ctx) => {
  let detach: (() => void) | undefined
  let removeActivities: (() => void) | undefined
  return {
    name: 'fl-aggregator',
    dependsOn: ['mesh', 'membership', 'peers', 'block-exchange'],
    start() {
      const config = ctx.config.fl.aggregator
      if (config === undefined) return
      const mesh = ctx.get('mesh')
      const peers = ctx.get('peers')
      const { authorize } = ctx.get('membership')
      const site = createSiteAggregator(
        {
          mesh,
          members: (spec) => siteMembers(config.site, spec, peers.list(), authorize, mesh.peerId),
          hash: { createSha256: () => createHash('sha256') },
          logger: ctx.logger.child({ component: 'fl-aggregator' }),
          ...handoutOf(ctx),
        },
        { site: config.site, maxMembers: config.maxMembers, ...(config.memberTimeoutMs === undefined ? {} : { memberTimeoutMs: config.memberTimeoutMs }) },
      )
      // A member whose last connection closed is dropped from its round at once, as a coordinator drops a client.
      const onDisconnect = (evt: CustomEvent<string>): void => {
        if (!mesh.connections().some((x) => x.peer === evt.detail)) site.memberGone(evt.detail, 'disconnected')
      }
      mesh.addEventListener('peer:disconnect', onDisconnect)
      detach = () => mesh.removeEventListener('peer:disconnect', onDisconnect)
      ctx.provide('flAggregator', site)
      removeActivities = ctx.addActivities(() =>
        site.jobs().map((j) => ({ kind: 'fl-aggregator', jobId: j.id, detail: `site ${config.site}: ${j.members.size} members` })),
      )
    },
    async stop() {
      const site = ctx.find('flAggregator')
      if (site === undefined) return
      removeActivities?.()
      detach?.()
      ctx.withdraw('flAggregator')
      await site.stop()
    },
  }
}

export const flCoordinatorComponent: NodeComponentFactory = (ctx) => {
  let removeActivities: (() => void) | undefined
  return {
    name: 'fl-coordinator',
    dependsOn: ['state', 'engines', 'mesh', 'membership', 'peers', 'datasets', 'store', 'block-exchange', 'fl-aggregator'],
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
        ...siteOf(ctx),
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
    dependsOn: ['engines', 'mesh', 'membership', 'datasets', 'block-exchange', 'fl-aggregator'],
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
        ...siteOf(ctx),
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
