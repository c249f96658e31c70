// The peer table: the one place that knows which peers exist and what they offer, fed only by verified ads.
import type { ResourceAd } from '@weft/protocol'
import { fromBinary } from '@bufbuild/protobuf'
import { ResourceAdSchema, SignedResourceAdSchema } from '@weft/protocol'
import type { NodeState } from './state.js'

export type PeerStatus = 'alive' | 'gone'

/** One known peer. */
export interface PeerEntry {
  readonly peerId: string
  readonly ad: ResourceAd
  readonly signedAd: Uint8Array
  readonly lastSeen: number
  readonly status: PeerStatus
  /** Why the peer is gone: 'expired' (no fresh ad within its TTL) or 'disconnected'. */
  readonly goneReason: string | null
  readonly connected: boolean
}

export interface PeerTableEvents {
  /** A peer appeared, came back, or sent a newer ad. */
  'peer:update': (entry: PeerEntry) => void
  'peer:gone': (entry: PeerEntry) => void
}

export interface PeerTableComponents {
  readonly state: NodeState
  readonly now: () => number
}

/** How the table is bounded. */
export interface PeerTableInit {
  /**
   * Most peers kept. A new peer past it evicts the peer gone longest (oldest lastSeen); while every peer is alive
   * a new one is refused ('full'), so a flood of fresh identities cannot grow the table or push out live peers.
   * Default 10 000.
   */
  readonly maxPeers?: number
}

/** Outcome of offering an ad to the table. */
export type AcceptResult = { accepted: true; isNew: boolean } | { accepted: false; reason: 'stale' | 'self' | 'predates-disconnect' | 'full' }

/** The peer table API used by the node, its API server and (later) schedulers and coordinators. */
export interface PeerTable {
  /**
   * Offers a verified ad; older or equal sequence numbers are refused as stale. An ad issued before its
   * peer was seen to disconnect (one still being relayed or verified when the peer died) is refused too,
   * so a dead peer does not flicker back to alive. (An ad issued within the peer's fastest delivery time
   * before it died can still slip through; the peer then expires with that ad's TTL.)
   * @param receivedAt - when the ad arrived, before its signature check (defaults to now)
   */
  accept(ad: ResourceAd, signedAd: Uint8Array, receivedAt?: number): AcceptResult
  /** Marks peers whose ads expired as gone; returns those newly marked. */
  sweep(): PeerEntry[]
  setConnected(peerId: string, connected: boolean): void
  get(peerId: string): PeerEntry | undefined
  list(): PeerEntry[]
  /** Peers alive and gone, without listing them. */
  counts(): { readonly alive: number; readonly gone: number }
  on<K extends keyof PeerTableEvents>(event: K, listener: PeerTableEvents[K]): void
  off<K extends keyof PeerTableEvents>(event: K, listener: PeerTableEvents[K]): void
}

