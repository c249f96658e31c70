// The block store's views on the control API (/v1/store): roots, their stat, usage, gc and CAR imports.
import { z } from 'zod'

const bytes = z.number().int().nonnegative()

/** A root of the node's block store: a file or directory DAG added, imported or pinned here. */
export const storeRootViewSchema = z.object({
  cid: z.string(),
  name: z.string().nullable(),
  kind: z.enum(['file', 'directory']),
  /** Content bytes (a directory: its files together). */
  size: bytes,
  /** Bytes of every block of the DAG. */
  dagSize: bytes,
  /** Distinct blocks of the DAG. */
  blocks: bytes,
  pinned: z.boolean(),
  pinnedAt: z.number().nullable(),
  addedAt: z.number(),
  /** Owners inside the node holding the root (the FL store: `fl`); gc keeps it, `unpin` leaves it. Absent: none. */
  held: z.array(z.string()).optional(),
})
export type StoreRootView = z.infer<typeof storeRootViewSchema>

/** What the store holds against its quota. */
export const storeUsageViewSchema = z.object({
  usedBytes: bytes,
  /** The quota, `store.maxBytes` (null: none). */
  maxBytes: bytes.nullable(),
  blocks: bytes,
  roots: bytes,
  pinned: bytes,
})
export type StoreUsageView = z.infer<typeof storeUsageViewSchema>

/** GET /v1/store. */
export const storeListViewSchema = z.object({
  usage: storeUsageViewSchema,
  /** `announced`: served to the mesh and provided in the DHT (absent from nodes older than it). */
  roots: z.array(storeRootViewSchema.extend({ announced: z.boolean().optional() })),
})
export type StoreListView = z.infer<typeof storeListViewSchema>

/** GET /v1/store/:cid: a root, or a DAG whose blocks are all here, with what is missing and a directory's entries. */
/** A replication target kept by a node, with what its last check saw (POST /v1/store/:cid/replicate, and in stat). */
export const storeReplicationViewSchema = z.object({
  root: z.string(),
  /** Copies wanted, the node's own included. */
  factor: z.number().int().min(1),
  /** Label constraints (`key=value`) every counted holder carries. */
  labels: z.array(z.string()),
  /** A label key whose values differ among the counted holders (e.g. `site`). */
  distinct: z.string().optional(),
  createdAt: z.number(),
  /** Live holders seen at the last check (the node included when it holds the root whole). */
  holders: z.array(z.string()),
  /** Of those, how many count toward the factor. */
  counted: bytes,
  checkedAt: z.number().nullable(),
  /** The last round in which the node asked candidates to replicate. */
  lastRepair: z
    .object({
      at: z.number(),
      replicated: z.array(z.string()),
      refused: z.array(z.object({ peer: z.string(), reason: z.string() })),
      exhausted: z.boolean(),
      /** Alive peers not asked: their ads say their store cannot take the root. */
      unfit: z.number().int().min(0).default(0),
    })
    .nullable(),
  /** The node holds the root as a replica pulled at a peer's request (dropped again when extra). */
  requested: z.boolean().default(false),
})
export type StoreReplicationView = z.infer<typeof storeReplicationViewSchema>

/** DELETE /v1/store/:cid/replicate: the target ended here and on the holders reached. */
export const storeForgetViewSchema = z.object({
  cid: z.string(),
  /** Whether the node kept a target for the root. */
  wasKept: z.boolean(),
  forgotten: z.array(z.string()),
  refused: z.array(z.object({ peer: z.string(), reason: z.string() })),
})
export type StoreForgetView = z.infer<typeof storeForgetViewSchema>

export const storeStatViewSchema = storeRootViewSchema.extend({
  /** Blocks still missing as far as the walk sees (0: complete). */
  missing: bytes,
  entries: z.array(z.object({ name: z.string(), cid: z.string(), dagSize: bytes })).optional(),
  /** The replication target kept here for this root, if any. */
  replication: storeReplicationViewSchema.optional(),
})
export type StoreStatView = z.infer<typeof storeStatViewSchema>

/** POST /v1/store/gc. */
export const storeGcViewSchema = z.object({ removedBlocks: bytes, freedBytes: bytes, usage: storeUsageViewSchema })
export type StoreGcView = z.infer<typeof storeGcViewSchema>

/** POST /v1/store/car: the CAR's roots as recorded, and the blocks read from it. */
export const storeImportViewSchema = z.object({ roots: z.array(storeRootViewSchema), blocks: bytes, bytes })
export type StoreImportView = z.infer<typeof storeImportViewSchema>

/** POST /v1/store/models: a job's model artifact, added as a pinned file root. */
export const storePublishedModelViewSchema = storeRootViewSchema.extend({ job: z.string(), round: z.number().int().nonnegative() })
export type StorePublishedModelView = z.infer<typeof storePublishedModelViewSchema>

/** POST /v1/store/:cid/fetch: a DAG fetched from the mesh (blocks and bytes fetched by this call, 0 when complete already). */
export const storeFetchViewSchema = z.object({
  ok: z.literal(true),
  cid: z.string(),
  blocks: bytes,
  bytes,
  /** Blocks each provider delivered. */
  providers: z.array(z.object({ peer: z.string(), blocks: bytes })),
  /** Blocks that failed verification (their providers were dropped). */
  badBlocks: bytes,
  dropped: z.array(z.object({ peer: z.string(), reason: z.string(), detail: z.string() })),
})
export type StoreFetchView = z.infer<typeof storeFetchViewSchema>

/** A progress line of POST /v1/store/:cid/fetch asked with `Accept: application/x-ndjson` (counts so far). */
export const storeFetchProgressViewSchema = z.object({
  type: z.literal('progress'),
  blocks: bytes,
  bytes,
  /** Providers the fetch is using now. */
  providers: bytes,
})
export type StoreFetchProgressView = z.infer<typeof storeFetchProgressViewSchema>

/** POST /v1/store/:cid/unannounce: the root is no longer served to the mesh nor provided in the DHT. */
export const storeUnannounceViewSchema = z.object({ cid: z.string(), announced: z.literal(false) })
export type StoreUnannounceView = z.infer<typeof storeUnannounceViewSchema>

/** POST /v1/store/:cid/announce: the DAG is served to the mesh and provided in the DHT. */
export const storeAnnounceViewSchema = z.object({ cid: z.string(), announced: z.literal(true) })
export type StoreAnnounceView = z.infer<typeof storeAnnounceViewSchema>

/** POST /v1/datasets/:name/fetch: a public data set fetched by CID from the mesh into the node's data directory. */
export const datasetFetchViewSchema = z.object({
  name: z.string(),
  cid: z.string(),
  /** The folder on the node holding the files. */
  dir: z.string(),
  files: z.array(z.object({ name: z.string(), size: bytes })),
  /** The fetch from peers (null: the node's store held the whole DAG already). */
  fetched: z.object({ blocks: bytes, bytes, providers: z.record(z.string(), bytes) }).nullable(),
})
export type DatasetFetchView = z.infer<typeof datasetFetchViewSchema>
