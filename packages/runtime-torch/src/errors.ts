// Errors of @weft/runtime-torch: one class per condition, each with `name` set.

/** A frame on the pipe to or from the worker is malformed or over its size limit. */
export class FrameError extends Error {
  override name = 'FrameError'
}

/** Python, torch or numpy cannot be used here; `reason` says what was tried and what failed. */
export class TorchUnavailableError extends Error {
  override name = 'TorchUnavailableError'
}

/**
 * The worker process died (crash, killed, out of memory) while this request was running or waiting.
 * The supervisor starts a fresh process for the next request; models are rebuilt there from their last
 * parameters known on the Node side. Transformer spans are not (the Node side keeps no copy of their weights):
 * their requests fail with this error until the span is loaded again.
 */
export class TorchWorkerCrashedError extends Error {
  override name = 'TorchWorkerCrashedError'
}

/** The runtime was disposed: no more requests. */
export class TorchWorkerClosedError extends Error {
  override name = 'TorchWorkerClosedError'
}

/** A request failed inside the worker; `remoteName` is the name of the Python-side error. */
export class TorchTaskError extends Error {
  override name = 'TorchTaskError'
  constructor(
    message: string,
    readonly remoteName: string,
  ) {
    super(message)
  }
}

/** A KV session was asked to forward or truncate while one of its forwards was still running. */
export class KvSessionBusyError extends Error {
  override name = 'KvSessionBusyError'
}
