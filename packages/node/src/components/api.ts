// The control API (Hono) as a component: node, peer, mesh and telemetry views, the event stream, FL jobs and
// Prometheus metrics; 127.0.0.1 by default, a bearer token required on any other address.
import { fileURLToPath } from 'node:url'
import { create } from '@bufbuild/protobuf'
import { ResourceAdSchema } from '@weft/protocol'
import type { RevocationView } from '@weft/api-client'
import type { VerifiedRevocation } from '@weft/mesh'
import { type ApiBackend, startApiServer, isLoopbackHost } from '../api.js'
import type { NodeMembership } from './membership.js'
import type { NodeComponentFactory, NodeContext } from '../component.js'
import { loadOrCreateApiToken } from '../data-dir.js'
import { flService } from '../fl/fl-service.js'
import { buildMeshView } from '../mesh-view.js'
import type { PeerEntry } from '../peer-table.js'
import { readHostResources } from '../resources.js'
import { WEFT_VERSION } from '../version.js'
import { adView, type NodeView, type PeerView, peerView } from '../views.js'
import { ADS_DHT_NAMESPACE } from './core.js'
import { verifyAd } from '@weft/mesh'
import { webSocketAddrs } from '../join.js'

/** The built dashboard (packages/node/dashboard, beside dist/). */
const DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/', import.meta.url))
/** The built /join page (packages/node/join, beside dist/; made by @weft/browser's Vite build). */
const JOIN_DIR = fileURLToPath(new URL('../../join/', import.meta.url))

/** The node's view, as `GET /v1/node` serves it. */
export function nodeView(ctx: NodeContext, apiUrl: string): NodeView {
  const mesh = ctx.get('mesh')
  const engines = ctx.get('engines')
  const offers = ctx.get('ads').offers()
  const host = readHostResources()
  const list = ctx.get('peers').list()
  const now = ctx.now()
  return {
    peerId: mesh.peerId,
    version: WEFT_VERSION,
    addrs: mesh.addresses(),
    startedAt: ctx.startedAt,
    uptimeMs: now - ctx.startedAt,
    labels: { ...ctx.config.labels },
    privateNetwork: ctx.get('psk') !== undefined,
    resources: {
      cpu: { ...host.cpu, utilization: ctx.get('telemetry').latest()?.cpu.host ?? 0 },
      memory: host.memory,
      runtimes: offers.runtimes.map((r) => ({ name: r.name, backend: r.backend, device: r.device, matmulGflops: r.matmulGflops })),
      datasets: adView(create(ResourceAdSchema, { datasets: offers.datasets })).datasets,
      accelerators: engines.accelerators().map((a) => ({ kind: a.kind, name: a.name, memoryBytes: Number(a.memoryBytes) })),
    },
    engine: {
      requested: engines.requested,
      preferred: engines.preferred,
      available: [...engines.available],
      ...(engines.fallbackReason === undefined ? {} : { fallbackReason: engines.fallbackReason }),
      ...(engines.torch === undefined
        ? {}
        : {
            torch: {
              torch: engines.torch.torch,
              python: engines.torch.python,
              device: engines.torch.device,
              deviceName: engines.torch.deviceName,
              threads: engines.torch.threads,
              pid: engines.torch.pid,
              restarts: engines.torchRestarts,
            },
          }),
    },
    connections: mesh.connections().map((c) => ({ peerId: c.peer, remoteAddr: c.remoteAddr, direction: c.direction, openedAt: c.openedAt })),
    peers: { alive: list.filter((p) => p.status === 'alive').length, gone: list.filter((p) => p.status === 'gone').length },
    api: { url: apiUrl, authRequired: !isLoopbackHost(ctx.config.api.host) },
    traffic: ctx.traffic.total(),
    activities: ctx.activities(),
  }
}

const revocationView = (r: VerifiedRevocation): RevocationView => ({ target: r.target, revokedAt: r.revokedAtMs, reason: r.reason })

