// The node's event stream (GET /v1/stream): telemetry samples, peer-table changes, connections and job events,
// fanned out to every subscriber.
import type { NodeComponentFactory } from '../component.js'
import type { PeerEntry } from '../peer-table.js'
import { peerView, type StreamEvent } from '../views.js'

export const eventStreamComponent: NodeComponentFactory = (ctx) => ({
  name: 'events',
  dependsOn: ['mesh', 'peers', 'telemetry'],
  start() {
    const mesh = ctx.get('mesh')
    const peers = ctx.get('peers')
    const telemetry = ctx.get('telemetry')
    ctx.provide('events', {
      subscribe(listener: (event: StreamEvent) => void): () => void {
        const onPeer = (entry: PeerEntry) => listener({ type: 'peer', peer: peerView(entry, ctx.traffic.of(entry.peerId)) })
        const onConnection = (connected: boolean) => (evt: CustomEvent<string>) => listener({ type: 'connection', peerId: evt.detail, connected })
        const onOpen = onConnection(true)
        const onClose = onConnection(false)
        const offSample = telemetry.onSample((sample) => listener({ type: 'sample', sample }))
        // Job events come from the coordinator role when this node runs one.
        const offJob = ctx.find('flCoordinator')?.onJobEvent((jobId, event) => listener({ type: 'job', jobId, event })) ?? (() => {})
        peers.on('peer:update', onPeer)
        peers.on('peer:gone', onPeer)
        mesh.addEventListener('peer:connect', onOpen)
        mesh.addEventListener('peer:disconnect', onClose)
        return () => {
          offSample()
          offJob()
          peers.off('peer:update', onPeer)
          peers.off('peer:gone', onPeer)
          mesh.removeEventListener('peer:connect', onOpen)
          mesh.removeEventListener('peer:disconnect', onClose)
        }
      },
    })
  },
  stop() {
    ctx.withdraw('events')
  },
})
