// Errors of the control API client: one class per condition, matched by `name`.

/** What was wrong where in a request body, when the node lists it (an invalid job spec). */
export interface ApiIssue {
  readonly path: string
  readonly message: string
}

/** No running node could be reached through the data directory or API URL. */
export class NodeNotRunningError extends Error {
  override readonly name = 'NodeNotRunningError'
}

/** The control API answered with an error status (`{ error, message, issues? }`). */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  /** The HTTP status. */
  readonly status: number
  /** The node's error code, e.g. `invalid-spec`, or `http-<status>` when the body names none. */
  readonly code: string
  /** What the node said, without the request and status (for a page that shows it to a person). */
  readonly detail: string
  readonly issues: readonly ApiIssue[]

  constructor(
    message: string,
    status: number,
    init: { code?: string; detail?: string; issues?: readonly ApiIssue[]; cause?: unknown } = {},
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.status = status
    this.code = init.code ?? `http-${status}`
    this.detail = init.detail ?? message
    this.issues = init.issues ?? []
  }
}

/** The node answered 2xx with a body that is not JSON or does not have the shape of the view asked for. */
export class MalformedResponseError extends Error {
  override readonly name = 'MalformedResponseError'
  /** The request, e.g. `GET /v1/node`. */
  readonly request: string
  /** The dotted path of the first bad field (`resources.cpu.cores`), or '' when the body as a whole is wrong. */
  readonly field: string

  constructor(message: string, request: string, field: string, options?: ErrorOptions) {
    super(message, options)
    this.request = request
    this.field = field
  }
}
