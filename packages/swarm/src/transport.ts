// What a swarm peer needs from the network: gossip of progress reports, one request/response exchange per part of
// an all-reduce, and the swarm's state by content address. The mesh binding (mesh-transport.ts) and the simulator's
// in-process transport (memory-transport.ts) implement it, so both run the same peer code.

/** What each member gossips after every chunk of inner steps, and when it leaves. */
export interface ProgressReport {
  readonly peer: string
  /** The outer step the peer is in (0-based). */
  readonly step: number
  /** Samples the peer processed in this outer step so far. */
  readonly stepSamples: number
  /** Samples the peer processed since it joined. */
  readonly totalSamples: number
  /** Mean training loss of its last chunk (NaN before any). */
  readonly loss: number
  /** Test accuracy of its outer parameters after its last evaluation (NaN if it holds no test set). */
  readonly accuracy: number
  /** Root-mean-square distance of its parameters from its group's mean at its last averaging (NaN before any). */
  readonly consensusDistance: number
  /** Declared bandwidth, bytes per second: its share of each all-reduce is proportional to it. */
  readonly bandwidth: number
  /** The CID of its latest outer state in its block store (a joiner or a lagging peer fetches it), or ''. */
  readonly stateCid: string
  /** The step that state is at the start of. */
  readonly stateStep: number
  /** The peer is leaving: drop it from the member list now. */
  readonly leaving: boolean
}

/** One member's values of one part, sent to the part's owner. */
export interface PartRequest {
  /** The group's key for this step (groups.ts); the owner refuses a part for a group it does not compute. */
  readonly group: string
  readonly step: number
  /** The part's index, offset and length in the group's layout; the owner refuses a range it does not own. */
  readonly part: number
  readonly offset: number
  readonly length: number
  /** Samples behind the values (the sender's samples in this outer step): the weight of a mean. */
  readonly weight: number
  /** The values in the swarm's compression (codec.ts). */
  readonly values: Uint8Array
}

/** The owner's reduction of a part, in the swarm's compression. */
export interface PartResponse {
  readonly values: Uint8Array
  /** Members whose values went into it. */
  readonly contributors: number
}

/** Why an owner refused a part: the sender keeps its own values for it. */
export class PartRefusedError extends Error {
  override name = 'PartRefusedError'
}

/** A swarm's network, as one peer sees it. */
export interface SwarmTransport {
  /** This peer's id. */
  readonly self: string
  /** Gossips a report to the swarm's members. */
  publish(report: ProgressReport): Promise<void>
  /** Calls `listener` with every member's report (not this peer's own); returns the unsubscribe function. */
  subscribe(listener: (report: ProgressReport) => void): () => void
  /**
   * Sends a part to its owner and resolves with the owner's reduction.
   * @throws PartRefusedError when the owner refused it; any other error when the owner could not be reached in time
   */
  exchange(owner: string, request: PartRequest, signal: AbortSignal): Promise<PartResponse>
  /** Serves parts sent to this peer; returns the function that stops serving. */
  serve(handler: (from: string, request: PartRequest, signal: AbortSignal) => Promise<PartResponse>): () => void
}

/** A peer's outer state as it travels to a joiner: the outer parameters and momentum at the start of `step`. */
export interface SwarmState {
  readonly step: number
  /** Samples the swarm had processed when the state was saved. */
  readonly swarmSamples: number
  readonly params: Float32Array
  readonly momentum: Float32Array
}

/** Where peers keep their outer state for others to fetch by content address. */
export interface SwarmStateStore {
  /** Stores a state (announced to the swarm as the peer's `stateCid`). @returns its CID */
  put(state: SwarmState): Promise<string>
  /**
   * Fetches a state by CID from `holder` (and any other provider), verified against the CID.
   * @throws when it cannot be fetched or is not a swarm state of the expected length
   */
  get(cid: string, holder: string, paramCount: number, signal: AbortSignal): Promise<SwarmState>
}
