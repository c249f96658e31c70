// Resource ads as a component: this node's signed ad (engines, measured throughput, data sets, labels, neighbours,
// activities) gossiped every ads.intervalMs and stored in the DHT; ads of others received from gossip, the
// `node/ad` RPC on each new connection, verified and fed to the peer table.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { ADS_TOPIC, adNeedsSigning, GET_AD, signAd, type VerifiedAd, verifyAd } from '@weft/mesh'
import { type DatasetOffer, type ResourceAd, ResourceAdSchema, type RuntimeOffer, type SignedResourceAd, SignedResourceAdSchema, type StoreOffer, StoreOfferSchema } from '@weft/protocol'
import type { InMemoryDataset } from '@weft/data'
import type { NodeComponentFactory } from '../component.js'
import type { DatasetConfig, NodeConfig } from '../config.js'
import { describeLocalDatasets } from '../local-datasets.js'
import { readHostResources } from '../resources.js'
import { probeRuntimes } from '../runtime-probe.js'
import { WEFT_VERSION } from '../version.js'
import { ADS_DHT_NAMESPACE } from './core.js'


/** Most neighbours an ad lists (about 53 bytes each; ads stay far below their 64 KiB limit). */
const MAX_AD_NEIGHBORS = 128
/** Longest a DHT put of this node's ad may take. */
const DHT_PUT_TIMEOUT_MS = 15_000

/** What a node measures once and offers until it changes: engines and local data sets. */
export interface NodeOffers {
  runtimes: RuntimeOffer[]
  datasets: DatasetOffer[]
}

export interface AdsService {
  /** Publishes a fresh ad now (also done every `ads.intervalMs`). */
  publish(): Promise<void>
  /** What the ads offer now (engines with their measured throughput, data sets). */
  offers(): Readonly<NodeOffers>
}

/** Replaceable measurements (tests and embedders replace the slow ones). */
export interface AdsMeasurements {
  /** Measures the ML engines (about one second); its result is advertised once it resolves. */
  readonly probeRuntimes?: (signal: AbortSignal) => Promise<RuntimeOffer[]>
  /** Describes the configured local data sets (counts, shapes). */
  readonly describeDatasets?: (config: NodeConfig, load: (config: DatasetConfig) => Promise<InMemoryDataset>) => Promise<DatasetOffer[]>
}

