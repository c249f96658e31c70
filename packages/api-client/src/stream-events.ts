// What GET /v1/stream sends (server-sent events): the SSE event name is the `type`, its data the JSON of the rest.
import { z } from 'zod'
import { jobEventSchema } from './job-views.js'
import { peerViewSchema, telemetrySampleSchema } from './views.js'

/** The data schema of each SSE event name. */
export const streamEventSchemas = Object.freeze({
  sample: z.object({ sample: telemetrySampleSchema }),
  peer: z.object({ peer: peerViewSchema }),
  connection: z.object({ peerId: z.string(), connected: z.boolean() }),
  job: z.object({ jobId: z.string(), event: jobEventSchema }),
})

/** The data of each SSE event, by event name. */
export type StreamEvents = { readonly [K in keyof typeof streamEventSchemas]: z.output<(typeof streamEventSchemas)[K]> }

/** A stream event as the node produces it: node samples, peer table changes, connection changes and job events. */
export type StreamEvent = { readonly [K in keyof StreamEvents]: { readonly type: K } & StreamEvents[K] }[keyof StreamEvents]
