// Orchestration's views on the control API: jobs placed on the mesh (/v1/jobs), this node's work offer (/v1/work), its
// ledger of receipts (/v1/ledger) and the workers' reputation (/v1/reputation). Open shapes (a job's spec, a task's
// params and result) stay `unknown`: the node validated them, the client only shows them.
import { z } from 'zod'

const count = z.number().int().nonnegative()
const amount = z.number().nonnegative()

/** Units a placement held: core-, GiB-byte- and accelerator-seconds, and bytes. */
export const usageViewSchema = z.object({
  coreSeconds: amount,
  memoryByteSeconds: amount,
  acceleratorSeconds: amount,
  bytes: amount,
})
export type UsageView = z.infer<typeof usageViewSchema>

export const fabricJobStateSchema = z.enum(['pending', 'running', 'done', 'failed', 'cancelled'])
export type FabricJobState = z.infer<typeof fabricJobStateSchema>

/** One replica of a job as its owner tracks it. */
export const placementViewSchema = z.object({
  name: z.string(),
  peerId: z.string().nullable(),
  state: z.enum(['pending', 'reserved', 'running', 'done', 'failed']),
  attempts: count,
  detail: z.string(),
  usage: usageViewSchema,
  cost: amount,
})
export type PlacementView = z.infer<typeof placementViewSchema>

/** One batch task: its params, how many results came, and the accepted result once a quorum agreed. */
export const batchTaskViewSchema = z.object({
  id: z.string(),
  state: z.enum(['pending', 'accepted', 'failed']),
  params: z.unknown(),
  results: count,
  workers: z.array(z.string()),
  resultCid: z.string().optional(),
  result: z.unknown().optional(),
  reason: z.string().optional(),
})
export type BatchTaskView = z.infer<typeof batchTaskViewSchema>

/** A job placed on the mesh (GET /v1/jobs/:id; POST /v1/jobs and DELETE /v1/jobs/:id answer it too). */
export const fabricJobViewSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['fl', 'swarm', 'serve', 'batch']),
  owner: z.string(),
  epoch: count,
  state: fabricJobStateSchema,
  reason: z.string(),
  submittedAt: z.number(),
  finishedAt: z.number().nullable(),
  spec: z.unknown(),
  reschedules: count,
  placements: z.array(placementViewSchema),
  tasks: z.object({
    total: count,
    pending: count,
    accepted: count,
    failed: count,
    results: count,
    /** Results computed per accepted task (0 before the first is accepted). */
    replication: amount,
    /** The first tasks (at most 200; the counts cover all). */
    list: z.array(batchTaskViewSchema),
  }),
  usage: usageViewSchema,
  cost: amount,
  receipts: count,
  receiptCredit: amount,
})
export type FabricJobView = z.infer<typeof fabricJobViewSchema>

/** A job this node heard announced by its owner. */
export const knownJobViewSchema = z.object({
  id: z.string(),
  owner: z.string(),
  epoch: count,
  state: z.string(),
  leaseExpiresAt: z.number(),
})
export type KnownJobView = z.infer<typeof knownJobViewSchema>

/** GET /v1/jobs: the jobs this node owns (newest first) and those it heard of. */
export const fabricJobListSchema = z.object({
  jobs: z.array(fabricJobViewSchema),
  known: z.array(knownJobViewSchema),
})
export type FabricJobList = z.infer<typeof fabricJobListSchema>

/** GET /v1/jobs/:id/logs?after=N: events from index `after`, the index to ask from next, and the job's state. */
export const fabricJobLogsSchema = z.object({
  events: z.array(z.object({ at: z.number(), message: z.string() })),
  next: count,
  state: fabricJobStateSchema,
})
export type FabricJobLogs = z.infer<typeof fabricJobLogsSchema>

