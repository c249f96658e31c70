// Errors of the node daemon: one class per condition, matched by `name`.

/** The configuration (file or flags) does not satisfy the schema. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** The data directory cannot be used (bad permissions, unreadable identity, a node already running there). */
export class DataDirError extends Error {
  override readonly name = 'DataDirError'
}

/** A data set could not be fetched from the mesh (no block exchange, no provider, out of time, not the expected files). */
export class DatasetFetchError extends Error {
  override readonly name = 'DatasetFetchError'
}
