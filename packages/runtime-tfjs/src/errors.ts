// Errors of @weft/runtime-tfjs: one class per condition, each with `name` set.

/** A pool worker died (crash, out of memory, process.exit) while running a task; the worker was replaced. */
export class WorkerCrashedError extends Error {
  override name = 'WorkerCrashedError'
}

/** The pool was closed before the task could run. */
export class WorkerPoolClosedError extends Error {
  override name = 'WorkerPoolClosedError'
}

/** A task failed inside a worker; `remoteName` is the name of the error thrown there. */
export class WorkerTaskError extends Error {
  override name = 'WorkerTaskError'
  constructor(
    message: string,
    readonly remoteName: string,
  ) {
    super(message)
  }
}

/**
 * A transformer session was used after `close()` or its model's `dispose()`. A RangeError, as every other input a
 * session cannot take, so callers that only tell bad calls from engine faults need no new case.
 */
export class SessionClosedError extends RangeError {
  override name = 'SessionClosedError'
}