/** GET /v1/jobs/:id/cost: usage and credits per placement, the total, and the receipts' credit. */
export const fabricJobCostSchema = z.object({
  id: z.string(),
  state: fabricJobStateSchema,
  total: amount,
  placements: z.array(z.object({ name: z.string(), peerId: z.string().nullable(), usage: usageViewSchema, cost: amount })),
  usage: usageViewSchema,
  receiptCredit: amount,
  receipts: count,
})
export type FabricJobCost = z.infer<typeof fabricJobCostSchema>

/** GET /v1/work: what this node offers to placed work, what is reserved, and the placements it holds. */
export const workViewSchema = z.object({
  offer: z.object({
    cores: amount,
    memoryBytes: amount,
    accelerators: amount,
    pricing: z.object({ coreHour: amount, gibHour: amount, acceleratorHour: amount }),
  }),
  reserved: z.object({ cores: amount, memoryBytes: amount, accelerators: amount }),
  placements: z.array(
    z.object({
      jobId: z.string(),
      placement: z.string(),
      owner: z.string(),
      epoch: count,
      state: z.enum(['reserved', 'running', 'done', 'failed']),
      detail: z.string(),
      cores: amount,
      memoryBytes: amount,
      accelerators: amount,
      expiresAt: z.number(),
      usage: usageViewSchema,
    }),
  ),
})
export type WorkView = z.infer<typeof workViewSchema>

/** A ledger head heard on the mesh. */
export const heardHeadViewSchema = z.object({ holder: z.string(), seq: count, head: z.string(), issuedAt: z.number() })
export type HeardHeadView = z.infer<typeof heardHeadViewSchema>

/** One entry of this node's ledger: a countersigned receipt, hash-chained. */
export const ledgerEntryViewSchema = z.object({
  seq: count,
  hash: z.string(),
  prev: z.string(),
  receipt: z.object({
    jobId: z.string(),
    taskId: z.string(),
    kind: z.string(),
    worker: z.string(),
    owner: z.string(),
    resultCid: z.string(),
    coreSeconds: amount,
    bytes: amount,
    credit: amount,
    issuedAt: z.number(),
  }),
})
export type LedgerEntryView = z.infer<typeof ledgerEntryViewSchema>

/** GET /v1/ledger?from&limit: a page of this node's entries, its head, and the heads it heard. */
export const ledgerPageSchema = z.object({
  holder: z.string(),
  head: z.object({ seq: count, hash: z.string() }),
  entries: z.array(ledgerEntryViewSchema),
  heads: z.array(heardHeadViewSchema),
})
export type LedgerPage = z.infer<typeof ledgerPageSchema>

/** One worker's credit, summed over a chain's receipts. */
export const creditViewSchema = z.object({
  peerId: z.string(),
  credit: amount,
  receipts: count,
  coreSeconds: amount,
  acceleratorSeconds: amount,
  bytes: amount,
})
export type CreditView = z.infer<typeof creditViewSchema>

/** GET /v1/ledger/verify?node=: a node's whole chain fetched and verified; the credits when it is whole. */
export const ledgerCheckSchema = z.object({
  holder: z.string(),
  verdict: z.discriminatedUnion('ok', [
    z.object({ ok: z.literal(true), length: count, head: z.string() }),
    z.object({ ok: z.literal(false), seq: z.number(), reason: z.string() }),
  ]),
  entries: count,
  gossipedHead: heardHeadViewSchema.optional(),
  matchesGossipedHead: z.boolean().optional(),
  credit: z.array(creditViewSchema),
})
export type LedgerCheck = z.infer<typeof ledgerCheckSchema>

/** GET /v1/reputation: each worker's valid and invalid results as this node recorded them. */
export const reputationViewSchema = z.object({
  workers: z.array(
    z.object({
      worker: z.string(),
      valid: count,
      invalid: count,
      consecutiveValid: count,
      lastInvalidAt: z.number().nullable(),
    }),
  ),
})
export type ReputationView = z.infer<typeof reputationViewSchema>
