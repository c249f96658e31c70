// The chaos harness's history: what every node said (its log lines, typed where the harness reads them), what the
// coordinator's job events say, what the harness did (faults) and what the workload client saw, merged in one list
// ordered by the harness's clock. The checks (checks.ts) read only this.

/** One entry of the history. `at`: ms since the run started, on the harness's clock. */
export type HistoryEntry =
  | { readonly at: number; readonly kind: 'fault'; readonly fault: string; readonly target: string; readonly detail?: string }
  | { readonly at: number; readonly kind: 'heal'; readonly fault: string; readonly target: string }
  /** A node's process ended without the harness killing it: its exit code or signal and its last lines. */
  | { readonly at: number; readonly kind: 'node-exit'; readonly node: string; readonly code: number | null; readonly signal: string | null; readonly tail: readonly string[] }
  /** A client node said the coordinator accepted its update of `round` (the client's own log). */
  | { readonly at: number; readonly kind: 'client-ack'; readonly node: string; readonly peerId: string; readonly job: string; readonly round: number }
  /** One of the coordinator's job events (stored in its SQLite, read over its API; `seq` is per job). */
  | { readonly at: number; readonly kind: 'job-event'; readonly job: string; readonly seq: number; readonly type: string; readonly round?: number; readonly data: Readonly<Record<string, unknown>> }
  /** The workload client's operations: submitted a job, saw it end. */
  | { readonly at: number; readonly kind: 'op'; readonly op: 'submit' | 'ended'; readonly job: string; readonly status?: string; readonly error?: string }
  /** The storage workload's acknowledged write: the origin pinned `cid` and took its replication target of `factor`. */
  | { readonly at: number; readonly kind: 'store-ack'; readonly cid: string; readonly bytes: number; readonly sha256: string; readonly factor: number }
  /**
   * An acknowledged artifact once faults healed: the nodes holding it whole when the replication target was met (or
   * the bound passed), and whether its bytes, read back from a holder, hash to what was written.
   */
  | {
      readonly at: number
      readonly kind: 'final-artifact'
      readonly cid: string
      readonly holders: readonly string[]
      readonly content: 'ok' | 'mismatch' | 'unreadable'
      readonly detail?: string
    }
  /** The client updates the coordinator's fl.db held a tensor for at one moment (read beside the running node). */
  | { readonly at: number; readonly kind: 'coordinator-store'; readonly updates: readonly { readonly job: string; readonly client: string; readonly round: number }[] }
  /** One outer step a swarm peer completed, as its own view lists it (`life`: how many times the node was started). */
  | { readonly at: number; readonly kind: 'swarm-step'; readonly node: string; readonly swarm: string; readonly life: number; readonly step: number; readonly accuracy: number | null }
  /** A swarm peer's view once its swarm ended (or the liveness bound passed). */
  | {
      readonly at: number
      readonly kind: 'final-swarm'
      readonly node: string
      readonly swarm: string
      readonly state: string
      readonly error?: string
      readonly step: number
      readonly totalSteps: number
      readonly accuracy: number | null
      readonly swarmSamples: number
      readonly totalSamples: number
    }
  /**
   * One completion asked of the entry node: the text it answered, or its error; the text one engine alone gives for
   * the prompt (greedy); how long it took; `after`: ms since the run started when it was asked.
   */
  | {
      readonly at: number
      readonly kind: 'completion'
      readonly after: number
      readonly ok: boolean
      readonly text?: string
      readonly expected: string
      readonly error?: string
      readonly ms: number
    }
  /** A batch job as its owner (the coordinator, or the node that took it over) shows it at the end: each task's state, parameters and accepted result. */
  | {
      readonly at: number
      readonly kind: 'final-batch'
      readonly job: string
      readonly state: string
      readonly reason: string
      /** `honest`: what an honest node answers for the task, reckoned by the harness (where it can). */
      readonly tasks: readonly { readonly id: string; readonly state: string; readonly params: unknown; readonly result?: unknown; readonly honest?: unknown; readonly workers: readonly string[] }[]
      readonly receipts: number
    }
  /** The owners' verdicts on a worker at the end (valid and invalid results, summed), and whether its ledger chain verifies. */
  | { readonly at: number; readonly kind: 'worker-record'; readonly node: string; readonly peerId: string; readonly cheater: boolean; readonly valid: number; readonly invalid: number; readonly ledger: 'ok' | string }
  /** The job as the coordinator shows it at the end: each committed round's delivered clients and results. */
  | {
      readonly at: number
      readonly kind: 'final-job'
      readonly job: string
      readonly status: string
      readonly rounds: readonly {
        readonly round: number
        readonly delivered: readonly string[]
        readonly results: number | undefined
        /** Under secure aggregation: the session whose sum the round committed. */
        readonly session?: number
        /** Under differential privacy: the ε spent once this round was released (the accountant's, at commit). */
        readonly epsilon?: number
      }[]
    }

/** The entries that stand for a promise the checks hold the system to (counted in a report's `acks`; completions only when answered). */
export const ACK_KINDS: readonly HistoryEntry['kind'][] = ['client-ack', 'store-ack', 'swarm-step', 'completion', 'final-batch']

export class History {
  readonly #entries: HistoryEntry[] = []
  readonly #t0 = Date.now()

  /** Ms since the run started. */
  now(): number {
    return Date.now() - this.#t0
  }

  add(entry: HistoryEntry): void {
    this.#entries.push(entry)
  }

  entries(): readonly HistoryEntry[] {
    return [...this.#entries].sort((a, b) => a.at - b.at)
  }
}
