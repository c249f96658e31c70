// The browser peer's resource ad: what it offers (the tfjs engine, the data sets the user added, its cores and
// memory as the browser tells them), signed by its key like any node's, served on `node/ad` when a node connects
// and gossiped on `weft/ads/1` every interval, so coordinators find it in their peer tables.
import { create, fromBinary, type MessageInitShape } from '@bufbuild/protobuf'
import type { PrivateKey } from '@libp2p/interface'
import { ADS_TOPIC, adNeedsSigning, GET_AD, signAd } from '@weft/mesh'
import { type DatasetOfferSchema, ResourceAdSchema, SignedResourceAdSchema } from '@weft/protocol'
import type { BrowserMesh } from './peer.js'

/** What the ad says besides the peer's own id and addresses. */
export interface BrowserOffer {
  datasets(): MessageInitShape<typeof DatasetOfferSchema>[]
  labels(): Record<string, string>
  /** What the peer is doing (e.g. "training round 3 of job X"), as the node's activities. */
  activities(): { kind: string; jobId: string; detail: string }[]
  /** The engine as it started ('wasm' or 'cpu'). */
  backend(): string
}

export interface BrowserAds {
  /** Signs and gossips a fresh ad now (also every interval). */
  publish(): Promise<void>
  stop(): Promise<void>
}

/** The Weft version a browser peer reports in its ad. */
export const BROWSER_WEFT_VERSION = '0.1.0'
const GIB = 1024 ** 3

export async function startBrowserAds(mesh: BrowserMesh, key: PrivateKey, offer: BrowserOffer, timing: { intervalMs: number; ttlMs: number }): Promise<BrowserAds> {
  const startedAt = Date.now()
  // Ads must rise across reloads too (the same peer id comes back): the clock, in microseconds, plus a counter.
  let seq = BigInt(startedAt) * 1000n
  let last: Uint8Array | undefined
  let lastAt: number | undefined
  const nav = globalThis.navigator as (Navigator & { deviceMemory?: number }) | undefined
  const build = () => {
    seq += 1n
    const now = Date.now()
    return create(ResourceAdSchema, {
      peerId: mesh.peerId,
      seq,
      issuedAtMs: BigInt(now),
      expiresAtMs: BigInt(now + timing.ttlMs),
      startedAtMs: BigInt(startedAt),
      weftVersion: BROWSER_WEFT_VERSION,
      addrs: mesh.libp2p.getMultiaddrs().map((a) => a.toString()),
      cpu: { model: nav?.userAgent.slice(0, 120) ?? 'browser', cores: nav?.hardwareConcurrency ?? 1 },
      // navigator.deviceMemory is rounded (and capped at 8 GiB by Chromium); 0 where the browser does not say.
      memory: { totalBytes: BigInt(Math.round((nav?.deviceMemory ?? 0) * GIB)), freeBytes: 0n },
      runtimes: [{ name: 'tfjs', backend: offer.backend(), device: 'cpu' }],
      datasets: offer.datasets(),
      labels: { tier: 'browser', ...offer.labels() },
      neighbors: [...new Set(mesh.libp2p.getConnections().map((c) => c.remotePeer.toString()))].slice(0, 128),
      activities: offer.activities(),
    })
  }
  const sign = async (): Promise<Uint8Array> => {
    const signedAt = Date.now()
    last = await signAd(build(), key)
    lastAt = signedAt
    return last
  }
  const topic = mesh.pubsub.topic(ADS_TOPIC, SignedResourceAdSchema)
  // Signed anew for a caller whose connection is newer than the last ad: the node asks as the tab reconnects, and
  // refused the ad published before the drop as stale (the tab then stayed out of new rounds until its next ad).
  await mesh.rpc.handle(GET_AD, async (_, { peer }) => {
    const opened = mesh.libp2p
      .getConnections()
      .filter((c) => c.remotePeer.toString() === peer)
      .map((c) => c.timeline.open)
    return fromBinary(SignedResourceAdSchema, last === undefined || adNeedsSigning(lastAt, opened) ? await sign() : last)
  })
  const publish = async (): Promise<void> => {
    const signed = await sign()
    await topic.publish(fromBinary(SignedResourceAdSchema, signed)).catch(() => {})
  }
  const timer = setInterval(() => void publish(), timing.intervalMs)
  return {
    publish,
    async stop() {
      clearInterval(timer)
      await mesh.rpc.unhandle(GET_AD).catch(() => {})
    },
  }
}
