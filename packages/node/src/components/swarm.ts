// Serverless training as a node component: the swarms this node trains in (no coordinator), on its own data sets
// and its preferred engine, with specs and states in its block store.
import type { NodeComponentFactory } from '../component.js'
import { startSwarmRole } from '../swarm/swarm-role.js'

export const swarmComponent: NodeComponentFactory = (ctx) => ({
  name: 'swarm',
  dependsOn: ['engines', 'mesh', 'membership', 'datasets', 'store', 'block-exchange', 'replication'],
  async start() {
    const engines = ctx.get('engines')
    const datasets = ctx.get('datasets')
    const metrics = ctx.metrics.swarm
    const role = await startSwarmRole({
      mesh: ctx.get('mesh'),
      store: ctx.find('store'),
      blockExchange: ctx.find('blockExchange'),
      replication: ctx.find('replication'),
      member: (peer) => ctx.get('membership').member(peer),
      datasets: ctx.config.datasets,
      loadDataset: (ds) => datasets.load(ds),
      pool: () => ({ pool: engines.pool(), engine: engines.preferred }),
      logger: ctx.logger,
      now: ctx.now,
      onEvent: (_swarm, event) => {
        if (event.type === 'step') {
          const r = event.record
          metrics.outerSteps.inc()
          metrics.samples.inc(r.samples)
          metrics.bytesSent.inc(r.bytesSent)
          metrics.bytesReceived.inc(r.bytesReceived)
          metrics.trainSeconds.inc(r.trainSeconds)
          metrics.averageSeconds.observe(r.averageSeconds)
          metrics.failedParts.inc(r.failedParts)
          if (Number.isFinite(r.consensusDistance)) metrics.consensusDistance.set(r.consensusDistance)
          if (Number.isFinite(r.loss)) metrics.loss.set(r.loss)
          if (Number.isFinite(r.accuracy)) metrics.accuracy.set(r.accuracy)
        } else if (event.type === 'offence') metrics.offences.inc()
      },
    })
    ctx.provide('swarms', role)
  },
  async stop() {
    const role = ctx.find('swarms')
    ctx.withdraw('swarms')
    await role?.stop()
  },
})
