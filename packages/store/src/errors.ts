// Error classes of @weft/store, one per condition; callers match on `err.name`.

/** A string is not a CID, or names a codec or hash this store does not hold. */
export class InvalidCidError extends Error {
  override readonly name = 'InvalidCidError'
  constructor(
    readonly input: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`not a usable CID "${input.length > 100 ? `${input.slice(0, 100)}…` : input}": ${problem}`, options)
  }
}

/** A block's bytes do not hash to its CID (a corrupt, torn or forged block); it is never stored or served. */
export class BlockMismatchError extends Error {
  override readonly name = 'BlockMismatchError'
  constructor(
    readonly cid: string,
    readonly actual: string,
  ) {
    super(`block ${cid} does not match its bytes (they hash to ${actual}): refused`)
  }
}

/** A block is larger than any block this store accepts. */
export class BlockTooLargeError extends Error {
  override readonly name = 'BlockTooLargeError'
  constructor(
    readonly cid: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`block ${cid} has ${bytes} bytes, more than the ${maxBytes} bytes a block may have`)
  }
}

/** Blocks of a DAG are not in the store (never fetched, or dropped as corrupt): the DAG cannot be read whole. */
export class BlocksMissingError extends Error {
  override readonly name = 'BlocksMissingError'
  constructor(
    readonly root: string,
    /** The first missing blocks found (not necessarily all of them). */
    readonly missing: readonly string[],
  ) {
    super(`${root} is not complete in this store: block ${missing.join(', ')} is missing (weft store stat ${root} counts what is missing)`)
  }
}

/** A block decodes, but not as the UnixFS node its place in the DAG needs (a bad link, a wrong type, sizes that disagree). */
export class InvalidDagError extends Error {
  override readonly name = 'InvalidDagError'
  constructor(
    readonly cid: string,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(`${cid}: ${problem}`, options)
  }
}

/** The operation needs a file (or a directory) and the CID names the other kind. */
export class WrongKindError extends Error {
  override readonly name = 'WrongKindError'
  constructor(
    readonly cid: string,
    readonly expected: 'file' | 'directory',
    readonly actual: string,
  ) {
    super(`${cid} is a ${actual}, not a ${expected}`)
  }
}

/** A directory is malformed: a bad or duplicate entry name, or more entries than one directory node holds. */
export class InvalidDirectoryError extends Error {
  override readonly name = 'InvalidDirectoryError'
}

/** A CAR file is malformed or has no usable root. */
export class InvalidCarError extends Error {
  override readonly name = 'InvalidCarError'
}

/** The node's store quota (`store.maxBytes`) leaves no room for what is being stored. Nothing already stored is lost. */
export class StoreFullError extends Error {
  override readonly name = 'StoreFullError'
  /** The file system's code for a quota exceeded: whoever treats a full disk as a pause (the FL coordinator) does so here. */
  readonly code = 'EDQUOT'
  constructor(
    readonly maxBytes: number,
    readonly usedBytes: number,
    readonly neededBytes: number,
  ) {
    super(
      `the block store is full: its quota store.maxBytes is ${maxBytes} bytes, ${usedBytes} are used, and ${neededBytes} more do not fit (unpin what is not needed and run \`weft store gc\`, or raise store.maxBytes)`,
    )
  }
}

/** The CID is not a root this store knows (never added, imported or pinned here). */
export class UnknownRootError extends Error {
  override readonly name = 'UnknownRootError'
  constructor(readonly cid: string) {
    super(`${cid} is not a root in this store (weft store ls lists them)`)
  }
}
