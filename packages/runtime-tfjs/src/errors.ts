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
