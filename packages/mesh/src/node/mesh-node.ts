// createMeshNode: a js-libp2p 3 node configured for Weft (private network, allow-list, RPC, tensors, typed pubsub, DHT).
import { createHash } from 'node:crypto'
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { Connection, Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { type KadDHTComponents, kadDHT, passthroughMapper, removePublicAddressesMapper, type SingleKadDHT } from '@libp2p/kad-dht'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { TypedEventEmitter, type TypedEventTarget } from 'main-event'
import { createMeshDht, type DhtNamespace, type MeshDht } from '../dht.js'
import { libp2pMeshLogger, type MeshLogger } from '../logger.js'
import { type MeshMetrics, noopMetrics } from '../metrics.js'
import { type PeerTarget, toDialTarget } from '../peer.js'
import { parsePsk } from '../psk.js'
import { createPubSub, type PubSub } from '../pubsub.js'
import { createRpc, type Rpc, type RpcInit } from '../rpc.js'
import { createTensors, type Tensors, type TensorsInit } from '../tensors.js'
import { boundedPreSharedKey } from './pnet.js'

/**
 * Delay before dialling bootstrap peers once started. @libp2p/bootstrap waits 1 s by default, which was half of a
 * node's time from start to connected; a short delay still lets every service finish starting first.
 */
const BOOTSTRAP_DELAY_MS = 50

/** Options of a mesh node. */
export interface MeshNodeInit {
  /** The node's identity (Ed25519); the daemon persists it. */
  privateKey: PrivateKey
  /** Listen multiaddrs, TCP and/or WebSockets (`/ip4/127.0.0.1/tcp/0`, `/ip4/0.0.0.0/tcp/4002/ws`). Default: TCP on 127.0.0.1, any port. */
  listen?: string[]
  /** Addresses to announce instead of the listen addresses (public IP behind NAT). */
  announce?: string[]
  /** Private network key in swarm.key format: peers without it cannot even complete a handshake. Absent: open network. */
  psk?: string | Uint8Array
  /** PeerId strings allowed to connect (both directions). Absent: anyone (holding the psk). */
  allowList?: Iterable<string>
  /** Multiaddrs (with /p2p/<id>) to dial at start and keep discovering through. */
  bootstrap?: string[]
  /** Discover peers on the LAN with mDNS (default false). */
  mdns?: boolean
  /** Which addresses the DHT keeps: 'loopback' and 'lan' keep private ones (needed on 127.0.0.1). Default 'public'. */
  network?: 'loopback' | 'lan' | 'public'
  dht?: {
    /** Only query, never serve (browsers, nodes behind NAT). Default false. */
    clientMode?: boolean
    /** Record namespaces (`/<ns>/<key>`) with their validators and selectors. */
    namespaces?: Record<string, DhtNamespace>
  }
  rpc?: RpcInit
  tensors?: TensorsInit
  /** Most simultaneous connections (default 300). */
  maxConnections?: number
  /**
   * Relay other peers' connections (circuit relay v2): a node with a public address lets nodes behind NAT reserve a
   * slot and be reached through it. Relayed connections carry Weft's traffic, so they get no data or time limit.
   */
  relay?: { readonly serve: boolean; readonly maxReservations?: number }
  /**
   * A node behind NAT: it reserves a slot on the relays it connects to (listening on `/p2p-circuit`), asks peers
   * whether it is reachable (AutoNAT), and upgrades relayed connections to direct ones where hole punching works
   * (DCUtR). Its DHT only queries.
   */
  edge?: boolean
}

/** Injected dependencies. */
export interface MeshNodeComponents {
  metrics?: MeshMetrics
  logger?: MeshLogger
}

/** One open connection. */
export interface MeshConnectionInfo {
  readonly peer: string
  readonly remoteAddr: string
  readonly direction: 'inbound' | 'outbound'
  /** Epoch ms. */
  readonly openedAt: number
}

/** Events of a mesh node; `detail` is the peer's id string. */
export interface MeshNodeEvents {
  'peer:connect': CustomEvent<string>
  'peer:disconnect': CustomEvent<string>
}

/** Services of the underlying libp2p node. */
export interface MeshServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  /** One DHT (not a LAN/WAN pair): its routing table tells whether a lookup has anyone to ask. */
  dht: SingleKadDHT
}

