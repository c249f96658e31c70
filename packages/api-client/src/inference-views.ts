// Inference's views on the control API (/v1/inference) and the parts of OpenAI's answers the CLI reads.
import { z } from 'zod'

const count = z.number().int().nonnegative()

/** A span a node serves. */
export const servedSpanViewSchema = z.object({
  model: z.string(),
  start: count,
  end: count,
  configJson: z.string(),
  engine: z.string(),
  sessions: count,
  freeTokens: count,
  secondsPerToken: z.number().nonnegative(),
})
export type ServedSpanView = z.infer<typeof servedSpanViewSchema>

/** A span served somewhere on the mesh, and by whom. */
export const meshSpanViewSchema = servedSpanViewSchema.extend({ peer: z.string(), rttMs: z.number().nonnegative() })
export type MeshSpanView = z.infer<typeof meshSpanViewSchema>

/** GET /v1/inference: what this node serves and what the mesh serves (this node included). */
export const inferenceViewSchema = z.object({ serving: z.array(servedSpanViewSchema), mesh: z.array(meshSpanViewSchema) })
export type InferenceView = z.infer<typeof inferenceViewSchema>

/** POST /v1/inference/serve: the span now served. */
export const servedViewSchema = z.object({ model: z.string(), start: count, end: count, engine: z.string() })
export type ServedView = z.infer<typeof servedViewSchema>

/** One streamed piece of a completion (OpenAI's text_completion chunk), with Weft's route on the last. */
export const completionChunkSchema = z.object({
  choices: z.array(z.object({ text: z.string(), finish_reason: z.string().nullable() })),
  usage: z.object({ prompt_tokens: count, completion_tokens: count }).optional(),
  weft: z
    .object({
      route: z.array(z.object({ peer: z.string(), start: count, end: count })),
      events: z.array(z.object({ type: z.string() }).passthrough()),
    })
    .optional(),
})
export type CompletionChunk = z.infer<typeof completionChunkSchema>
