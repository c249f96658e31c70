// The components every node has underneath its roles: the data directory (lock and identity), the state database,
// the ML engines and the mesh node.

import { readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { fromBinary } from '@bufbuild/protobuf'
import { peerIdFromString } from '@libp2p/peer-id'
import { type MeshMetrics, parsePsk } from '@weft/mesh'
import { createMeshNode } from '@weft/mesh/node'
import { JobAnnouncementSchema, ResourceAdSchema, SignedJobAnnouncementSchema, SignedResourceAdSchema, STORE_RPC_MAX_MESSAGE_BYTES } from '@weft/protocol'
import { verifyAd } from '@weft/mesh'
import type { NodeComponentFactory, NodeContext } from '../component.js'
import type { NodeConfig } from '../config.js'
import { DATA_DIR_FILES, type DataDirLock, ensureDataDir, loadOrCreateIdentity, lockDataDir } from '../data-dir.js'
import { type EnginesComponents, type NodeEngines, startEngines } from '../engines.js'
import { ConfigError } from '../errors.js'
import { verifyAnnouncement } from '../jobs/announcement.js'
import type { NodeMetrics } from '../metrics.js'
import { openNodeState } from '../state.js'
import type { TrafficMeter } from '../telemetry.js'

/** DHT namespace of resource ads: `/weft-ad/<peer id>`. */
export const ADS_DHT_NAMESPACE = 'weft-ad'
/** DHT namespace of job leases (owners' signed announcements): `/weft-job/<job id>`. */
export const JOBS_DHT_NAMESPACE = 'weft-job'

function readPsk(config: NodeConfig): Uint8Array | undefined {
  const pn = config.privateNetwork
  if (pn === undefined) return undefined
  const path = isAbsolute(pn.pskFile) ? pn.pskFile : join(config.dataDir, pn.pskFile)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read the private network key ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parsePsk(text)
}

function validPeerIds(ids: readonly string[]): string[] {
  for (const id of ids) {
    try {
      peerIdFromString(id)
    } catch {
      throw new ConfigError(`privateNetwork.allow: '${id}' is not a peer id`)
    }
  }
  return [...ids]
}

/** Claims the data directory first (an exclusive lock: a second node on it is refused), then loads the identity. */
export const dataDirComponent: NodeComponentFactory = (ctx) => {
  let lock: DataDirLock | undefined
  return {
    name: 'data-dir',
    async start() {
      ensureDataDir(ctx.config.dataDir)
      lock = lockDataDir(ctx.config.dataDir)
      validPeerIds(ctx.config.privateNetwork?.allow ?? [])
      ctx.provide('privateKey', await loadOrCreateIdentity(ctx.config.dataDir))
      ctx.provide('psk', readPsk(ctx.config))
    },
    stop() {
      ctx.withdraw('privateKey')
      ctx.withdraw('psk')
      lock?.release()
    },
  }
}

/** The node's SQLite state: metadata and the peer table. */
export const stateComponent: NodeComponentFactory = (ctx) => ({
  name: 'state',
  dependsOn: ['data-dir'],
  start() {
    // A full disk must not end the node: peer-table writes that fail are dropped (soft state), said at most every 10 s.
    let lastWarned = Number.NEGATIVE_INFINITY
    const onWriteError = (err: Error, dropped: number): void => {
      if (ctx.now() - lastWarned < 10_000) return
      lastWarned = ctx.now()
      ctx.logger.warn({ err: err.message, dropped }, 'could not write the peer table (disk full?); the changes are dropped and the next ads refill it')
    }
    ctx.provide('state', openNodeState(join(ctx.config.dataDir, DATA_DIR_FILES.state), { onWriteError }))
  },
  stop() {
    ctx.get('state').close()
    ctx.withdraw('state')
  },
})

/** The ML engines, before the mesh: ads name them from the first one on (a PyTorch worker takes seconds to start). */
export function enginesComponent(replacements?: EnginesComponents): NodeComponentFactory {
  return (ctx) => {
    let engines: NodeEngines | undefined
    return {
      name: 'engines',
      dependsOn: ['data-dir'],
      async start() {
        engines = await startEngines(ctx.config, ctx.logger, replacements)
        ctx.provide('engines', engines)
      },
      async stop() {
        ctx.withdraw('engines')
        await engines?.close()
      },
    }
  }
}

function meshMetricsFor(metrics: NodeMetrics, traffic: TrafficMeter): MeshMetrics {
  return {
    onBytes: (protocol, direction, bytes, peer) => {
      metrics.bytes.inc({ protocol, direction }, bytes)
      traffic.record(direction, bytes, peer)
    },
    onRpc: (protocol, method, side, outcome, seconds) => {
      if (side === 'client') metrics.rpcSeconds.observe({ protocol, method, outcome }, seconds)
    },
    onTensorTransfer: (purpose, direction, outcome, bytes, seconds) => {
      if (outcome !== 'ok') return
      metrics.transferBytes.inc({ purpose, direction }, bytes)
      metrics.transferSeconds.observe({ purpose, direction }, seconds)
      if (seconds > 0) metrics.transferThroughput.set({ purpose, direction }, bytes / seconds)
    },
    onBadMessage: (protocol, reason) => metrics.badMessages.inc({ protocol, reason }),
  }
}

/** The DHT namespace of ads: a server stores only ads that verify and belong to their key; the newest wins. */
function adsNamespace(now: () => number) {
  return {
    validate: async (key: Uint8Array, value: Uint8Array) => {
      const result = await verifyAd(value, now())
      if (!result.ok) throw new Error(`resource ad rejected: ${result.reason} (${result.detail})`)
      const id = new TextDecoder().decode(key).split('/')[2]
      if (id !== result.ad.peerId) throw new Error(`ad for ${result.ad.peerId} stored under ${id}`)
    },
    select: (_key: Uint8Array, records: Uint8Array[]) => {
      let best = 0
      let bestSeq = -1n
      records.forEach((r, i) => {
        try {
          const seq = fromBinary(ResourceAdSchema, fromBinary(SignedResourceAdSchema, r).ad).seq
          if (seq > bestSeq) {
            bestSeq = seq
            best = i
          }
        } catch {}
      })
      return best
    },
  }
}

/** Job leases: an owner's signed announcement under its job id; the latest epoch wins, then the latest lease. */
const jobsNamespace = {
  validate: async (key: Uint8Array, value: Uint8Array) => {
    const result = await verifyAnnouncement(value)
    if (!result.ok) throw new Error(`job announcement rejected: ${result.reason}`)
    const id = new TextDecoder().decode(key).split('/')[2]
    if (id !== result.announcement.jobId) throw new Error(`announcement of ${result.announcement.jobId} stored under ${id}`)
  },
  select: (_key: Uint8Array, records: Uint8Array[]) => {
    let best = 0
    let bestRank: [bigint, bigint] = [-1n, -1n]
    records.forEach((r, i) => {
      try {
        const a = fromBinary(JobAnnouncementSchema, fromBinary(SignedJobAnnouncementSchema, r).announcement)
        if (a.epoch > bestRank[0] || (a.epoch === bestRank[0] && a.leaseExpiresAtMs > bestRank[1])) {
          bestRank = [a.epoch, a.leaseExpiresAtMs]
          best = i
        }
      } catch {}
    })
    return best
  },
}

/** The js-libp2p mesh node: listeners, bootstrap, DHT (with the ads namespace), gossipsub, RPC, tensor transfer. */
export const meshComponent: NodeComponentFactory = (ctx: NodeContext) => ({
  name: 'mesh',
  dependsOn: ['data-dir', 'state', 'engines'],
  async start() {
    const { config } = ctx
    const psk = ctx.get('psk')
    const allow = config.privateNetwork?.allow ?? []
    const mesh = await createMeshNode(
      {
        privateKey: ctx.get('privateKey'),
        // Browser tabs reach the node over WebSockets only.
        listen: config.join.enabled && !config.listen.some((a) => a.endsWith('/ws')) ? [...config.listen, '/ip4/0.0.0.0/tcp/0/ws'] : config.listen,
        announce: config.announce,
        bootstrap: config.bootstrap,
        mdns: config.mdns,
        network: config.lan ? 'lan' : 'public',
        edge: config.edge,
        relay: { serve: config.relay.serve, maxReservations: config.relay.maxReservations },
        ...(psk !== undefined ? { psk } : {}),
        ...(allow.length > 0 ? { allowList: validPeerIds(allow) } : {}),
        dht: { namespaces: { [ADS_DHT_NAMESPACE]: adsNamespace(ctx.now), [JOBS_DHT_NAMESPACE]: jobsNamespace } },
        // Block exchange answers carry up to 3.5 MiB of blocks; handlers bound their own fields.
        rpc: { maxMessageBytes: STORE_RPC_MAX_MESSAGE_BYTES },
      },
      { metrics: meshMetricsFor(ctx.metrics, ctx.traffic), logger: ctx.logger.child({ component: 'mesh' }) },
    )
    ctx.get('state').setMeta('peer_id', mesh.peerId)
    ctx.provide('mesh', mesh)
  },
  async stop() {
    const mesh = ctx.get('mesh')
    ctx.withdraw('mesh')
    await mesh.stop()
  },
})
