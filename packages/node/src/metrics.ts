// Prometheus metrics of one node, in a registry of its own; the API's /metrics and the dashboard read the same numbers.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** The node's metric instruments. */
export interface NodeMetrics {
  readonly registry: Registry
  readonly peers: Gauge<'status'>
  readonly connections: Gauge
  readonly bytes: Counter<'protocol' | 'direction'>
  readonly rpcSeconds: Histogram<'protocol' | 'method' | 'outcome'>
  readonly transferBytes: Counter<'purpose' | 'direction'>
  readonly transferSeconds: Histogram<'purpose' | 'direction'>
  readonly transferThroughput: Gauge<'purpose' | 'direction'>
  readonly adsReceived: Counter<'outcome'>
  readonly adsPublished: Counter
  readonly fl: FlMetrics
  readonly store: StoreMetrics
  readonly swarm: SwarmMetrics
  readonly jobs: JobMetrics
  readonly badMessages: Counter<'protocol' | 'reason'>
}

/** Creates the node's registry with process metrics (memory, CPU, event-loop lag) and Weft's own. */
export function createNodeMetrics(): NodeMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'weft_' })
  const opts = { registers: [registry] }
  return {
    registry,
    peers: new Gauge({ name: 'weft_peers', help: 'Known peers by status', labelNames: ['status'], ...opts }),
    connections: new Gauge({ name: 'weft_connections', help: 'Open libp2p connections', ...opts }),
    bytes: new Counter({
      name: 'weft_protocol_bytes_total',
      help: 'Bytes moved on Weft protocol streams',
      labelNames: ['protocol', 'direction'],
      ...opts,
    }),
    rpcSeconds: new Histogram({
      name: 'weft_rpc_duration_seconds',
      help: 'RPC round-trip latency seen by the caller',
      labelNames: ['protocol', 'method', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...opts,
    }),
    transferBytes: new Counter({
      name: 'weft_tensor_transfer_bytes_total',
      help: 'Tensor-set payload bytes transferred',
      labelNames: ['purpose', 'direction'],
      ...opts,
    }),
    transferSeconds: new Histogram({
      name: 'weft_tensor_transfer_seconds',
      help: 'Duration of tensor-set transfers',
      labelNames: ['purpose', 'direction'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      ...opts,
    }),
    transferThroughput: new Gauge({
      name: 'weft_tensor_transfer_throughput_bytes_per_second',
      help: 'Throughput of the last tensor-set transfer',
      labelNames: ['purpose', 'direction'],
      ...opts,
    }),
    adsReceived: new Counter({
      name: 'weft_ads_received_total',
      help: 'Resource ads received, by outcome (accepted, stale, or the rejection reason)',
      labelNames: ['outcome'],
      ...opts,
    }),
    adsPublished: new Counter({ name: 'weft_ads_published_total', help: 'Resource ads this node published', ...opts }),
    badMessages: new Counter({
      name: 'weft_bad_messages_total',
      help: 'Messages from peers dropped as garbage, oversized or malformed',
      labelNames: ['protocol', 'reason'],
      ...opts,
    }),
    fl: createFlMetrics(registry),
    store: createStoreMetrics(registry),
    swarm: createSwarmMetrics(registry),
    jobs: createJobMetrics(registry),
  }
}

/** What the block store holds, read at each scrape. */
export interface StoreSnapshot {
  readonly blocks: number
  readonly usedBytes: number
  /** The quota (null: none). */
  readonly maxBytes: number | null
  readonly roots: number
  readonly pinned: number
}

/** The block store: what it holds (read from it at each scrape), what it served and fetched, bad blocks. */
export interface StoreMetrics {
  readonly servedBlocks: Counter
  readonly servedBytes: Counter
  /** Block requests answered "ask again later": the node was at store.serveBytesPerSecond. */
  readonly busyAnswers: Counter
  readonly fetchedBlocks: Counter
  readonly fetchedBytes: Counter
  /** Blocks refused: `peer` (a provider sent a block that does not hash to its CID) or `disk` (a corrupt file). */
  readonly badBlocks: Counter<'source'>
  /** Sets where the gauges read the store's state (the store component, at start; undefined at stop). */
  observe(snapshot: (() => StoreSnapshot) | undefined): void
}

function createStoreMetrics(registry: Registry): StoreMetrics {
  const opts = { registers: [registry] }
  let snapshot: (() => StoreSnapshot) | undefined
  /** A gauge set from the store's state when scraped (left unset while the store is not running). */
  const state = (name: string, help: string, value: (s: StoreSnapshot) => number | undefined, labelNames: string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
      collect() {
        const s = snapshot?.()
        const v = s === undefined ? undefined : value(s)
        if (v !== undefined) this.set(v)
      },
      ...opts,
    })
  state('weft_store_blocks', 'Blocks in the block store', (s) => s.blocks)
  state('weft_store_bytes', 'Bytes of blocks in the block store (what the quota counts)', (s) => s.usedBytes)
  state('weft_store_quota_bytes', 'The block store quota store.maxBytes (unset: no quota)', (s) => s.maxBytes ?? undefined)
  state('weft_store_quota_used_ratio', 'Bytes stored over the quota (unset: no quota)', (s) => (s.maxBytes === null ? undefined : s.usedBytes / s.maxBytes))
  state('weft_store_roots', 'Roots in the block store', (s) => s.roots)
  state('weft_store_pinned_roots', 'Pinned roots in the block store', (s) => s.pinned)
  return {
    servedBlocks: new Counter({ name: 'weft_store_served_blocks_total', help: 'Blocks served to peers (store/blocks)', ...opts }),
    servedBytes: new Counter({ name: 'weft_store_served_bytes_total', help: 'Bytes of blocks served to peers', ...opts }),
    busyAnswers: new Counter({ name: 'weft_store_busy_answers_total', help: 'Block requests answered "ask again later" at store.serveBytesPerSecond', ...opts }),
    fetchedBlocks: new Counter({ name: 'weft_store_fetched_blocks_total', help: 'Blocks fetched from peers, verified', ...opts }),
    fetchedBytes: new Counter({ name: 'weft_store_fetched_bytes_total', help: 'Bytes of blocks fetched from peers, verified', ...opts }),
    badBlocks: new Counter({ name: 'weft_store_bad_blocks_total', help: 'Blocks refused: sent by a peer and not matching their CID (peer), or a corrupt file dropped (disk)', labelNames: ['source'], ...opts }),
    observe(next) {
      snapshot = next
    },
  }
}

