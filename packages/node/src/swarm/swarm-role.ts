// The node's swarm role: the swarms this node trains in with no coordinator. A swarm's id is the CID of its spec in
// the block store, so any node that starts the same spec is in the same swarm, and a joiner needs only the id: it
// fetches the spec by CID, then the latest outer state by CID from a member, both verified block by block.
import type { SwarmView } from '@weft/api-client'
import type { InMemoryDataset } from '@weft/data'
import type { BpeTokenizer } from '@weft/lm'
import type { MeshNode } from '@weft/mesh/node'
import type { TrainingPool, TransformerTrainingRuntime } from '@weft/runtime'
import { type CID, parseCid } from '@weft/store'
import type { DiskStore } from '@weft/store/node'
import { createMeshSwarmTransport, createSwarmRpcHost, decodeSwarmState, encodeSwarmState, isTransformerModel, parseSwarmSpec, poolTrainer, type StepRecord, type SwarmPeer, type SwarmPeerEvent, type SwarmRpcHost, type SwarmSpec, type SwarmState, type SwarmStateStore, type SwarmTrainer, startSwarmPeer, transformerTrainer } from '@weft/swarm'
import type { Logger } from 'pino'
import type { BlockExchange } from '../components/block-exchange.js'
import type { Replication } from '../components/replication.js'
import type { DatasetConfig } from '../config.js'
import { readStoredFile } from '../store-read.js'
import { isTextDataset, textTokens } from '../text-datasets.js'

/** Largest swarm spec read from the store (bytes). */
const MAX_SPEC_BYTES = 64 * 1024
/** Largest swarm state read from the store (bytes): 2 GiB. */
const MAX_STATE_BYTES = 2 * 1024 ** 3
/** States a peer keeps announced: the latest and the one before (a joiner may be fetching it). */
const KEPT_STATES = 2
/** Step records a status shows (the latest). */
const MAX_RECORDS = 10_000

/** A request the node refuses, with the HTTP status it maps to. */
export class SwarmRequestError extends Error {
  override readonly name = 'SwarmRequestError'
  constructor(
    readonly status: 400 | 404 | 409 | 503,
    message: string,
  ) {
    super(message)
  }
}

export interface NodeSwarms {
  /** Starts (or, with the same spec, takes part in) a swarm from a spec; its id is the spec's CID. */
  start(spec: unknown): Promise<SwarmView>
  /** Joins a running swarm by id: fetches its spec and its latest state from the members. */
  join(id: string): Promise<SwarmView>
  list(): SwarmView[]
  get(id: string): SwarmView | undefined
  /** Leaves a swarm cleanly. @returns false when this node is not in it */
  leave(id: string): Promise<boolean>
  stop(): Promise<void>
}

export interface SwarmRoleComponents {
  readonly mesh: MeshNode
  readonly store: DiskStore | undefined
  readonly blockExchange: BlockExchange | undefined
  /** Replication of pinned roots (the spec's checkpoints); absent without a block store. */
  readonly replication: Replication | undefined
  /** Why a peer may not take part (not a member of the mesh), or undefined. */
  readonly member: (peer: string) => string | undefined
  readonly datasets: readonly DatasetConfig[]
  readonly loadDataset: (config: DatasetConfig) => Promise<InMemoryDataset>
  /** The training pool of an engine (default: the node's preferred one) and its name. */
  readonly pool: () => { readonly pool: TrainingPool; readonly engine: string }
  /** The engine that trains language models (the node's preferred one), started on first use. */
  readonly transformerRuntime: () => Promise<TransformerTrainingRuntime & { readonly name: string; readonly backend: string }>
  /** The tokenizer of text data sets: the shipped KJV model's. */
  readonly tokenizer: () => Promise<BpeTokenizer>
  readonly logger: Logger
  readonly onEvent?: (swarm: string, event: SwarmPeerEvent) => void
  readonly now?: () => number
}

interface Running {
  readonly id: string
  readonly peer: SwarmPeer
  readonly engine: string
  /** Checkpoints this peer kept at the spec's replication factor. */
  readonly checkpoints: readonly { step: number; cid: string }[]
  state: SwarmView['state']
  error?: string
}

