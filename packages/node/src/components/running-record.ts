// The last component to start: publishes `node.json` (pid, peer id, API URL) so `weft status` finds the node
// through its data directory, and the node's first complete ad. Stopping it first removes node.json.
import type { NodeComponentFactory } from '../component.js'
import { removeRunningNode, writeRunningNode } from '../data-dir.js'

export const runningRecordComponent: NodeComponentFactory = (ctx) => ({
  name: 'running-record',
  dependsOn: ['mesh', 'api', 'ads'],
  async start() {
    const mesh = ctx.get('mesh')
    const apiUrl = ctx.get('api').url
    writeRunningNode(ctx.config.dataDir, { pid: process.pid, peerId: mesh.peerId, apiUrl, startedAt: ctx.startedAt })
    await ctx.get('ads').publish()
    ctx.logger.info({ peerId: mesh.peerId, api: apiUrl, addrs: mesh.addresses() }, 'node started')
  },
  stop() {
    removeRunningNode(ctx.config.dataDir)
  },
})