/** The membership routes' backend: the node's authority, certificate and revocations. */
function membershipApi(membership: NodeMembership): NonNullable<ApiBackend['membership']> {
  return {
    view() {
      const cert = membership.certificate === undefined ? undefined : membership.ownCertificate()
      return {
        mode: membership.mode,
        authority: membership.authorityKey ?? null,
        certificate: cert === undefined ? null : { serial: cert.serial, roles: [...cert.roles], issuedAt: cert.issuedAtMs, expiresAt: cert.expiresAtMs },
        revocations: membership.revocations().map(revocationView),
      }
    },
    async revoke(signed) {
      const result = await membership.revoke(signed)
      return result.ok ? { ok: true, isNew: result.isNew, revocation: revocationView(result.revocation) } : result
    },
  }
}

export const apiComponent: NodeComponentFactory = (ctx) => ({
  name: 'api',
  dependsOn: ['data-dir', 'engines', 'mesh', 'membership', 'peers', 'telemetry', 'ads', 'events', 'store', 'block-exchange', 'replication', 'inference'],
  async start() {
    const { config, now } = ctx
    const mesh = ctx.get('mesh')
    const peers = ctx.get('peers')
    const telemetry = ctx.get('telemetry')
    const coordinator = ctx.find('flCoordinator')
    const client = ctx.find('flClient')
    const fl = coordinator === undefined ? undefined : flService(coordinator, client)
    const token = isLoopbackHost(config.api.host) ? undefined : loadOrCreateApiToken(config.dataDir)
    const peerViewOf = (entry: PeerEntry): PeerView => peerView(entry, ctx.traffic.of(entry.peerId))
    let url = ''
    const view = (): NodeView => nodeView(ctx, url)
    const api = await startApiServer(
      {
        node: view,
        peers: () => peers.list().map(peerViewOf),
        peer: (id) => {
          const entry = peers.get(id)
          return entry === undefined ? undefined : peerViewOf(entry)
        },
        mesh: () => buildMeshView(view(), peers.list().map(peerViewOf), telemetry.latest()?.cpu.host ?? 0, now()),
        telemetry: (since) => ({ intervalMs: telemetry.intervalMs, samples: telemetry.since(since) }),
        subscribe: (listener) => ctx.get('events').subscribe(listener),
        lookupPeer: async (id, signal) => {
          const known = peers.get(id)
          const bytes = await mesh.dht.get(ADS_DHT_NAMESPACE, id, { signal })
          if (bytes === undefined) return undefined
          const result = await verifyAd(bytes, now())
          if (!result.ok || result.ad.peerId !== id) return undefined
          return {
            peerId: id,
            status: 'alive',
            goneReason: null,
            connected: known?.connected ?? false,
            lastSeen: now(),
            ad: adView(result.ad),
            traffic: ctx.traffic.of(id),
          }
        },
        metrics: async () => ({ contentType: ctx.metrics.registry.contentType, body: await ctx.metrics.registry.metrics() }),
        fl: () => fl,
        membership: membershipApi(ctx.get('membership')),
        store: () => ctx.find('store'),
        blockExchange: () => ctx.find('blockExchange'),
        replication: () => ctx.find('replication'),
        datasets: () => ctx.find('datasets'),
        inference: () => ctx.find('inference'),
        swarms: () => ctx.find('swarms'),
        jobs: () => ctx.find('jobs'),
      },
      {
        host: config.api.host,
        port: config.api.port,
        ...(token !== undefined ? { token } : {}),
        ...(config.api.dashboard ? { dashboardDir: DASHBOARD_DIR } : {}),
        ...(config.join.enabled
          ? { join: { dir: JOIN_DIR, info: () => ({ peerId: mesh.peerId, bootstrap: webSocketAddrs(mesh.addresses(), mesh.peerId) }) } }
          : {}),
      },
    )
    url = api.url
    ctx.provide('api', api)
  },
  async stop() {
    const api = ctx.get('api')
    ctx.withdraw('api')
    await api.close()
  },
})