class DefaultPeerTable implements PeerTable {
  readonly #components: PeerTableComponents
  readonly #self: string
  readonly #max: number
  readonly #peers = new Map<string, PeerEntry>()
  /** Peers whose status is gone: eviction looks for one only when there is one. */
  #gone = 0
  /** Peers with an open connection, tracked apart from ads: a connection usually opens before the first ad. */
  readonly #connected = new Set<string>()
  /** When each peer was marked gone for a lost connection, on this node's clock. */
  readonly #disconnectedAt = new Map<string, number>()
  /**
   * The smallest (arrival - issue time) seen in each peer's ads: its clock offset plus the fastest delivery.
   * It maps the peer's issue times onto this node's clock without assuming synchronized clocks.
   */
  readonly #offset = new Map<string, number>()
  readonly #listeners: { [K in keyof PeerTableEvents]: Array<PeerTableEvents[K]> } = {
    'peer:update': [],
    'peer:gone': [],
  }

  constructor(self: string, components: PeerTableComponents, init: PeerTableInit) {
    this.#self = self
    this.#components = components
    this.#max = init.maxPeers ?? 10_000
    if (!Number.isSafeInteger(this.#max) || this.#max < 1) throw new RangeError(`maxPeers must be a positive integer, got ${this.#max}`)
    // The most recently seen peers come back, up to the bound; the rest are forgotten.
    const kept = components.state.listPeers().sort((a, b) => b.lastSeen - a.lastSeen)
    for (const extra of kept.splice(this.#max)) components.state.deletePeer(extra.peerId)
    for (const stored of kept.sort((a, b) => a.peerId.localeCompare(b.peerId))) {
      try {
        const signed = fromBinary(SignedResourceAdSchema, stored.signedAd)
        const ad = fromBinary(ResourceAdSchema, signed.ad)
        // After a restart nothing is known to be alive until a fresh ad arrives.
        this.#peers.set(stored.peerId, {
          peerId: stored.peerId,
          ad,
          signedAd: stored.signedAd,
          lastSeen: stored.lastSeen,
          status: 'gone',
          goneReason: stored.status === 'gone' ? stored.goneReason : 'restarted',
          connected: false,
        })
        this.#gone++
      } catch {
        // A row written by an incompatible version: ignore it, the next ad replaces it.
      }
    }
  }

  accept(ad: ResourceAd, signedAd: Uint8Array, receivedAt = this.#components.now()): AcceptResult {
    if (ad.peerId === this.#self) return { accepted: false, reason: 'self' }
    const previous = this.#peers.get(ad.peerId)
    const fresh = previous === undefined || ad.seq > previous.ad.seq
    // A restarted peer starts its sequence from its stored value, so equal-or-lower means a replay.
    if (!fresh) return { accepted: false, reason: 'stale' }
    if (previous === undefined && this.#peers.size >= this.#max && !this.#evictGone()) return { accepted: false, reason: 'full' }
    const issued = Number(ad.issuedAtMs)
    const offset = Math.min(this.#offset.get(ad.peerId) ?? Number.POSITIVE_INFINITY, receivedAt - issued)
    const disconnectedAt = this.#disconnectedAt.get(ad.peerId)
    if (disconnectedAt !== undefined && !this.#connected.has(ad.peerId)) {
      if (receivedAt <= disconnectedAt || issued + offset <= disconnectedAt) return { accepted: false, reason: 'predates-disconnect' }
    }
    this.#offset.set(ad.peerId, offset)
    this.#disconnectedAt.delete(ad.peerId)
    const entry: PeerEntry = {
      peerId: ad.peerId,
      ad,
      signedAd,
      lastSeen: this.#components.now(),
      status: 'alive',
      goneReason: null,
      connected: this.#connected.has(ad.peerId),
    }
    this.#peers.set(ad.peerId, entry)
    if (previous?.status === 'gone') this.#gone--
    this.#components.state.upsertPeer({
      peerId: entry.peerId,
      signedAd,
      seq: ad.seq,
      expiresAt: Number(ad.expiresAtMs),
      lastSeen: entry.lastSeen,
      status: 'alive',
      goneReason: null,
    })
    this.#emit('peer:update', entry)
    return { accepted: true, isNew: previous === undefined || previous.status === 'gone' }
  }

  sweep(): PeerEntry[] {
    const now = this.#components.now()
    const gone: PeerEntry[] = []
    for (const entry of this.#peers.values()) {
      if (entry.status === 'alive' && Number(entry.ad.expiresAtMs) <= now) {
        gone.push(this.#markGone(entry, 'expired'))
      }
    }
    return gone
  }

  setConnected(peerId: string, connected: boolean): void {
    if (connected) this.#connected.add(peerId)
    else this.#connected.delete(peerId)
    const entry = this.#peers.get(peerId)
    if (entry === undefined) return
    if (!connected) {
      // Recorded even for a peer already gone by expiry (its ads were late under load): an ad it issued before the
      // connection dropped, relayed to us afterwards, must not bring a dead peer back.
      this.#disconnectedAt.set(peerId, this.#components.now())
      if (entry.status === 'alive') {
        this.#markGone({ ...entry, connected: false }, 'disconnected')
        return
      }
    }
    this.#peers.set(peerId, { ...entry, connected })
  }

  get(peerId: string): PeerEntry | undefined {
    return this.#peers.get(peerId)
  }

  list(): PeerEntry[] {
    return [...this.#peers.values()].sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  counts(): { readonly alive: number; readonly gone: number } {
    return { alive: this.#peers.size - this.#gone, gone: this.#gone }
  }

  on<K extends keyof PeerTableEvents>(event: K, listener: PeerTableEvents[K]): void {
    this.#listeners[event].push(listener)
  }

  off<K extends keyof PeerTableEvents>(event: K, listener: PeerTableEvents[K]): void {
    const list = this.#listeners[event] as PeerTableEvents[K][]
    const i = list.indexOf(listener)
    if (i >= 0) list.splice(i, 1)
  }

  /** Forgets the peer gone longest, making room for a new one; false when no peer is gone. */
  #evictGone(): boolean {
    if (this.#gone === 0) return false
    let oldest: PeerEntry | undefined
    for (const e of this.#peers.values()) if (e.status === 'gone' && (oldest === undefined || e.lastSeen < oldest.lastSeen)) oldest = e
    if (oldest === undefined) return false
    this.#peers.delete(oldest.peerId)
    this.#offset.delete(oldest.peerId)
    this.#disconnectedAt.delete(oldest.peerId)
    this.#gone--
    this.#components.state.deletePeer(oldest.peerId)
    return true
  }

  #markGone(entry: PeerEntry, reason: string): PeerEntry {
    const gone: PeerEntry = { ...entry, status: 'gone', goneReason: reason }
    if (entry.status !== 'gone') this.#gone++
    this.#peers.set(entry.peerId, gone)
    this.#components.state.setPeerStatus(entry.peerId, 'gone', reason)
    this.#emit('peer:gone', gone)
    return gone
  }

  #emit<K extends keyof PeerTableEvents>(event: K, entry: PeerEntry): void {
    for (const listener of this.#listeners[event]) listener(entry)
  }
}

/**
 * Creates the peer table, restoring known peers (as gone until they advertise again) from state.
 * @param self - this node's peer id (its own ads are never entered)
 */
export function createPeerTable(self: string, components: PeerTableComponents, init: PeerTableInit = {}): PeerTable {
  return new DefaultPeerTable(self, components, init)
}
