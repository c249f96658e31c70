// The Strategy contract: how a coordinator turns client updates into the next global model, with the privacy
// controls a DP-wrapped strategy adds and the hints clients train under. Types only: no implementation imported.
//
// Updates are deltas (client weights after local training minus the global weights the client started
// from), so the same contract serves synchronous rounds, asynchronous buffered rounds (FedBuff) and
// compressed updates. A strategy never sees the network, the store or the clock.

/** One client's contribution to an aggregation. */
export interface ClientUpdate {
  /** Who sent it (peer id or virtual client id); used by rules that report selections (Krum). */
  readonly clientId: string
  /** Client weights after training minus the global weights it started from. Not modified by strategies. */
  readonly delta: Float32Array
  /** Examples the client trained on (the FedAvg weight). Positive integer. */
  readonly numExamples: number
  /** Global model versions committed since the client's base model (0 in synchronous rounds). */
  readonly staleness: number
  /** Differential privacy with client-side clipping: whether the update's norm was within the clip norm before clipping. */
  readonly withinClip?: boolean
}

/** Server-side state a strategy carries across rounds (momentum, moments), persisted with each round. */
export interface StrategyState {
  readonly tensors: Readonly<Record<string, Float32Array>>
  readonly scalars: Readonly<Record<string, number>>
}

/** What clients must do differently while training under this strategy. */
export interface ClientTrainHints {
  /** FedProx proximal coefficient μ (0 or absent: plain local training). */
  readonly proximalMu?: number
  /** Differential privacy: clip the update (and, in local mode, add noise) before sending it. */
  readonly dp?: DpClientHints
  /** Secure aggregation: mask the (weighted) update in this session instead of sending it in the clear. */
  readonly secure?: SecureTaskHint
}

/** Aggregation of one round (or, for FedBuff, of one buffer). */
export interface RoundAggregator {
  /**
   * Adds an update. Streaming strategies fold it at once and keep no reference to `update.delta`;
   * the others keep it until `finish`.
   * @throws RangeError when the delta's length differs from the model's or numExamples is not a positive integer.
   */
  add(update: ClientUpdate): void
  /** Updates added so far. */
  readonly count: number
  /**
   * Takes a round's secure sum instead of individual updates (the DP wrapper: its noise goes on the sum). Absent:
   * the coordinator adds the sum's weighted mean as a single update.
   */
  addSum?(sum: SecureSum): void
  /**
   * Computes the next global model. Does not modify the `global` passed to `begin`.
   * @throws NotEnoughUpdatesError when fewer than `strategy.minUpdates` updates were added.
   */
  finish(): AggregateResult
}

export interface AggregateResult {
  /** The next global model (a new array). */
  readonly global: Float32Array
  /** Client ids whose updates the rule selected, when the rule selects (Krum, Multi-Krum, Bulyan). */
  readonly selected?: readonly string[]
}

/** An aggregation rule with its server state. */
export interface Strategy {
  /** Config name, e.g. 'fedavg'. */
  readonly name: StrategyName
  /** True when updates are folded as they arrive: at most one update's worth of memory beyond the accumulator. */
  readonly streaming: boolean
  /** True for asynchronous buffered aggregation (FedBuff): the coordinator keeps clients busy instead of running rounds. */
  readonly asynchronous: boolean
  /** Fewest updates `finish` accepts (Krum: 2f+3, Bulyan: 4f+3, others 1). */
  readonly minUpdates: number
  /** For asynchronous strategies: updates per server step (FedBuff's K). Synchronous: undefined. */
  readonly bufferSize?: number
  /** Differential privacy (strategies wrapped by `withDifferentialPrivacy`): the coordinator drives it. */
  readonly privacy?: PrivacyControl
  /** Hints the coordinator passes to clients with every training task. */
  clientHints(): ClientTrainHints
  /** Starts aggregating over `global` (not modified, not retained after finish). */
  begin(global: Float32Array): RoundAggregator
  /** The server state after the last finish (empty for stateless rules). */
  exportState(): StrategyState
  /**
   * Restores state exported by the same strategy and config (coordinator restart).
   * @throws RangeError when the state does not fit (wrong tensor names or lengths).
   */
  importState(state: StrategyState): void
}

export type StrategyName =
  | 'fedavg'
  | 'fedavgm'
  | 'fedprox'
  | 'fedadam'
  | 'fedyogi'
  | 'fedadagrad'
  | 'fedmedian'
  | 'fedtrimmedavg'
  | 'krum'
  | 'multikrum'
  | 'bulyan'
  | 'fedbuff'

/** Where DP clipping and noise happen (see DP_MODES). */
export type DpMode = 'central' | 'client' | 'local'

/** The DP settings a coordinator reads from a DP-wrapped strategy (the job spec's `privacy.dp`, validated). */
export interface DpSettings {
  readonly mode: DpMode
  readonly clipNorm: number
  readonly adaptiveClipping?: { readonly targetQuantile: number; readonly learningRate: number; readonly countNoiseStd?: number | undefined } | undefined
  readonly noiseMultiplier?: number | undefined
  readonly targetEpsilon?: number | undefined
  readonly delta: number
  readonly epsilonLimit?: number | undefined
  readonly population?: number | undefined
}

/** What a DP job has spent and with what, as round metrics and `weft fl status` show it. */
export interface PrivacySpent {
  readonly epsilon: number
  readonly delta: number
  readonly noiseMultiplier: number
  readonly clipNorm: number
  readonly sampleRate: number
  readonly rounds: number
  readonly mode: DpMode
}

/** The privacy side of a DP-wrapped strategy, which the coordinator drives. */
export interface PrivacyControl {
  readonly config: DpSettings
  /**
   * Fixes N, m and z before the job's first round (z from targetEpsilon over `rounds`). No effect once fixed:
   * the values are part of the state, so a resumed job keeps them.
   */
  configure(population: number, expectedClients: number, rounds: number): void
  readonly configured: boolean
  /** ε(δ) spent so far with the parameters used. */
  spent(): PrivacySpent
  /** Whether one more round keeps ε within the limit. */
  allowsAnotherRound(): boolean
}

/** Hints a DP-wrapped strategy adds to every training task. */
export interface DpClientHints {
  /** Clip the update to this L2 norm before sending it. */
  readonly clipNorm: number
  /** Local DP: add N(0, noiseStd²) per coordinate after clipping (0: none). */
  readonly noiseStd: number
}

/** A secure sum as the unmasking of secure aggregation yields it. */
export interface SecureSum {
  /** Σ over the surviving clients of (weight × delta). */
  readonly sum: Float64Array
  /** Clients in the sum. */
  readonly count: number
  /** Σ of their weights (the count when unweighted). */
  readonly weight: number
  /** Clients that reported their update within the clip norm (adaptive clipping). */
  readonly withinClipCount?: number
}

/** What a training task tells a client of the round's secure aggregation. */
export interface SecureTaskHint {
  /** The session id (secureSessionId). */
  readonly session: number
  /** Multiply the update by this before masking (n_i / max n over the round; 1 under DP). */
  readonly weight: number
  /** Append the DP clip bit (within the clip norm or not) as one more coordinate, scaled by the clip range. */
  readonly clipBit: boolean
}
