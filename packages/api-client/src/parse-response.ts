// Checks a response body against its view schema, turning the first mismatch into an error that names the field.
import type { z } from 'zod'
import { MalformedResponseError } from './errors.js'

/** `['resources', 'cpu', 'cores']` → `resources.cpu.cores`; `['peers', 0, 'ad']` → `peers[0].ad`. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += out === '' ? String(key) : `.${String(key)}`
  }
  return out
}

/**
 * Validates `body` (already parsed JSON) with `schema`.
 * @param request what was asked, e.g. `GET /v1/node`, for the message
 * @returns `body` typed as the schema's output; fields the schema does not name (a newer node's) are kept
 * @throws MalformedResponseError naming the first field that does not match, with what was expected
 */
export function parseResponse<S extends z.ZodType>(schema: S, body: unknown, request: string): z.output<S> {
  const result = schema.safeParse(body)
  if (result.success) return body as z.output<S>
  const issue = result.error.issues[0]
  const field = issue === undefined ? '' : fieldPath(issue.path)
  const what = issue?.message ?? 'unexpected shape'
  const where = field === '' ? 'the body' : `field '${field}'`
  const more = result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problem(s))` : ''
  throw new MalformedResponseError(`${request}: the node answered a malformed response: ${where}: ${what}${more}`, request, field, {
    cause: result.error,
  })
}
