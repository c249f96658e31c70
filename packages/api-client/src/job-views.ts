// Schemas (zod) of the federated-job views the control API serves: jobs, rounds, their metrics and events. The
// payload types are @weft/fl's (imported for types only, so this module loads no FL code); each schema is checked
// against its @weft/fl type, which stays the one definition of metrics, live state, specs and events.
import type { EvaluationMetrics, JobEvent, JobLive, JobSpec, JobStatus, RoundMetrics } from '@weft/fl'
import { z } from 'zod'

export const jobStatusSchema = z.enum(['running', 'finished', 'failed', 'cancelled']) satisfies z.ZodType<JobStatus>

const evaluationMetricsSchema = z.object({
  centralized: z.object({ loss: z.number(), accuracy: z.number(), examples: z.number(), seconds: z.number() }).exactOptional(),
  federated: z.object({ loss: z.number(), accuracy: z.number(), examples: z.number(), clients: z.number() }).exactOptional(),
}) satisfies z.ZodType<EvaluationMetrics>

/** A committed round's metrics (@weft/fl's RoundMetrics). */
export const roundMetricsSchema = z.object({
  sampled: z.number(),
  results: z.number(),
  dropped: z.number(),
  refused: z.number(),
  examples: z.number(),
  trainLoss: z.number(),
  bytesDown: z.number(),
  bytesUp: z.number(),
  seconds: z.object({ total: z.number(), broadcast: z.number(), training: z.number(), upload: z.number(), aggregation: z.number() }),
  overheadSeconds: z.number(),
  staleness: z.number().exactOptional(),
  evaluation: evaluationMetricsSchema.exactOptional(),
  secureAggregation: z
    .object({
      session: z.number(),
      degree: z.number(),
      threshold: z.number(),
      bits: z.number(),
      survivors: z.number(),
      contributors: z.array(z.string()).readonly(),
      protocolBytes: z.number(),
    })
    .exactOptional(),
  privacy: z.object({ epsilon: z.number(), delta: z.number(), noiseMultiplier: z.number(), clipNorm: z.number() }).exactOptional(),
}) satisfies z.ZodType<RoundMetrics>

/** What a running job is doing now (@weft/fl's JobLive). */
export const jobLiveSchema = z.object({
  members: z.number(),
  available: z.number(),
  paused: z.object({ reason: z.string(), since: z.number() }).exactOptional(),
  round: z
    .object({ round: z.number(), participants: z.number(), pending: z.number(), delivered: z.number(), dropped: z.number(), startedAt: z.number() })
    .exactOptional(),
}) satisfies z.ZodType<JobLive>

/**
 * The job spec as the coordinator accepted it. The coordinator validated it with @weft/fl's parseJobSpec; the client
 * checks only that it is an object, so that it needs no FL code, and types it as JobSpec.
 */
export const acceptedJobSpecSchema = z.custom<JobSpec>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), {
  message: 'expected the job spec (an object)',
})

/**
 * A job event (@weft/fl's JobEvent). Checked loosely (kind, sequence number, time, round, message, a payload
 * object), since a newer coordinator may send kinds this client does not know; typed as JobEvent.
 */
export const jobEventSchema = z
  .object({
    seq: z.number().int().nonnegative(),
    at: z.number(),
    type: z.string(),
    round: z.number().int().exactOptional(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()),
  })
  .transform((event) => event as unknown as JobEvent)

/** One round of a job as the API shows it. */
export const roundViewSchema = z.object({
  round: z.number(),
  status: z.string(),
  /** Number of clients asked to train (replacements included). */
  participants: z.number(),
  /** Their peer ids. */
  clients: z.array(z.string()).readonly(),
  /** Clients whose update was accepted for this round. */
  delivered: z.array(z.string()).readonly(),
  startedAt: z.number(),
  endedAt: z.number().exactOptional(),
  metrics: roundMetricsSchema.exactOptional(),
})
export type RoundView = z.infer<typeof roundViewSchema>

/** A job in GET /v1/fl/jobs: the job view without its spec and history. */
export const jobSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  status: jobStatusSchema,
  coordinator: z.string(),
  submitter: z.string(),
  /** Rounds committed so far. */
  completedRounds: z.number(),
  rounds: z.number(),
  strategy: z.string(),
  dataset: z.string(),
  model: z.object({ architecture: z.string(), params: z.number() }),
  modelHash: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  error: z.string().exactOptional(),
  live: jobLiveSchema.exactOptional(),
  latest: z.object({ round: z.number(), accuracy: z.number().exactOptional(), loss: z.number().exactOptional(), trainLoss: z.number() }).exactOptional(),
  /** Rounds whose output model is stored here and can be exported (0 = the initial model). */
  models: z.array(z.number()).readonly(),
})
export type JobSummary = z.infer<typeof jobSummarySchema>

/** GET /v1/fl/jobs/:id: a job as the API and CLI show it. */
export const jobViewSchema = jobSummarySchema.extend({
  spec: acceptedJobSpecSchema,
  history: z.array(roundViewSchema).readonly(),
})
export type JobView = z.infer<typeof jobViewSchema>

/** A job this node takes part in as a client. */
export const clientJobViewSchema = z.object({
  id: z.string(),
  coordinator: z.string(),
  name: z.string(),
  dataset: z.string(),
  activeRounds: z.array(z.number()),
})
export type ClientJobView = z.infer<typeof clientJobViewSchema>

/** GET /v1/fl/jobs */
export const jobListSchema = z.object({ jobs: z.array(jobSummarySchema), client: z.array(clientJobViewSchema) })
export type JobList = z.infer<typeof jobListSchema>

/** GET /v1/fl/jobs/:id/events */
export const jobEventsSchema = z.object({ events: z.array(jobEventSchema), status: jobStatusSchema })
export type JobEvents = z.infer<typeof jobEventsSchema>

/** POST /v1/fl/jobs */
export const submittedJobSchema = z.object({ id: z.string(), coordinator: z.string() })
export type SubmittedJob = z.infer<typeof submittedJobSchema>

/** POST /v1/fl/jobs/:id/cancel */
export const cancelledJobSchema = z.object({ cancelled: z.boolean() })
