// Serverless training's views on the control API (/v1/swarms). The node builds its views to these types.
import { z } from 'zod'

const count = z.number().int().nonnegative()
const maybe = z.number().nullable()

/** One outer step as a peer saw it. */
export const swarmStepViewSchema = z.object({
  step: count,
  group: z.string(),
  groupSize: count,
  contributors: count,
  failedParts: count,
  failures: z.array(z.string()),
  samples: count,
  innerSteps: count,
  loss: maybe,
  accuracy: maybe,
  testLoss: maybe,
  consensusDistance: maybe,
  pseudoGradient: maybe,
  bytesSent: count,
  bytesReceived: count,
  trainSeconds: z.number().nonnegative(),
  averageSeconds: z.number().nonnegative(),
  wallSeconds: z.number().nonnegative(),
})
export type SwarmStepView = z.infer<typeof swarmStepViewSchema>

/** A swarm this node trains in (GET /v1/swarms/:id; POST /v1/swarms and /v1/swarms/:id/join answer it too). */
export const swarmViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(['training', 'done', 'left', 'failed']),
  error: z.string().optional(),
  step: count,
  totalSteps: count,
  swarmSamples: count,
  targetSamples: count,
  totalSamples: count,
  engine: z.string(),
  members: z.array(
    z.object({
      peer: z.string(),
      step: count,
      stepSamples: count,
      totalSamples: count,
      loss: maybe,
      accuracy: maybe,
      consensusDistance: maybe,
      lastSeenMs: z.number().nonnegative(),
    }),
  ),
  banned: z.array(z.object({ peer: z.string(), reason: z.string() })),
  history: z.array(swarmStepViewSchema),
  /**
   * The test score of the parameters this peer holds now (a step's score goes stale when a catch-up replaces them or
   * the final consensus moves them); `final` once the swarm is done: the score of the model it ended with.
   */
  evaluation: z.object({ step: count, accuracy: maybe, testLoss: maybe, final: z.boolean() }).nullable(),
  bytes: z.object({ sent: count, received: count }),
  /** Checkpoints this peer kept at the spec's replication factor (`checkpoint`), oldest first. */
  checkpoints: z.array(z.object({ step: count, cid: z.string() })),
  utilisation: z.object({ trainSeconds: z.number().nonnegative(), wallSeconds: z.number().nonnegative(), fraction: z.number().nonnegative() }),
  spec: z.record(z.string(), z.unknown()),
})
export type SwarmView = z.infer<typeof swarmViewSchema>

export const swarmListViewSchema = z.array(swarmViewSchema)
export const leftSwarmViewSchema = z.object({ id: z.string(), state: z.literal('left') })
