// The peer table as a component: fed by verified ads (the ads component), told of connections, swept for expired
// ads every second, and mirrored in the peer gauges.
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { abortAfter } from '@weft/protocol'
import type { NodeComponentFactory } from '../component.js'
import { createPeerTable, type PeerEntry } from '../peer-table.js'

/** Addresses of one peer's ad taken into the peer store. */
const MAX_LEARNED_ADDRS = 16

export const peersComponent: NodeComponentFactory = (ctx) => {
  let release: (() => void) | undefined
  return {
    name: 'peers',
    dependsOn: ['state', 'mesh'],
    start() {
      const { metrics, logger } = ctx
      const mesh = ctx.get('mesh')
      const peers = createPeerTable(mesh.peerId, { state: ctx.get('state'), now: ctx.now }, { maxPeers: ctx.config.peers.max })
      const onConnect = (evt: CustomEvent<string>) => {
        peers.setConnected(evt.detail, true)
        metrics.connections.set(mesh.connections().length)
      }
      const onDisconnect = (evt: CustomEvent<string>) => {
        peers.setConnected(evt.detail, false)
        metrics.connections.set(mesh.connections().length)
      }
      const onGone = (entry: PeerEntry) => logger.info({ peer: entry.peerId, reason: entry.goneReason }, 'peer gone')
      // A peer known by its ad is dialable by its id: its addresses (relayed ones, for a node behind NAT that this node
      // never met) go into libp2p's peer store, where a call to the peer looks them up.
      const learnAddresses = (entry: PeerEntry) => {
        if (entry.connected) return
        try {
          const addrs = entry.ad.addrs.slice(0, MAX_LEARNED_ADDRS).map((a) => multiaddr(a))
          void mesh.libp2p.peerStore.merge(peerIdFromString(entry.peerId), { multiaddrs: addrs }).catch(() => undefined)
        } catch {
          // An address that does not parse: the peer stays reachable only as it was.
        }
      }
      const updateGauge = () => {
        const { alive, gone } = peers.counts()
        metrics.peers.set({ status: 'alive' }, alive)
        metrics.peers.set({ status: 'gone' }, gone)
      }
      mesh.addEventListener('peer:connect', onConnect)
      mesh.addEventListener('peer:disconnect', onDisconnect)
      peers.on('peer:gone', onGone)
      peers.on('peer:update', updateGauge)
      peers.on('peer:update', learnAddresses)
      peers.on('peer:gone', updateGauge)
      updateGauge()
      const sweep = setInterval(() => peers.sweep(), Math.min(1_000, ctx.config.ads.intervalMs))
      sweep.unref()
      ctx.provide('peers', peers)
      release = () => {
        clearInterval(sweep)
        mesh.removeEventListener('peer:connect', onConnect)
        mesh.removeEventListener('peer:disconnect', onDisconnect)
        peers.off('peer:gone', onGone)
        peers.off('peer:update', updateGauge)
        peers.off('peer:update', learnAddresses)
        peers.off('peer:gone', updateGauge)
      }
    },
    stop() {
      release?.()
      ctx.withdraw('peers')
    },
  }
}

/** A restarted node reconnects to the peers it knew recently: their last signed ads carry their addresses. */
export const redialComponent: NodeComponentFactory = (ctx) => {
  const abort = new AbortController()
  let dialing: Promise<unknown> | undefined
  return {
    name: 'redial',
    dependsOn: ['mesh', 'peers'],
    start() {
      const mesh = ctx.get('mesh')
      const recent = ctx
        .get('peers')
        .list()
        .filter((p) => ctx.now() - p.lastSeen < 3_600_000)
        .slice(0, 64)
      dialing = Promise.allSettled(
        recent.map(async (p) => {
          for (const addr of p.ad.addrs) {
            if (abort.signal.aborted) return
            try {
              await mesh.dial(addr.includes('/p2p/') ? addr : `${addr}/p2p/${p.peerId}`, { signal: abortAfter(3_000, abort.signal) })
              return
            } catch {}
          }
        }),
      )
    },
    async stop() {
      abort.abort()
      await dialing
    },
  }
}
