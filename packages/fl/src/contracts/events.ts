// A federated job's typed events: each kind with its payload. The human message is derived from the payload
// (describeJobEvent); tests, the dashboard and the CLI read the payload, never the text. Types only.

/** Payload of each event kind. Client ids are peer ids (or virtual ids in a simulation). */
export interface JobEventMap {
  'job-submitted': { readonly name: string; readonly submitter: string; readonly strategy: string; readonly rounds: number; readonly params: number }
  /** The job runs again: after a coordinator restart, or (`pausedFor`) after a pause. */
  'job-resumed': { readonly round: number; readonly pausedFor?: string }
  /** The job stopped without failing: its store is out of space. It resumes by itself once a write succeeds again. */
  'job-paused': { readonly reason: string; readonly retryMs: number }
  'job-finished': { readonly rounds: number; readonly modelHash: string }
  'job-cancelled': { readonly reason: string }
  'job-failed': { readonly reason: string }
  /** The job stops before `round`: it would take ε past `epsilonLimit`. */
  'privacy-budget-reached': { readonly round: number; readonly epsilonLimit: number; readonly epsilon: number; readonly delta: number }
  'client-joined': { readonly client: string; readonly examples: number }
  'client-refused': { readonly client: string; readonly reason: string }
  /** A synchronous round (`buffer` absent) or an asynchronous server step (`buffer`: updates per step). */
  'round-started': { readonly participants: number; readonly resumedUpdates: number; readonly buffer?: number }
  'secure-round-started': {
    readonly session: number
    readonly participants: number
    /** Every pair of clients shares masks (else each has `degree` neighbours). */
    readonly complete: boolean
    readonly degree: number
    readonly threshold: number
    readonly bits: number
  }
  'secure-round-aborted': { readonly session: number; readonly reason: string }
  /** Replacement clients asked to train after others dropped. */
  'round-recruited': { readonly clients: readonly string[] }
  'client-dropped': { readonly client: string; readonly reason: string }
  /** The round closed before the client's update (or masked input) arrived. */
  'client-late': { readonly client: string; readonly masked: boolean }
  'round-closed': {
    readonly updates: number
    readonly examples: number
    readonly dropped: number
    readonly trainLoss: number
    readonly seconds: number
    /** Rules that select (Krum, Bulyan): how many updates they kept. */
    readonly selected?: number
  }
  'round-evaluated': {
    readonly centralized?: { readonly accuracy: number; readonly loss: number }
    readonly federated?: { readonly accuracy: number; readonly clients: number }
  }
  'evaluation-failed': { readonly reason: string }
  /** An update's header or data was refused, with the reason sent back to the client. */
  'update-refused': { readonly client: string; readonly reason: string }
  /**
   * A client's refused updates beyond the per-minute limit of `update-refused` events: how many were refused without
   * an event of their own in the window of `seconds` that ended (they still count in the round's `refused`).
   */
  'updates-suppressed': { readonly client: string; readonly suppressed: number; readonly seconds: number }
  /** A plain update (`session` absent) or a masked input of a secure session. */
  'update-accepted': {
    readonly client: string
    readonly examples: number
    readonly trainLoss: number
    readonly trainSeconds: number
    readonly uploadMs: number
    readonly staleness: number
    readonly session?: number
  }
}

/** The kinds of job events. */
export type JobEventType = keyof JobEventMap

/** An event as the coordinator records it: its kind, payload, time and (for round events) round. */
export type JobEventInput = {
  readonly [K in JobEventType]: { readonly at: number; readonly type: K; readonly round?: number; readonly data: JobEventMap[K] }
}[JobEventType]

/** A stored event: numbered in the job's sequence, with its message. */
export type JobEvent = JobEventInput & { readonly seq: number; readonly message: string }
