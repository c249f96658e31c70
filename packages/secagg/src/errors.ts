// Errors of @weft/secagg: one class per condition, each with `name` set so callers can match on `err.name`.

/** Thrown by `planSecAgg` when no graph degree and threshold meet the declared dropout and corruption rates. */
export class InfeasibleParamsError extends RangeError {
  override readonly name = 'InfeasibleParamsError'
}

/**
 * Why a party refused a message. Closed list: callers switch on it.
 * - `wrong-version`, `wrong-job`, `wrong-round`: the message belongs to another protocol version, job or round (replay).
 * - `wrong-phase`: the message (or call) does not fit the party's current phase.
 * - `unknown-client`: the sender is not in the round; `excluded`: it is in the round but no longer taking part.
 * - `duplicate`: a second message, bundle or share where one is allowed.
 * - `misaddressed`: addressed to another party, or a share bundle for a peer that is not the sender's neighbour.
 * - `not-neighbour`: names a client that is not a neighbour (or not a live one).
 * - `incomplete`: a share message without a bundle for every live neighbour.
 * - `wrong-length`, `wrong-modulus`, `wrong-bits`: a vector, key, share or ciphertext with other dimensions or arithmetic.
 * - `invalid-key`: a public key that is malformed, repeated, or gives no shared secret.
 * - `authentication-failed`: a share bundle that does not open under the pair's key and the round's associated data.
 * - `conflicting-request`: an unmasking request that would reveal both secrets of one client.
 * - `unexpected-share`: an unmasking response with a share that was not asked for.
 * - `too-few-neighbours`: fewer live neighbours than the threshold, so the client's secrets could never be rebuilt.
 * - `insecure-params`: round parameters that break the protocol's security or arithmetic conditions.
 * - `cohort-too-small`: a session with fewer clients than the job's minimum (a small cohort exposes each input).
 * - `bad-signature`: a neighbour's keys not signed by that neighbour's identity (a server swapping keys).
 * - `wrong-sender`: a reply whose sender is not the client that was asked (one client answering as another).
 */
export type RejectionReason =
  | 'wrong-version'
  | 'wrong-job'
  | 'wrong-round'
  | 'wrong-phase'
  | 'unknown-client'
  | 'excluded'
  | 'duplicate'
  | 'misaddressed'
  | 'not-neighbour'
  | 'incomplete'
  | 'wrong-length'
  | 'wrong-modulus'
  | 'wrong-bits'
  | 'invalid-key'
  | 'authentication-failed'
  | 'conflicting-request'
  | 'unexpected-share'
  | 'too-few-neighbours'
  | 'insecure-params'
  | 'cohort-too-small'
  | 'bad-signature'
  | 'wrong-sender'

/** A client or the server refused a message (or an out-of-order call); its state is unchanged. */
export class MessageRejectedError extends Error {
  override readonly name = 'MessageRejectedError'
  readonly reason: RejectionReason

  constructor(reason: RejectionReason, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/**
 * Why a round could not produce its sum.
 * - `below-threshold`: a secret needed for unmasking has fewer shares (or holders) than the threshold.
 * - `no-inputs`: no client sent a masked input.
 * - `inconsistent-shares`: a rebuilt mask key does not match the key its owner advertised, or a rebuilt self-mask seed
 *   does not match its owner's commitment.
 */
export type AbortReason = 'below-threshold' | 'no-inputs' | 'inconsistent-shares'

/** The server gave up the round; nothing about any individual input was revealed by the abort. */
export class RoundAbortedError extends Error {
  override readonly name = 'RoundAbortedError'
  readonly reason: AbortReason

  constructor(reason: AbortReason, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/** Thrown when wire bytes do not decode into a valid secure-aggregation message (or exceed a size limit). */
export class MalformedMessageError extends TypeError {
  override readonly name = 'MalformedMessageError'
}

/**
 * Refuses a message of another job or round (a replay from an earlier round lands here).
 * @param what - the message as the error names it, e.g. `setup` or `masked input from c3`
 * @param party - who refuses, e.g. `this client` or `this server`
 * @throws MessageRejectedError (`wrong-job`, `wrong-round`)
 */
export function checkJobAndRound(
  what: string,
  message: { readonly jobId: string; readonly round: number },
  expected: { readonly jobId: string; readonly round: number },
  party: string,
): void {
  if (message.jobId !== expected.jobId) {
    throw new MessageRejectedError('wrong-job', `${what} is for job ${message.jobId}, ${party} is in job ${expected.jobId}`)
  }
  if (message.round !== expected.round) {
    throw new MessageRejectedError('wrong-round', `${what} is for round ${message.round}, ${party} is in round ${expected.round} (a replay?)`)
  }
}