/** A running Weft mesh node. */
export interface MeshNode extends TypedEventTarget<MeshNodeEvents> {
  readonly peerId: string
  /** The libp2p node, for what this API does not cover. */
  readonly libp2p: Libp2p<MeshServices>
  readonly rpc: Rpc
  readonly tensors: Tensors
  readonly pubsub: PubSub
  readonly dht: MeshDht
  /** Dialable multiaddrs including /p2p/<id>. */
  addresses(): string[]
  connections(): MeshConnectionInfo[]
  /** Connect to a peer (multiaddr string or PeerId); throws when it cannot. */
  dial(peer: PeerTarget, options?: { signal?: AbortSignal }): Promise<void>
  /** Round-trip time to a peer in ms (libp2p ping). */
  ping(peer: PeerTarget, options?: { signal?: AbortSignal }): Promise<number>
  /** Add a peer to the allow-list (no effect without one). */
  allowPeer(peerId: string): void
  /** Remove a peer from the allow-list and close its connections. */
  disallowPeer(peerId: string): Promise<void>
  /** Whether a peer may connect. */
  isAllowed(peerId: string): boolean
  /** Stop everything: in-flight calls and transfers are aborted, listeners closed, no handle left open. */
  stop(): Promise<void>
}

class MeshNodeImpl extends TypedEventEmitter<MeshNodeEvents> implements MeshNode {
  readonly peerId: string
  readonly libp2p: Libp2p<MeshServices>
  readonly rpc: Rpc
  readonly tensors: Tensors
  readonly pubsub: PubSub
  readonly dht: MeshDht
  readonly #allow: Set<string> | undefined

  constructor(libp2p: Libp2p<MeshServices>, allow: Set<string> | undefined, metrics: MeshMetrics, logger: MeshLogger, namespaces: Readonly<Record<string, DhtNamespace>>, init: MeshNodeInit) {
    super()
    this.libp2p = libp2p
    this.peerId = libp2p.peerId.toString()
    this.#allow = allow
    this.rpc = createRpc({ libp2p, metrics, logger }, init.rpc)
    // Node's OpenSSL SHA-256 hashes tensor sets several times faster than the portable default.
    this.tensors = createTensors({ libp2p, metrics, logger, createSha256: () => createHash('sha256') }, init.tensors)
    this.pubsub = createPubSub({ gossipsub: libp2p.services.pubsub, metrics, logger })
    this.dht = createMeshDht(libp2p, namespaces)
    libp2p.addEventListener('peer:connect', this.#onConnect)
    libp2p.addEventListener('peer:disconnect', this.#onDisconnect)
  }

  #onConnect = (evt: CustomEvent<PeerId>): void => {
    this.safeDispatchEvent('peer:connect', { detail: evt.detail.toString() })
  }

  #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.safeDispatchEvent('peer:disconnect', { detail: evt.detail.toString() })
  }

  addresses(): string[] {
    return this.libp2p.getMultiaddrs().map((a) => a.toString())
  }

  connections(): MeshConnectionInfo[] {
    return this.libp2p.getConnections().map((c: Connection) => ({
      peer: c.remotePeer.toString(),
      remoteAddr: c.remoteAddr.toString(),
      direction: c.direction,
      openedAt: c.timeline.open,
    }))
  }

  async dial(peer: PeerTarget, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.libp2p.dial(toDialTarget(peer), options)
  }

  async ping(peer: PeerTarget, options: { signal?: AbortSignal } = {}): Promise<number> {
    return this.libp2p.services.ping.ping(toDialTarget(peer), options)
  }

  allowPeer(peerId: string): void {
    this.#allow?.add(peerId)
  }

  async disallowPeer(peerId: string): Promise<void> {
    if (this.#allow === undefined) {
      return
    }
    this.#allow.delete(peerId)
    await Promise.all(this.libp2p.getConnections().filter((c) => c.remotePeer.toString() === peerId).map((c) => c.close().catch(() => c.abort(new Error('peer disallowed')))))
  }

  isAllowed(peerId: string): boolean {
    return this.#allow === undefined || this.#allow.has(peerId)
  }

