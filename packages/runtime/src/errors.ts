// Errors of @weft/runtime: one class per condition, each with `name` set so callers can match on `err.name`.

/** A `ModelSpec` is malformed (wrong field, bad shape, bad hyper-parameter). */
export class InvalidModelSpecError extends TypeError {
  override name = 'InvalidModelSpecError'
}

/** A `ModelSpec` names an architecture that is not in the registry (or not supported by an engine). */
export class UnknownArchitectureError extends TypeError {
  override name = 'UnknownArchitectureError'
  constructor(
    readonly architecture: string,
    known: readonly string[],
  ) {
    super(`unknown architecture ${JSON.stringify(architecture)}; expected one of ${known.join(', ')}`)
  }
}

/** A flat parameter vector has the wrong number of values. */
export class ParamsLengthError extends RangeError {
  override name = 'ParamsLengthError'
  constructor(
    readonly expected: number,
    readonly got: number,
  ) {
    super(`params has ${got} values; expected ${expected}`)
  }
}

/** A parameter holds NaN or ±Infinity. */
export class NonFiniteParamError extends RangeError {
  override name = 'NonFiniteParamError'
  constructor(
    readonly param: string,
    readonly index: number,
    readonly value: number,
  ) {
    super(`parameter ${param} holds ${value} at element ${index}; all weights must be finite`)
  }
}

/** Training or evaluation options are invalid (optimizer, batch size, steps/epochs, proximal term). */
export class InvalidTrainOptionsError extends TypeError {
  override name = 'InvalidTrainOptionsError'
}

/** A data set does not fit the model (feature shape or number of classes). */
export class DatasetMismatchError extends TypeError {
  override name = 'DatasetMismatchError'
}

/** Training stopped because its `AbortSignal` fired. */
export class TrainingAbortedError extends Error {
  override name = 'TrainingAbortedError'
}

/** A training step produced a non-finite loss (diverged). */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError'
  constructor(
    readonly step: number,
    readonly loss: number,
  ) {
    super(`loss became ${loss} at step ${step}; lower the learning rate`)
  }
}

/** The bytes do not start with the model-artifact magic. */
export class ArtifactMagicError extends Error {
  override name = 'ArtifactMagicError'
}

/** The artifact was written by an unsupported format version. */
export class ArtifactVersionError extends Error {
  override name = 'ArtifactVersionError'
}

/** The artifact is shorter (or longer) than its header says. */
export class ArtifactTruncatedError extends Error {
  override name = 'ArtifactTruncatedError'
}

/** The artifact's JSON header is not valid. */
export class ArtifactHeaderError extends Error {
  override name = 'ArtifactHeaderError'
}

/** The artifact's parameter list does not match the shapes its spec implies. */
export class ArtifactShapeError extends Error {
  override name = 'ArtifactShapeError'
}

/** A `DatasetSource` cannot be resolved into a `Dataset`. */
export class DatasetSourceError extends TypeError {
  override name = 'DatasetSourceError'
}
