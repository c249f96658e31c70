// The simulator's network: swarm peers in one process, reports and parts delivered through an in-memory hub, states
// kept in a map. A peer can be cut off (a killed process) to test what the swarm does without it.
import { PartRefusedError, type PartRequest, type PartResponse, type ProgressReport, type SwarmState, type SwarmStateStore, type SwarmTransport } from './transport.js'

type Handler = (from: string, request: PartRequest, signal: AbortSignal) => Promise<PartResponse>

/** An in-memory swarm network. */
export class MemoryHub {
  readonly #listeners = new Map<string, Set<(report: ProgressReport) => void>>()
  readonly #handlers = new Map<string, Handler>()
  readonly #cut = new Set<string>()
  readonly #states = new Map<string, SwarmState>()
  #nextState = 0
  /** Bytes of parts and replies carried. */
  bytes = 0

  /** The transport of peer `self`. */
  transport(self: string): SwarmTransport {
    const hub = this
    return {
      self,
      async publish(report) {
        if (hub.#cut.has(self)) return
        for (const [peer, listeners] of hub.#listeners) {
          if (peer === self || hub.#cut.has(peer)) continue
          for (const l of listeners) setTimeout(() => l(report), 0)
        }
      },
      subscribe(listener) {
        const set = hub.#listeners.get(self) ?? new Set()
        hub.#listeners.set(self, set)
        set.add(listener)
        return () => set.delete(listener)
      },
      async exchange(owner, request, signal) {
        const handler = hub.#handlers.get(owner)
        if (handler === undefined || hub.#cut.has(owner) || hub.#cut.has(self)) throw new Error(`${owner} cannot be reached`)
        hub.bytes += request.values.length
        const response = await new Promise<PartResponse>((resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true })
          handler(self, request, signal).then(resolve, reject)
        })
        if (hub.#cut.has(owner)) throw new Error(`${owner} cannot be reached`)
        hub.bytes += response.values.length
        return response
      },
      serve(handler) {
        hub.#handlers.set(self, handler)
        return () => {
          if (hub.#handlers.get(self) === handler) hub.#handlers.delete(self)
        }
      },
    }
  }

  /** Cuts a peer off, as if its process were killed: nothing reaches it and nothing it sends arrives. */
  cut(peer: string): void {
    this.#cut.add(peer)
    this.#handlers.delete(peer)
  }

  /** The hub's state store (states are copied in and out, as bytes would be). */
  readonly states: SwarmStateStore = {
    put: async (state) => {
      const cid = `mem-state-${this.#nextState++}`
      this.#states.set(cid, { ...state, params: new Float32Array(state.params), momentum: new Float32Array(state.momentum) })
      return cid
    },
    get: async (cid, holder, paramCount) => {
      // The state lives with its holder: a killed holder's is gone with it.
      if (this.#cut.has(holder)) throw new Error(`${holder} cannot be reached`)
      const state = this.#states.get(cid)
      if (state === undefined || state.params.length !== paramCount) throw new PartRefusedError(`no state ${cid} of ${paramCount} parameters`)
      return { ...state, params: new Float32Array(state.params), momentum: new Float32Array(state.momentum) }
    },
  }
}
