// Errors thrown by @weft/protocol codecs; callers match on `err.name`.

/** A frame's declared length exceeds the decoder's `maxFrameBytes`. */
export class FrameTooLargeError extends Error {
  static readonly NAME = 'FrameTooLargeError'
  override readonly name = 'FrameTooLargeError'
  readonly length: number
  readonly maxFrameBytes: number
  constructor(length: number, maxFrameBytes: number) {
    super(`frame of ${length} bytes exceeds the limit of ${maxFrameBytes} bytes`)
    this.length = length
    this.maxFrameBytes = maxFrameBytes
  }
}

/** Bytes that cannot be a length-prefixed frame (bad varint, truncated frame). */
export class MalformedFrameError extends Error {
  static readonly NAME = 'MalformedFrameError'
  override readonly name = 'MalformedFrameError'
}

/** A tensor set (or its encoding) breaks a structural rule: unknown dtype, shape/length mismatch, duplicate name. */
export class InvalidTensorSetError extends Error {
  static readonly NAME = 'InvalidTensorSetError'
  override readonly name = 'InvalidTensorSetError'
}

/** A tensor set is larger than the limit the caller allowed. */
export class TensorSetTooLargeError extends Error {
  static readonly NAME = 'TensorSetTooLargeError'
  override readonly name = 'TensorSetTooLargeError'
}
