// Turns the ways callers name a peer (PeerId, id string, multiaddr string) into what libp2p dials.
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'

/** A peer: its PeerId, its id as a string, or a multiaddr (string starting with '/'). */
export type PeerTarget = PeerId | Multiaddr | string

/** Resolve a PeerTarget for libp2p's dial functions. */
export function toDialTarget(peer: PeerTarget): PeerId | Multiaddr {
  if (typeof peer !== 'string') {
    return peer
  }
  return peer.startsWith('/') ? multiaddr(peer) : peerIdFromString(peer)
}

/** The peer id a target names, if it names one (a multiaddr without /p2p/ does not). */
export function targetPeerId(peer: PeerTarget): string | undefined {
  if (typeof peer === 'string') return peer.startsWith('/') ? (multiaddr(peer).getComponents().findLast((c) => c.name === 'p2p')?.value ?? undefined) : peer
  if ('getComponents' in peer) return peer.getComponents().findLast((c) => c.name === 'p2p')?.value ?? undefined
  return peer.toString()
}