  async stop(): Promise<void> {
    this.rpc.stop()
    this.tensors.stop()
    this.libp2p.removeEventListener('peer:connect', this.#onConnect)
    this.libp2p.removeEventListener('peer:disconnect', this.#onDisconnect)
    await this.libp2p.stop()
  }
}

/**
 * Create and start a mesh node.
 * @throws InvalidPskError for a malformed `psk`; libp2p errors when a listen address cannot be bound.
 */
export async function createMeshNode(init: MeshNodeInit, components: MeshNodeComponents = {}): Promise<MeshNode> {
  const allow = init.allowList !== undefined ? new Set(init.allowList) : undefined
  const denied = (peerId: PeerId): boolean => allow !== undefined && !allow.has(peerId.toString())
  const namespaces = init.dht?.namespaces ?? {}
  const validators: Record<string, DhtNamespace['validate']> = {}
  const selectors: Record<string, DhtNamespace['select']> = {}
  for (const [ns, rules] of Object.entries(namespaces)) {
    validators[ns] = rules.validate
    selectors[ns] = rules.select
  }
  const listen = [...(init.listen ?? ['/ip4/127.0.0.1/tcp/0']), ...(init.edge === true ? ['/p2p-circuit'] : [])]
  const options: Libp2pOptions<MeshServices> = {
    privateKey: init.privateKey,
    addresses: { listen, ...(init.announce !== undefined ? { announce: init.announce } : {}) },
    // Every node can dial a relayed address (a peer behind NAT) and take part in hole punching.
    transports: [tcp(), webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: denied,
      denyInboundEncryptedConnection: denied,
      denyOutboundEncryptedConnection: denied,
      denyInboundUpgradedConnection: denied,
      denyOutboundUpgradedConnection: denied,
    },
    // libp2p's default admits 5 inbound connections per second per host: too few for a fabric whose peers share an address
    // (a local fabric on 127.0.0.1, many edge boxes behind one NAT), where bootstrap dials are not retried.
    connectionManager: { maxConnections: init.maxConnections ?? 300, inboundConnectionThreshold: 50 },
    // The connection monitor aborts a connection whose ping is not answered within its adaptive timeout (at least
    // 5 s by default). Weft nodes saturate their cores with training, and a busy peer is not a dead one: allow 30 s.
    // A peer whose process dies is noticed at once anyway (its TCP connection resets).
    connectionMonitor: { pingTimeout: { minTimeout: 30_000, maxTimeout: 120_000 } },
    peerDiscovery: [
      ...(init.bootstrap !== undefined && init.bootstrap.length > 0 ? [bootstrap({ list: init.bootstrap, timeout: BOOTSTRAP_DELAY_MS })] : []),
      ...(init.mdns === true ? [mdns()] : []),
    ],
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: 16, maxInboundStreams: 16 }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // Gossipsub scores down peers that share an IP address beyond 10 of them, and graylists them past ~13: on a
        // local fabric or a LAN every peer shares one address (or a few), so that rule would silence all but a
        // dozen. Messages stay signed and Weft verifies every payload it accepts.
        ...((init.network ?? 'public') === 'public' ? {} : { scoreParams: { IPColocationFactorWeight: 0 } }),
      }),
      // kadDHT's factory is typed as the general KadDHT; what it builds is the single DHT, routing table included.
      dcutr: dcutr(),
      ...(init.relay?.serve === true
        ? { relay: circuitRelayServer({ reservations: { maxReservations: init.relay.maxReservations ?? 128, applyDefaultLimit: false } }) }
        : {}),
      ...(init.edge === true || init.relay?.serve === true ? { autonat: autoNAT() } : {}),
      dht: kadDHT({
        clientMode: init.dht?.clientMode ?? init.edge === true,
        validators,
        selectors,
        peerInfoMapper: (init.network ?? 'public') === 'public' ? passthroughMapper : removePublicAddressesMapper,
      }) as (components: KadDHTComponents) => SingleKadDHT,
    },
  }
  if (init.psk !== undefined) {
    options.connectionProtector = boundedPreSharedKey(parsePsk(init.psk))
  }
  const libp2p = await createLibp2p(options)
  const logger = components.logger ?? libp2pMeshLogger(libp2p.logger)
  return new MeshNodeImpl(libp2p, allow, components.metrics ?? noopMetrics, logger, namespaces, init)
}