/** Federated learning: what coordinators and clients on this node measure. */
export interface FlMetrics {
  readonly jobs: Gauge
  readonly rounds: Counter
  readonly round: Gauge
  readonly roundSeconds: Histogram
  readonly overheadSeconds: Histogram
  readonly participants: Gauge
  readonly updates: Counter
  readonly bytes: Counter
  readonly handoutBlocks: Counter
  readonly trainLoss: Gauge
  readonly evalAccuracy: Gauge
  readonly evalLoss: Gauge
  readonly clientTrainSeconds: Histogram
  readonly clientExamples: Counter
}

function createFlMetrics(registry: Registry): FlMetrics {
  const opts = { registers: [registry] }
  const seconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
  return {
    jobs: new Gauge({ name: 'weft_fl_jobs', help: 'Federated jobs coordinated by this node, by status', labelNames: ['status'], ...opts }),
    rounds: new Counter({ name: 'weft_fl_rounds_total', help: 'Rounds committed, by job', labelNames: ['job'], ...opts }),
    round: new Gauge({ name: 'weft_fl_round', help: 'Last committed round, by job', labelNames: ['job'], ...opts }),
    roundSeconds: new Histogram({
      name: 'weft_fl_round_seconds',
      help: 'Round wall time by phase (total, broadcast, training, upload, aggregation)',
      labelNames: ['phase'],
      buckets: seconds,
      ...opts,
    }),
    overheadSeconds: new Histogram({
      name: 'weft_fl_round_overhead_seconds',
      help: "Round wall time minus the slowest client's training time",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ...opts,
    }),
    participants: new Gauge({ name: 'weft_fl_round_clients', help: 'Clients of the last round by kind (sampled, results, dropped)', labelNames: ['job', 'kind'], ...opts }),
    updates: new Counter({ name: 'weft_fl_updates_total', help: 'Client updates received, by outcome (accepted, refused)', labelNames: ['outcome'], ...opts }),
    bytes: new Counter({ name: 'weft_fl_bytes_total', help: 'Model bytes sent to clients (down) and update bytes received (up)', labelNames: ['direction'], ...opts }),
    handoutBlocks: new Counter({
      name: 'weft_fl_handout_blocks_total',
      help: "Blocks of round models that clients fetched by CID, by provider (this coordinator or another client)",
      labelNames: ['provider'],
      ...opts,
    }),
    trainLoss: new Gauge({ name: 'weft_fl_train_loss', help: "Example-weighted clients' training loss of the last round", labelNames: ['job'], ...opts }),
    evalAccuracy: new Gauge({ name: 'weft_fl_eval_accuracy', help: 'Accuracy of the global model (centralized or federated evaluation)', labelNames: ['job', 'kind'], ...opts }),
    evalLoss: new Gauge({ name: 'weft_fl_eval_loss', help: 'Loss of the global model (centralized or federated evaluation)', labelNames: ['job', 'kind'], ...opts }),
    clientTrainSeconds: new Histogram({ name: 'weft_fl_client_train_seconds', help: 'Local training time of tasks this node ran as a client', buckets: seconds, ...opts }),
    clientExamples: new Counter({ name: 'weft_fl_client_examples_total', help: 'Examples this node trained on as a client', ...opts }),
  }
}

/** Serverless training: what this node's swarm peers did, summed over the swarms it is in. */
export interface SwarmMetrics {
  readonly outerSteps: Counter
  readonly samples: Counter
  readonly bytesSent: Counter
  readonly bytesReceived: Counter
  readonly trainSeconds: Counter
  readonly averageSeconds: Histogram
  readonly failedParts: Counter
  readonly offences: Counter
  readonly consensusDistance: Gauge
  readonly loss: Gauge
  readonly accuracy: Gauge
}

