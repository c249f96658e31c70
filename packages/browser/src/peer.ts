// The browser's libp2p node: WebSockets to Weft nodes (and relayed connections through them), WebRTC to other browser
// peers, noise, yamux, identify, ping and gossipsub; Weft's RPC, tensor transfer and pub/sub over it. A tab cannot
// listen on a socket: other peers reach it over the connection it opened, or through a relay slot it reserves on a
// node (`/p2p-circuit`). Another tab that dials its `/p2p-circuit/webrtc` address exchanges the WebRTC offer and
// answer over that relayed connection (the node carries only the signalling) and then talks to it directly.
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createPubSub, createRpc, createTensors, type MeshLogger, noopMetrics, type PubSub, type Rpc, type Tensors } from '@weft/mesh'
import { createLibp2p, type Libp2p } from 'libp2p'

/** The browser peer's mesh endpoint: what FL and the ads need. */
export interface BrowserMesh {
  readonly libp2p: Libp2p
  readonly peerId: string
  readonly rpc: Rpc
  readonly tensors: Tensors
  readonly pubsub: PubSub
  stop(): Promise<void>
}

const quiet: MeshLogger = { debug() {}, info() {}, warn() {}, error() {} }

export interface BrowserMeshOptions {
  /**
   * STUN/TURN servers for WebRTC between browser peers. Default none: tabs on one network (host candidates) connect
   * directly; tabs behind different NATs need a STUN server, and a TURN server where neither side can be reached.
   */
  readonly iceServers?: readonly RTCIceServer[]
  readonly logger?: MeshLogger
}

/** Starts the browser's libp2p node (it dials nothing yet). */
export async function createBrowserMesh(privateKey: PrivateKey, options: BrowserMeshOptions = {}): Promise<BrowserMesh> {
  const logger = options.logger ?? quiet
  const libp2p = await createLibp2p({
    privateKey,
    // A relay slot on each node that offers one, so peers that did not open the connection can still reach the tab,
    // and WebRTC offers from other tabs arriving through it.
    addresses: { listen: ['/p2p-circuit', '/webrtc'] },
    transports: [webSockets(), webRTC({ rtcConfiguration: { iceServers: [...(options.iceServers ?? [])] } }), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // libp2p's browser default refuses private and loopback addresses: a fabric on a LAN or on this machine is both.
    connectionGater: { denyDialMultiaddr: () => false },
    // A WebRTC dial is a relayed connection, an offer and answer over it, ICE, DTLS and noise: past libp2p's 6 s per
    // address on a busy machine (seen: "signal timed out" while other tabs trained, and once at 20 s in a loaded CI).
    // The answering tab runs its side (answer, ICE, then noise on the data channel) under the inbound upgrade
    // timeout, 10 s by default: under load it can give up while the dialer still waits (the likely cause of a
    // fresh-clone CI where both of the dialer's 30 s tries ended "signal timed out"). Both sides get the same 30 s.
    connectionManager: { addressDialTimeout: 30_000, dialTimeout: 40_000, inboundUpgradeTimeout: 30_000 },
    // As on nodes: a peer busy training is not a dead one.
    connectionMonitor: { pingTimeout: { minTimeout: 30_000, maxTimeout: 120_000 } },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false }),
    },
  })
  const metrics = noopMetrics
  const rpc = createRpc({ libp2p, metrics, logger })
  const tensors = createTensors({ libp2p, metrics, logger })
  const pubsub = createPubSub({ gossipsub: libp2p.services.pubsub, metrics, logger })
  return {
    libp2p,
    peerId: libp2p.peerId.toString(),
    rpc,
    tensors,
    pubsub,
    async stop() {
      rpc.stop()
      tensors.stop()
      await libp2p.stop()
    },
  }
}
