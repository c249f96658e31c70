// Telemetry as a component: samples of this node's resource use for the dashboard, every telemetry.intervalMs.
import type { NodeComponentFactory } from '../component.js'
import { Telemetry } from '../telemetry.js'

/** How much telemetry history the node keeps for the dashboard. */
const TELEMETRY_HISTORY_MS = 30 * 60_000

export const telemetryComponent: NodeComponentFactory = (ctx) => ({
  name: 'telemetry',
  dependsOn: ['mesh', 'peers'],
  start() {
    const mesh = ctx.get('mesh')
    const peers = ctx.get('peers')
    const { intervalMs } = ctx.config.telemetry
    const telemetry = new Telemetry({
      intervalMs,
      capacity: Math.ceil(TELEMETRY_HISTORY_MS / intervalMs),
      now: ctx.now,
      traffic: ctx.traffic,
      connections: () => mesh.connections().length,
      peersAlive: () => peers.list().filter((p) => p.status === 'alive').length,
    })
    telemetry.sample()
    telemetry.start()
    ctx.provide('telemetry', telemetry)
  },
  stop() {
    ctx.get('telemetry').stop()
    ctx.withdraw('telemetry')
  },
})
