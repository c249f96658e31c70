// Model hand-outs by CID (a job spec's `handout: 'cid'`): the contract of the block store the FL roles use, injected
// by the node (the store and block exchange are not browser-safe), and the one encoding a round's model has in it:
// the canonical bytes of its tensor set, whose sha256 is the model hash every task already carries.
import { type JobSpec, MODEL_TENSOR, setVector, vectorSet } from '@weft/fl'
import { type HashOptions, decodeTensorSet, encodeTensorSet, tensorSetHash } from '@weft/protocol'
import { toHex } from './endpoint.js'

/** A fetch by CID that ended: the root's bytes and the blocks each provider sent, or why not. */
export type HandoutFetch =
  | { readonly ok: true; readonly bytes: Uint8Array; readonly blocks: Readonly<Record<string, number>> }
  | { readonly ok: false; readonly reason: string; readonly blocks: Readonly<Record<string, number>> }

/** What the FL roles need of a node's block store to hand models out by CID. */
export interface ModelHandout {
  /**
   * Puts bytes in the block store as one file, pinned, served only to `peers` (never announced nor provided).
   * @returns its CID (string form)
   */
  put(bytes: Uint8Array, peers: readonly string[], name: string): Promise<string>
  /** Serves a root held here to `peers` only (replacing any earlier set), e.g. after a client fetched it. */
  serve(cid: string, peers: readonly string[]): Promise<void>
  /**
   * Fetches a root from `providers` at once (each block verified against its CID on arrival; a provider sending a bad
   * one is dropped), pins it without announcing it, and reads its bytes. A DAG past `maxBytes` (its file size, or the
   * bytes fetched for it) is refused and the fetch stopped there.
   */
  fetch(
    cid: string,
    providers: readonly string[],
    options: {
      readonly maxBytes: number
      readonly signal: AbortSignal
      /** Peers the root will be served to once fetched: its blocks stored so far are served to them while it is fetched. */
      readonly serveTo?: readonly string[]
    },
  ): Promise<HandoutFetch>
  /** Stops serving a root and unpins it, so the next gc may take its blocks (best effort). */
  release(cid: string): void
}

/** Whether a job hands its models out by CID. */
export const handsOutByCid = (spec: JobSpec | undefined): boolean => spec?.handout === 'cid'

/**
 * Whether clients of a job may serve each other its model: not under differential privacy, where which rounds sample
 * a client must stay secret, and fetching from (or serving to) another client would tell that client.
 */
export const peersMayServe = (spec: JobSpec): boolean => spec.privacy.dp === undefined

/**
 * The canonical tensor-set bytes of a global model, checked against the hash its task carries.
 * @throws Error when `params` do not hash to `hash`
 */
export function handoutBytes(params: Float32Array, hash: string, options: HashOptions = {}): Uint8Array {
  const set = vectorSet(MODEL_TENSOR, params)
  const actual = toHex(tensorSetHash(set, options))
  if (actual !== hash) throw new Error(`the round's model hashes to ${actual.slice(0, 12)}, its task names ${hash.slice(0, 12)}`)
  return encodeTensorSet(set)
}

/**
 * The global model in hand-out bytes fetched by CID, verified against the task's model hash.
 * @throws Error naming what was wrong: not a one-tensor float32 model set, or another model than the task names
 */
export function modelOfHandout(bytes: Uint8Array, hash: string, maxBytes: number, options: HashOptions = {}): Float32Array {
  const set = decodeTensorSet(bytes, { maxBytes })
  const actual = toHex(tensorSetHash(set, options))
  if (actual !== hash) throw new Error(`the model fetched by CID hashes to ${actual.slice(0, 12)}, the task names ${hash.slice(0, 12)}`)
  return setVector(set, MODEL_TENSOR)
}