const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null)

export async function startSwarmRole(c: SwarmRoleComponents): Promise<NodeSwarms> {
  const now = c.now ?? Date.now
  const host: SwarmRpcHost = await createSwarmRpcHost(c.mesh.rpc, c.member)
  const running = new Map<string, Running>()
  const log = c.logger.child({ component: 'swarm' })

  const needStore = (): { store: DiskStore; blockExchange: BlockExchange | undefined } => {
    if (c.store === undefined) throw new SwarmRequestError(503, 'this node has no block store (store.enabled is false): swarms keep their spec and states in it')
    return { store: c.store, blockExchange: c.blockExchange }
  }

  /** Reads a file root, fetching it from `providers` (or any provider) when it is not complete here. */
  const readFile = async (root: CID, maxBytes: number, providers: readonly string[], signal: AbortSignal): Promise<Uint8Array> => {
    const { store, blockExchange } = needStore()
    let stat = await store.stat(root)
    if (stat === undefined || stat.missing > 0) {
      if (blockExchange === undefined) throw new SwarmRequestError(404, `${root} is not in this node's store`)
      const r = await blockExchange.fetch(root, { signal, ...(providers.length > 0 ? { providers } : {}) })
      if (!r.ok) throw new SwarmRequestError(404, `${root} could not be fetched from the mesh: ${r.detail}`)
      stat = await store.stat(root)
    }
    if (stat === undefined || stat.kind !== 'file') throw new SwarmRequestError(400, `${root} is not a file`)
    if (stat.size > maxBytes) throw new SwarmRequestError(400, `${root} is ${stat.size} bytes, more than ${maxBytes}`)
    return readStoredFile(store, root, stat.size)
  }

  /**
   * A swarm's states in this node's block store, announced so a joiner fetches them from this node; with the spec's
   * `checkpoint`, every `every` steps one is kept at `replicas` holders (the previous checkpoint's target ends).
   */
  const stateStore = (id: string, spec: SwarmSpec, paramCount: number, checkpoints: { step: number; cid: string }[]): SwarmStateStore => {
    const kept: CID[] = []
    let lastCheckpoint: CID | undefined
    const checkpoint = async (root: CID, step: number): Promise<void> => {
      const replication = c.replication
      const target = spec.checkpoint
      if (replication === undefined || target === undefined || step === 0 || step % target.every !== 0) return
      const previous = lastCheckpoint
      lastCheckpoint = root
      checkpoints.push({ step, cid: root.toString() })
      // Off the training path: a repair round asks peers and waits for their pulls.
      void replication
        .replicate(root, { factor: target.replicas })
        .then(async () => {
          if (previous !== undefined) await replication.forget(previous)
        })
        .catch((err: unknown) => log.warn({ swarm: id, step, err: (err as Error).message }, 'could not replicate a checkpoint'))
    }
    return {
      async put(state: SwarmState) {
        const { store, blockExchange } = needStore()
        const root = store.addBytesSync(encodeSwarmState(state), { hold: 'swarm' })
        await blockExchange?.announce(root)
        await checkpoint(root, state.step)
        kept.push(root)
        while (kept.length > KEPT_STATES) {
          const old = kept.shift() as CID
          if (old.equals(root)) continue
          await blockExchange?.unannounce(old)
          store.release(old, 'swarm')
        }
        return root.toString()
      },
      async get(cid, holder, count, signal) {
        if (count !== paramCount) throw new RangeError(`asked for a state of ${count} parameters in a swarm of ${paramCount}`)
        const bytes = await readFile(parseCid(cid), MAX_STATE_BYTES, [holder], signal)
        return decodeSwarmState(bytes, paramCount)
      },
    }
  }

  /** Swarms being started (their data loading): a second start of one meanwhile is a conflict too. */
  const starting = new Set<string>()
  const launch = async (id: string, spec: SwarmSpec, join: boolean): Promise<SwarmView> => {
    if (starting.has(id) || running.get(id)?.state === 'training') throw new SwarmRequestError(409, `this node is in swarm ${id} already`)
    starting.add(id)
    try {
      return await launchNow(id, spec, join)
    } finally {
      starting.delete(id)
    }
  }
  const launchNow = async (id: string, spec: SwarmSpec, join: boolean): Promise<SwarmView> => {
    const config = c.datasets.find((d) => d.name === spec.dataset)
    if (config === undefined) throw new SwarmRequestError(400, `this node holds no data set named ${spec.dataset} (node config datasets[].name)`)
    const testConfig = spec.evaluation === undefined ? undefined : c.datasets.find((d) => d.name === spec.evaluation?.dataset)
    const checkpoints: { step: number; cid: string }[] = []
    let trainer: SwarmTrainer & { dispose?(): void }
    let engine: string
    if (isTransformerModel(spec.model)) {
      if (!isTextDataset(config)) throw new SwarmRequestError(400, `dataset: a language model trains on a text data set (source kjv); ${spec.dataset} is not one`)
      if (testConfig !== undefined && !isTextDataset(testConfig)) throw new SwarmRequestError(400, `evaluation.dataset: ${testConfig.name} is not a text data set`)
      const tokenizer = await c.tokenizer()
      if (spec.model.config.vocabSize !== tokenizer.vocabSize) {
        throw new SwarmRequestError(400, `model.config.vocabSize: the node's tokenizer (the shipped KJV model's) has ${tokenizer.vocabSize} ids, the spec ${spec.model.config.vocabSize}`)
      }
      const runtime = await c.transformerRuntime()
      engine = `${runtime.name}/${runtime.backend}`
      trainer = transformerTrainer({
        spec,
        runtime,
        train: await textTokens(config, tokenizer),
        ...(testConfig === undefined ? {} : { validation: await textTokens(testConfig, tokenizer) }),
        seed: hashSeed(c.mesh.peerId),
      })
    } else {
      if (isTextDataset(config)) throw new SwarmRequestError(400, `dataset: ${spec.dataset} is text; an image model trains on images`)
      const train = await c.loadDataset(config)
      const test = testConfig === undefined ? undefined : await c.loadDataset(testConfig)
      const p = c.pool()
      engine = p.engine
      trainer = poolTrainer({ spec, pool: p.pool, train: train.toShared(), ...(test === undefined ? {} : { test: test.toShared() }), seed: hashSeed(c.mesh.peerId) })
    }
    const peer = startSwarmPeer({
      swarm: id,
      spec,
      transport: createMeshSwarmTransport({ swarm: id, self: c.mesh.peerId, rpc: c.mesh.rpc, pubsub: c.mesh.pubsub, host, authorize: c.member }),
      trainer,
      states: stateStore(id, spec, trainer.paramCount, checkpoints),
      join,
      now,
      onEvent: (event) => {
        if (event.type === 'step') log.info({ swarm: id, step: event.record.step, loss: event.record.loss, accuracy: event.record.accuracy, group: event.record.groupSize }, 'outer step')
        else if (event.type === 'offence') log.warn({ swarm: id, peer: event.peer, reason: event.reason }, 'dropped a member')
        else log.info({ swarm: id, ...event }, event.type)
        c.onEvent?.(id, event)
      },
    })
    const entry: Running = { id, peer, engine, state: 'training', checkpoints }
    running.set(id, entry)
    void peer.done.finally(() => trainer.dispose?.()).catch(() => undefined)
    peer.done.then(
      () => {
        if (entry.state === 'training') entry.state = 'done'
      },
      (err: unknown) => {
        entry.state = 'failed'
        entry.error = (err as Error).message
        log.error({ swarm: id, err: entry.error }, 'swarm peer failed')
      },
    )
    return view(entry)
  }

  const view = (r: Running): SwarmView => {
    const p = r.peer
    const others = p.members.others()
    const target = p.spec.targetSamples
    const u = p.utilisation
    return {
      id: r.id,
      name: p.spec.name,
      state: r.state,
      ...(r.error === undefined ? {} : { error: r.error }),
      step: p.step,
      totalSteps: p.totalSteps,
      swarmSamples: Math.min(p.spec.totalSamples, p.step * target + Math.min(target, p.members.samplesIn(p.step, target))),
      targetSamples: target,
      totalSamples: p.spec.totalSamples,
      engine: r.engine,
      members: others.map((m) => ({
        peer: m.report.peer,
        step: m.report.step,
        stepSamples: m.report.stepSamples,
        totalSamples: m.report.totalSamples,
        loss: orNull(m.report.loss),
        accuracy: orNull(m.report.accuracy),
        consensusDistance: orNull(m.report.consensusDistance),
        lastSeenMs: Math.max(0, now() - m.seenAt),
      })),
      banned: [...p.members.banned()].map(([peer, reason]) => ({ peer, reason })),
      history: p.records.slice(-MAX_RECORDS).map(stepView),
      evaluation: p.evaluation === undefined ? null : { step: p.evaluation.step, accuracy: orNull(p.evaluation.accuracy), testLoss: orNull(p.evaluation.loss), final: p.evaluation.final },
      bytes: p.bytes,
      checkpoints: [...r.checkpoints],
      utilisation: { ...u, fraction: u.wallSeconds > 0 ? u.trainSeconds / u.wallSeconds : 0 },
      spec: p.spec as unknown as Record<string, unknown>,
    }
  }

  return {
    async start(input) {
      let spec: SwarmSpec
      try {
        spec = parseSwarmSpec(input)
      } catch (err) {
        throw new SwarmRequestError(400, (err as Error).message)
      }
      const { store, blockExchange } = needStore()
      // The id is the CID of the spec as validated (defaults filled), so equal specs written differently agree.
      const root = store.addBytesSync(new TextEncoder().encode(JSON.stringify(spec)), { hold: 'swarm' })
      try {
        await blockExchange?.announce(root)
        return await launch(root.toString(), spec, false)
      } catch (err) {
        // One hold per swarm this node trains in: a refused start gives its hold back.
        store.release(root, 'swarm')
        throw err
      }
    },
    async join(id) {
      let root: CID
      try {
        root = parseCid(id)
      } catch (err) {
        throw new SwarmRequestError(400, `a swarm id is its spec's CID: ${(err as Error).message}`)
      }
      const bytes = await readFile(root, MAX_SPEC_BYTES, [], AbortSignal.timeout(60_000))
      let spec: SwarmSpec
      try {
        spec = parseSwarmSpec(JSON.parse(new TextDecoder().decode(bytes)))
      } catch (err) {
        throw new SwarmRequestError(400, `${id} is not a swarm spec: ${(err as Error).message}`)
      }
      const { store } = needStore()
      store.hold(root, 'swarm')
      try {
        return await launch(id, spec, true)
      } catch (err) {
        store.release(root, 'swarm')
        throw err
      }
    },
    list: () => [...running.values()].map(view),
    get(id) {
      const r = running.get(id)
      return r === undefined ? undefined : view(r)
    },
    async leave(id) {
      const r = running.get(id)
      if (r === undefined || r.state !== 'training') return false
      r.state = 'left'
      await r.peer.leave()
      return true
    },
    async stop() {
      for (const r of running.values()) if (r.state === 'training') r.state = 'left'
      await Promise.all([...running.values()].map((r) => r.peer.leave()))
      await host.stop()
    },
  }
}

/** A step record with what JSON cannot carry (NaN) as null. */
function stepView(r: StepRecord): SwarmView['history'][number] {
  return { ...r, failures: [...r.failures], loss: orNull(r.loss), accuracy: orNull(r.accuracy), testLoss: orNull(r.testLoss), consensusDistance: orNull(r.consensusDistance), pseudoGradient: orNull(r.pseudoGradient) }
}

/** A peer's seed for its data order, from its id. */
function hashSeed(peerId: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < peerId.length; i++) h = Math.imul(h ^ peerId.charCodeAt(i), 0x01000193) >>> 0
  return h % 1_000_000
}