export function adsComponent(measure: AdsMeasurements = {}): NodeComponentFactory {
  return (ctx) => {
    let release: (() => Promise<void>) | undefined
    return {
      name: 'ads',
      dependsOn: ['state', 'engines', 'mesh', 'membership', 'peers', 'datasets', 'telemetry', 'store'],
      async start() {
        const { config, logger, metrics, now } = ctx
        const mesh = ctx.get('mesh')
        const peers = ctx.get('peers')
        const state = ctx.get('state')
        const engines = ctx.get('engines')
        const telemetry = ctx.get('telemetry')
        const privateKey = ctx.get('privateKey')
        const membership = ctx.get('membership')
        const peerId = mesh.peerId
        // Engines are advertised from the first ad; the probe adds their measured throughput.
        const offers: NodeOffers = { runtimes: engines.offers(), datasets: [] }
        let seq = BigInt(state.getMeta('ad_seq') ?? '0')
        let lastSigned: Uint8Array | undefined
        /** Wall-clock ms (as connections' open times are) when lastSigned was signed. */
        let lastSignedAt: number | undefined
        let stopped = false
        let dhtPut: Promise<void> | undefined

        /** The block store's room and replica policy, so a holder repairing a target asks only nodes that can take it. */
        const storeOffer = (): StoreOffer | undefined => {
          const store = ctx.find('store')
          if (store === undefined) return undefined
          const { replicas } = config.store
          return create(StoreOfferSchema, {
            usedBytes: BigInt(store.usage().usedBytes),
            quotaBytes: BigInt(config.store.maxBytes),
            acceptsReplicas: replicas.accept !== 'none',
            maxReplicaBytes: BigInt(replicas.maxReplicaBytes),
          })
        }

        let seqUnstored = false
        const buildAd = (): ResourceAd => {
          const host = readHostResources()
          const store = storeOffer()
          const jobs = ctx.find('jobs')
          const work = jobs !== undefined && config.jobs.accept ? jobs.capacity.workOffer() : undefined
          seq += 1n
          try {
            state.setMeta('ad_seq', seq.toString())
            seqUnstored = false
          } catch (err) {
            // A full disk: the ad still goes out with its sequence number, kept in memory only until a write works
            // again (a restart before that starts from the last number stored).
            if (!seqUnstored) logger.warn({ err: (err as Error).message }, 'could not store the ad sequence number (disk full?); ads go on')
            seqUnstored = true
          }
          const issued = now()
          return create(ResourceAdSchema, {
            peerId,
            seq,
            issuedAtMs: BigInt(issued),
            expiresAtMs: BigInt(issued + config.ads.ttlMs),
            startedAtMs: BigInt(ctx.startedAt),
            weftVersion: WEFT_VERSION,
            addrs: mesh.addresses(),
            cpu: { ...host.cpu, utilization: telemetry.latest()?.cpu.host ?? 0 },
            memory: { totalBytes: BigInt(host.memory.totalBytes), freeBytes: BigInt(host.memory.freeBytes) },
            runtimes: offers.runtimes,
            accelerators: engines.accelerators(),
            datasets: offers.datasets,
            labels: config.labels,
            neighbors: [...new Set(mesh.connections().map((c) => c.peer))].slice(0, MAX_AD_NEIGHBORS),
            activities: ctx.activities(),
            ...(membership.certificate === undefined ? {} : { certificate: membership.certificate }),
            ...(store === undefined ? {} : { store }),
            ...(work === undefined ? {} : { work }),
            lmSpans: (ctx.find('inference')?.local() ?? []).map((span) => ({
              model: span.model,
              start: span.start,
              end: span.end,
              numLayers: (JSON.parse(span.configJson) as { numLayers: number }).numLayers,
              engine: span.engine,
              sessions: span.sessions,
              freeTokens: span.freeTokens,
              secondsPerToken: span.secondsPerToken,
            })),
          })
        }

        // With an allow-list, ads of anyone else are dropped: a holder of the key outside it neither enters the table nor is relayed.
        const allow = config.privateNetwork?.allow ?? []
        const allowed = allow.length === 0 ? undefined : new Set(allow)
        /** Gossiped ads verified by the topic's validator, before they are relayed: the handler does not verify them twice. */
        const verified = new WeakMap<SignedResourceAd, VerifiedAd>()
        /** An ad's verification, with the allow-list applied. */
        const check = async (bytes: Uint8Array, receivedAt: number, from: string | undefined): Promise<VerifiedAd> => {
          const result = await verifyAd(bytes, receivedAt, from)
          if (result.ok && allowed !== undefined && !allowed.has(result.ad.peerId)) {
            return { ok: false, reason: 'not-allowed', detail: `${result.ad.peerId} is not in privateNetwork.allow` }
          }
          // With a mesh authority, an ad counts only with a valid certificate of its peer: uncertified identities are
          // neither in the table nor relayed.
          if (result.ok) {
            const verdict = membership.checkPeer(result.ad.peerId, result.ad.certificate)
            if (!verdict.ok) return { ok: false, reason: 'uncertified', detail: `${result.ad.peerId}: ${verdict.reason} (${verdict.detail})` }
          }
          return result
        }
        const dropped = (result: VerifiedAd & { ok: false }, from: string | undefined, via: string): void => {
          metrics.adsReceived.inc({ outcome: result.reason })
          // A late ad (delivered after its expiry) is ordinary under load; anything else is a broken or hostile peer.
          const level = result.reason === 'expired' ? 'debug' : 'warn'
          logger[level]({ from, via, reason: result.reason, detail: result.detail }, 'dropped a resource ad')
        }
        const adsTopic = mesh.pubsub.topic(ADS_TOPIC, SignedResourceAdSchema, {
          // Only an ad that verifies (signature, subject = publisher, fresh, allowed) is relayed to other peers.
          validate: async (message, from) => {
            const result = await check(toBinary(SignedResourceAdSchema, message), now(), from)
            verified.set(message, result)
            if (result.ok) return { ok: true }
            dropped(result, from, 'gossip')
            return { ok: false, reason: `resource ad ${result.reason}`, penalize: result.reason !== 'expired' }
          },
        })
        const sign = async (): Promise<Uint8Array> => {
          const signedAt = Date.now()
          lastSigned = await signAd(buildAd(), privateKey)
          lastSignedAt = signedAt
          return lastSigned
        }
        const publish = async (): Promise<void> => {
          if (stopped) return
          const signed = await sign()
          try {
            await adsTopic.publish(fromBinary(SignedResourceAdSchema, signed))
            metrics.adsPublished.inc()
          } catch (err) {
            logger.debug({ err: (err as Error).message }, 'publishing the ad on gossipsub failed')
          }
          // The DHT copy lets any peer look this node up even when it is not in their gossip mesh. One put at a time,
          // each allowed longer than a short ad interval: a busy machine's put takes seconds, and aborting it stores nothing.
          if (dhtPut === undefined) {
            dhtPut = mesh.dht
              .put(ADS_DHT_NAMESPACE, peerId, signed, { signal: AbortSignal.timeout(Math.max(config.ads.intervalMs, DHT_PUT_TIMEOUT_MS)) })
              .catch((err: unknown) => logger.debug({ err: (err as Error).message }, 'storing the ad in the DHT failed'))
              .finally(() => {
                dhtPut = undefined
              })
          }
        }

        const receiveAd = async (bytes: Uint8Array, from: string | undefined, via: string, checked?: VerifiedAd): Promise<void> => {
          const receivedAt = now()
          const result = checked ?? (await check(bytes, receivedAt, from))
          if (!result.ok) {
            dropped(result, from, via)
            return
          }
          const accepted = peers.accept(result.ad, bytes, receivedAt)
          metrics.adsReceived.inc({ outcome: accepted.accepted ? 'accepted' : accepted.reason })
          if (accepted.accepted && accepted.isNew) logger.info({ peer: result.ad.peerId, via }, 'peer joined')
        }
        const unsubscribe = adsTopic.subscribe((message, from) => {
          void receiveAd(toBinary(SignedResourceAdSchema, message), from, 'gossip', verified.get(message))
        })
        // Signed anew for a caller whose connection is newer than the last ad (a peer reconnecting holds that ad).
        await mesh.rpc.handle(GET_AD, async (_, { peer }) => {
          const opened = mesh.connections().filter((c) => c.peer === peer).map((c) => c.openedAt)
          return fromBinary(SignedResourceAdSchema, lastSigned === undefined || adNeedsSigning(lastSignedAt, opened) ? await sign() : lastSigned)
        })
        // A new connection's ad is fetched directly, so a new peer is known at once.
        const onConnect = (evt: CustomEvent<string>) => {
          void (async () => {
            try {
              const signed = await mesh.rpc.call(evt.detail, GET_AD, {}, { timeoutMs: 5_000 })
              await receiveAd(toBinary(SignedResourceAdSchema, signed), evt.detail, 'rpc')
            } catch (err) {
              logger.debug({ peer: evt.detail, err: (err as Error).message }, 'could not fetch ad on connect')
            }
          })()
        }
        mesh.addEventListener('peer:connect', onConnect)
        const timer = setInterval(() => void publish(), config.ads.intervalMs)
        timer.unref()

        // Data sets are described and the engines measured off the start-up path; the ad is republished after.
        const probeAbort = new AbortController()
        const describe = measure.describeDatasets ?? describeLocalDatasets
        const probe = measure.probeRuntimes ?? probeRuntimes
        const datasets = ctx.get('datasets')
        const measured = (async () => {
          try {
            offers.datasets = await describe(config, (ds) => datasets.load(ds))
          } catch (err) {
            logger.error({ err: (err as Error).message }, 'could not load a configured data set; advertising none')
          }
          try {
            if (config.runtime.probe && !config.lowMemory) {
              const measuredTfjs = await probe(probeAbort.signal)
              const torchGflops = await engines.measureTorch()
              offers.runtimes = engines.offers().map((offer) => {
                if (offer.name === 'torch' && torchGflops !== undefined) return { ...offer, matmulGflops: Math.round(torchGflops * 10) / 10 }
                return measuredTfjs.find((m) => m.name === offer.name) ?? offer
              })
            }
          } catch (err) {
            if (!probeAbort.signal.aborted) logger.warn({ err: (err as Error).message }, 'runtime probe failed')
          }
          if (!stopped && (offers.datasets.length > 0 || offers.runtimes.length > 0)) await publish()
        })()

        ctx.provide('ads', { publish, offers: () => offers })
        release = async () => {
          stopped = true
          clearInterval(timer)
          probeAbort.abort()
          unsubscribe()
          mesh.removeEventListener('peer:connect', onConnect)
          await mesh.rpc.unhandle(GET_AD).catch(() => {})
          await measured.catch(() => {})
        }
      },
      async stop() {
        ctx.withdraw('ads')
        await release?.()
      },
    }
  }
}
