// The swarm simulator: virtual peers in one process, each with its own share of a data set, running the same peer
// code as a node over an in-memory network. What a distributed run gives is checked against it.
import type { DatasetSource, TrainingPool } from '@weft/runtime'
import { MemoryHub } from './memory-transport.js'
import { type StepRecord, type SwarmPeer, type SwarmPeerEvent, type SwarmTrainer, startSwarmPeer } from './peer.js'
import { isTransformerModel, type SwarmSpec } from './spec.js'
import { poolTrainer } from './trainer.js'

export interface SwarmSimulationInit {
  readonly spec: SwarmSpec
  /** One data-set share per peer; peers listed in `join` start later, the rest at once. */
  readonly shares: readonly DatasetSource[]
  /** The test set every peer evaluates on (the spec's `evaluation`), and the final models are scored on. */
  readonly test?: DatasetSource
  readonly pool: TrainingPool
  /**
   * The peers' own trainers instead of the pool and shares (one per peer, e.g. `transformerTrainer`s for a language
   * model); the final models are scored with their `evaluate`.
   */
  readonly trainers?: readonly SwarmTrainer[]
  /** Peers (indices into `shares`) killed when the first peer to get there reaches an outer step. */
  readonly kill?: readonly { readonly peer: number; readonly atStep: number }[]
  /** Peers that join late, when the first peer reaches an outer step; they fetch the latest state. */
  readonly join?: readonly { readonly peer: number; readonly atStep: number }[]
  readonly onEvent?: (peer: string, event: SwarmPeerEvent) => void
}

export interface SwarmSimulationResult {
  readonly peers: readonly {
    readonly id: string
    readonly records: readonly StepRecord[]
    /** Test accuracy of its final outer parameters (NaN without a test set). */
    readonly accuracy: number
    /** Test loss of its final outer parameters (NaN without a test set). */
    readonly loss: number
    readonly killed: boolean
    readonly params: Float32Array
  }[]
  readonly seconds: number
  /** Bytes of parts and reductions the network carried. */
  readonly bytes: number
}

/** Runs a swarm of virtual peers to the end. */
export async function runSwarmSimulation(init: SwarmSimulationInit): Promise<SwarmSimulationResult> {
  const start = Date.now()
  const hub = new MemoryHub()
  const ids = (init.trainers ?? init.shares).map((_, i) => `sim-peer-${String(i).padStart(3, '0')}`)
  const peers = new Map<number, SwarmPeer>()
  const killed = new Set<number>()
  const late = new Map((init.join ?? []).map((j) => [j.peer, j.atStep]))
  const kills = [...(init.kill ?? [])]
  let furthest = 0
  const launch = (i: number, join: boolean): void => {
    const peer = startSwarmPeer({
      swarm: 'simulation',
      spec: init.spec,
      transport: hub.transport(ids[i] as string),
      trainer: init.trainers?.[i] ?? poolTrainer({ spec: init.spec, pool: init.pool, train: init.shares[i] as DatasetSource, ...(init.test === undefined ? {} : { test: init.test }), seed: i }),
      states: hub.states,
      join,
      onEvent: (event) => {
        init.onEvent?.(ids[i] as string, event)
        if (event.type !== 'step') return
        const reached = event.record.step + 1
        if (reached <= furthest) return
        furthest = reached
        for (const [p, at] of late) {
          if (at <= reached) {
            late.delete(p)
            launch(p, true)
          }
        }
        for (const k of kills.filter((k) => k.atStep <= reached && !killed.has(k.peer))) {
          killed.add(k.peer)
          hub.cut(ids[k.peer] as string)
          void peers.get(k.peer)?.leave()
        }
      },
    })
    peers.set(i, peer)
  }
  for (let i = 0; i < ids.length; i++) if (!late.has(i)) launch(i, false)
  // Peers launched later join the set while others run: wait until every launched peer is done.
  for (;;) {
    const running = [...peers.entries()].filter(([i]) => !killed.has(i))
    await Promise.all(running.map(([, p]) => p.done))
    if ([...peers.keys()].filter((i) => !killed.has(i)).length === running.length && late.size === 0) break
    if (late.size > 0 && running.every(([, p]) => p.step >= p.totalSteps)) break
  }
  const test = init.test
  const results = await Promise.all(
    [...peers.entries()].sort(([a], [b]) => a - b).map(async ([i, p]) => {
      const params = p.params()
      const model = init.spec.model
      const own = init.trainers?.[i]
      let scored = { loss: Number.NaN, accuracy: Number.NaN }
      if (!killed.has(i)) {
        if (own?.evaluate !== undefined) scored = await own.evaluate(params)
        else if (test !== undefined && !isTransformerModel(model)) scored = await init.pool.evaluate({ spec: model, params, dataset: test, batchSize: 1000 })
      }
      return { id: ids[i] as string, records: p.records, accuracy: scored.accuracy, loss: scored.loss, killed: killed.has(i), params }
    }),
  )
  return { peers: results, seconds: (Date.now() - start) / 1000, bytes: hub.bytes }
}