function createSwarmMetrics(registry: Registry): SwarmMetrics {
  const opts = { registers: [registry] }
  return {
    outerSteps: new Counter({ name: 'weft_swarm_outer_steps_total', help: 'Outer steps this node finished in swarms', ...opts }),
    samples: new Counter({ name: 'weft_swarm_samples_total', help: 'Samples this node trained on in swarms', ...opts }),
    bytesSent: new Counter({ name: 'weft_swarm_allreduce_sent_bytes_total', help: 'Bytes of parts this node sent in all-reduces', ...opts }),
    bytesReceived: new Counter({ name: 'weft_swarm_allreduce_received_bytes_total', help: 'Bytes of reductions this node received in all-reduces', ...opts }),
    trainSeconds: new Counter({ name: 'weft_swarm_train_seconds_total', help: 'Seconds this node spent in inner steps', ...opts }),
    averageSeconds: new Histogram({ name: 'weft_swarm_average_seconds', help: 'Seconds per group all-reduce', buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60], ...opts }),
    failedParts: new Counter({ name: 'weft_swarm_failed_parts_total', help: 'All-reduce parts that kept this node\'s own values (owner refused, stalled or lost)', ...opts }),
    offences: new Counter({ name: 'weft_swarm_offences_total', help: 'Members dropped for malformed, non-finite or out-of-bounds parts', ...opts }),
    consensusDistance: new Gauge({ name: 'weft_swarm_consensus_distance', help: 'RMS distance of this node\'s parameters from its group mean at its last averaging', ...opts }),
    loss: new Gauge({ name: 'weft_swarm_loss', help: 'Mean training loss of this node\'s last outer step', ...opts }),
    accuracy: new Gauge({ name: 'weft_swarm_accuracy', help: 'Test accuracy of this node\'s outer parameters at its last evaluation', ...opts }),
  }
}

/** Orchestration: this node's jobs as owner, its placements as worker, what they used, and its ledger. */
export interface JobMetrics {
  readonly jobsEnded: Counter<'state'>
  readonly placements: Counter<'outcome'>
  readonly tasksVerified: Counter<'outcome'>
  readonly tasksRun: Counter<'outcome'>
  readonly taskSeconds: Histogram
  /** Units held by placements on this node, by job (allocated, as Slurm accounts them). */
  readonly coreSeconds: Counter<'job'>
  readonly memoryByteSeconds: Counter<'job'>
  readonly acceleratorSeconds: Counter<'job'>
  readonly reservedCores: Gauge
  readonly reservedMemoryBytes: Gauge
  readonly offeredCores: Gauge
  readonly ledgerEntries: Gauge
  readonly receipts: Counter<'outcome'>
}

function createJobMetrics(registry: Registry): JobMetrics {
  const opts = { registers: [registry] }
  return {
    jobsEnded: new Counter({ name: 'weft_jobs_ended_total', help: 'Jobs this node owned that ended, by final state', labelNames: ['state'], ...opts }),
    placements: new Counter({ name: 'weft_job_placements_total', help: 'Placement decisions of jobs this node owns (placed, refused, lost, rescheduled)', labelNames: ['outcome'], ...opts }),
    tasksVerified: new Counter({ name: 'weft_batch_tasks_verified_total', help: 'Batch tasks this node verified as owner (accepted, failed), and results the quorum refused (invalid-result)', labelNames: ['outcome'], ...opts }),
    tasksRun: new Counter({ name: 'weft_batch_tasks_run_total', help: 'Batch tasks this node ran as worker', labelNames: ['outcome'], ...opts }),
    taskSeconds: new Histogram({ name: 'weft_batch_task_seconds', help: 'Seconds per batch task run here', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300], ...opts }),
    coreSeconds: new Counter({ name: 'weft_job_core_seconds_total', help: 'Core-seconds held by placements on this node', labelNames: ['job'], ...opts }),
    memoryByteSeconds: new Counter({ name: 'weft_job_memory_byte_seconds_total', help: 'Memory byte-seconds held by placements on this node', labelNames: ['job'], ...opts }),
    acceleratorSeconds: new Counter({ name: 'weft_job_accelerator_seconds_total', help: 'Accelerator-seconds held by placements on this node', labelNames: ['job'], ...opts }),
    reservedCores: new Gauge({ name: 'weft_work_reserved_cores', help: 'Cores of this node held by reservations', ...opts }),
    reservedMemoryBytes: new Gauge({ name: 'weft_work_reserved_memory_bytes', help: 'Memory of this node held by reservations', ...opts }),
    offeredCores: new Gauge({ name: 'weft_work_offered_cores', help: 'Cores this node offers to placed work', ...opts }),
    ledgerEntries: new Gauge({ name: 'weft_ledger_entries', help: 'Receipts in this node\'s ledger', ...opts }),
    receipts: new Counter({ name: 'weft_ledger_receipts_total', help: 'Receipts delivered to this node (kept, refused)', labelNames: ['outcome'], ...opts }),
  }
}
