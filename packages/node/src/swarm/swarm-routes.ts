// Serverless training on the control API: /v1/swarms (start from a spec, join by id, list, status, leave). Errors
// are { error, message } like the other Weft routes.
import type { Context, Hono } from 'hono'
import { z } from 'zod'
import { type NodeSwarms, SwarmRequestError } from './swarm-role.js'

const StartBody = z.object({ spec: z.unknown() })
const ERRORS = { 400: 'bad-request', 404: 'not-found', 409: 'conflict', 503: 'unavailable' } as const

/** Mounts the /v1/swarms routes. */
export function mountSwarms(app: Hono, swarms: () => NodeSwarms | undefined): void {
  const withSwarms =
    (handler: (c: Context, s: NodeSwarms) => Promise<Response>) =>
    async (c: Context): Promise<Response> => {
      const s = swarms()
      if (s === undefined) return c.json({ error: 'unavailable', message: 'serverless training is not running on this node' }, 503)
      try {
        return await handler(c, s)
      } catch (err) {
        if (err instanceof SwarmRequestError) return c.json({ error: ERRORS[err.status], message: err.message }, err.status)
        return c.json({ error: 'internal', message: (err as Error).message }, 500)
      }
    }
  const body = async (c: Context): Promise<unknown> => {
    try {
      return await c.req.json()
    } catch {
      throw new SwarmRequestError(400, 'the body must be JSON')
    }
  }

  app.get(
    '/v1/swarms',
    withSwarms(async (c, s) => c.json(s.list())),
  )
  app.post(
    '/v1/swarms',
    withSwarms(async (c, s) => {
      const parsed = StartBody.safeParse(await body(c))
      if (!parsed.success) throw new SwarmRequestError(400, 'the body must be { "spec": { … } }')
      return c.json(await s.start(parsed.data.spec), 201)
    }),
  )
  app.post(
    '/v1/swarms/:id/join',
    withSwarms(async (c, s) => c.json(await s.join((c.req.param('id') ?? '')), 201)),
  )
  app.get(
    '/v1/swarms/:id',
    withSwarms(async (c, s) => {
      const view = s.get((c.req.param('id') ?? ''))
      if (view === undefined) throw new SwarmRequestError(404, `this node is not in swarm ${(c.req.param('id') ?? '')}`)
      return c.json(view)
    }),
  )
  app.delete(
    '/v1/swarms/:id',
    withSwarms(async (c, s) => {
      const id = (c.req.param('id') ?? '')
      if (!(await s.leave(id))) throw new SwarmRequestError(404, `this node is not training in swarm ${id}`)
      return c.json({ id, state: 'left' })
    }),
  )
}
