// Errors of the node daemon: one class per condition, matched by `name`.

/** The configuration (file or flags) does not satisfy the schema. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** The data directory cannot be used (bad permissions, unreadable identity, a node already running there). */
export class DataDirError extends Error {
  override readonly name = 'DataDirError'
}

/** No running node could be reached through the data directory or API URL. */
export class NodeNotRunningError extends Error {
  override readonly name = 'NodeNotRunningError'
}

/** The control API answered with an error status. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: number
  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options)
    this.status = status
  }
}
