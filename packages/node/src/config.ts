// The node's configuration: one zod schema, read from YAML/JSON files and CLI flags, validated once at the edge.
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { defaultDataDir } from '@weft/api-client/node'
import { attackConfigSchema } from '@weft/fl'
import { parseAuthorityKey } from '@weft/mesh'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { ConfigError } from './errors.js'

/** The label naming a node's site (hierarchical FL: a site aggregator drives the peers of its site). */
export const SITE_LABEL = 'site'
/** The label a site aggregator advertises, valued with its site's name. */
export const AGGREGATOR_LABEL = 'fl-aggregator'

const labelKey = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'label keys are 1-63 chars of letters, digits, . _ -')

/** A local data set the node registers under `name`; its examples never leave the node. */
export const datasetConfigSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,127}$/i, 'data set names are 1-128 chars of letters, digits, . _ / -'),
    /**
     * 'fashion-mnist', 'kjv' (the bundled King James Bible as text, for language-model swarms: `train` is the books
     * a seeded by-book split keeps, `test` the 5% it holds out; a `shards` partition deals the training books to
     * `clients` in canon order), or the path of a .csv file.
     */
    source: z.string().min(1),
    split: z.enum(['train', 'test']).default('train'),
    /** CSV only: the label column. */
    label: z.string().min(1).optional(),
    /** Only this client's share of a seeded partition of the source (demos, tests, simulations). */
    partition: z
      .object({
        scheme: z.enum(['iid', 'dirichlet', 'shards', 'quantity-skew']),
        clients: z.number().int().positive(),
        part: z.number().int().nonnegative(),
        seed: z.number().int().default(1),
        alpha: z.number().positive().optional(),
        shards: z.number().int().positive().optional(),
        exponent: z.number().positive().optional(),
      })
      .strict()
      .refine((p) => p.part < p.clients, { message: 'part must be < clients' })
      .optional(),
  })
  .strict()
  .refine((d) => d.source === 'fashion-mnist' || d.source === 'kjv' || d.source.endsWith('.csv'), {
    message: "source must be 'fashion-mnist', 'kjv' or a path ending in .csv",
  })
  .refine((d) => d.source !== 'kjv' || d.partition === undefined || d.partition.scheme === 'shards', {
    message: "a kjv partition deals whole books in canon order: its scheme is 'shards'",
  })
  .refine((d) => !d.source.endsWith('.csv') || d.label !== undefined, { message: 'a CSV source needs label (its label column)' })
export type DatasetConfig = z.infer<typeof datasetConfigSchema>

/**
 * A client's privacy policy: what a job must promise before this node trains on its data. Checked by the client on
 * every invitation (from the job's spec) and every task (from its hints), whatever the coordinator claims elsewhere.
 */
export const privacyPolicySchema = z
  .object({
    /** Smallest local batch: an update from batches of one example can reveal that example. */
    minBatchSize: z.number().int().min(1).default(4),
    /** Fewest distinct examples one update may be computed from (the data set, or steps × batch size of it). */
    minExamplesPerUpdate: z.number().int().min(1).default(32),
    /** Jobs must use secure aggregation (the coordinator sees only the sum of the clients' updates). */
    requireSecureAggregation: z.boolean().default(false),
    /** Jobs must use differential privacy with ε at most this (their `privacy.dp.targetEpsilon` or `epsilonLimit`). */
    maxEpsilon: z.number().positive().optional(),
    /** Model architectures this node trains (absent: any). */
    architectures: z.array(z.string().min(1)).optional(),
    /** Largest model this node trains, in parameters (absent: only fl.maxModelBytes bounds it). */
    maxParams: z.number().int().positive().optional(),
    /** Most rounds of one job (absent: any). */
    maxRounds: z.number().int().positive().optional(),
    /** Configured data sets jobs may use (absent: all of them). */
    datasets: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .prefault({})
export type PrivacyPolicy = z.infer<typeof privacyPolicySchema>

export const nodeConfigSchema = z
  .object({
    dataDir: z.string().min(1),
    /** libp2p listen multiaddrs (TCP and WebSockets). */
    listen: z.array(z.string().startsWith('/')).default(['/ip4/0.0.0.0/tcp/0', '/ip4/0.0.0.0/tcp/0/ws']),
    /** Addresses to announce instead of the listen addresses (e.g. behind NAT). */
    announce: z.array(z.string().startsWith('/')).default([]),
    bootstrap: z.array(z.string().includes('/p2p/', { message: 'bootstrap addresses must end in /p2p/<peer id>' })).default([]),
    mdns: z.boolean().default(false),
    /**
     * A node behind NAT (edge box, laptop): it is reached through a relay it reserves a slot on (circuit relay v2,
     * listening on `/p2p-circuit`), checks its reachability (AutoNAT), upgrades relayed connections to direct ones where
     * hole punching works (DCUtR; public addresses only), and only queries the DHT.
     */
    edge: z.boolean().default(false),
    /**
     * A node with little memory (an edge box): the tfjs engine trains in the node's own thread (no worker thread
     * and its second heap), evaluation runs in batches of 32, one global model is kept instead of four, and the
     * engine is not probed at start. Training uses one core.
     */
    lowMemory: z.boolean().default(false),
    /**
     * Serve the /join page: a browser tab that opens it joins this fabric as an FL client. Public (no API token);
     * the node listens on WebSockets for it (a /ws listen address is added when none is configured).
     */
    join: z.object({ enabled: z.boolean().default(false) }).strict().prefault({}),
    /** Relay other peers' connections (nodes with a public address): slots for nodes behind NAT, with no data limit. */
    relay: z
      .object({
        serve: z.boolean().default(false),
        maxReservations: z.number().int().min(1).max(10_000).default(128),
      })
      .strict()
      .prefault({}),
    /** Treat loopback and private addresses as routable in the DHT (local fabrics, tests). */
    lan: z.boolean().default(true),
    labels: z.record(labelKey, z.string().max(256)).default({}),
    api: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(0),
        /** Serve the web dashboard at / (same auth rules as the rest of the API). */
        dashboard: z.boolean().default(true),
      })
      .prefault({}),
    /** How often the node samples its CPU, memory and traffic; the last 30 minutes are kept for the dashboard. */
    telemetry: z.object({ intervalMs: z.number().int().min(100).max(60_000).default(2_000) }).prefault({}),
    ads: z
      .object({
        intervalMs: z.number().int().min(100).default(10_000),
        ttlMs: z.number().int().min(300).max(600_000).default(30_000),
      })
      .refine((a) => a.ttlMs > a.intervalMs, { message: 'ads.ttlMs must exceed ads.intervalMs' })
      .default({ intervalMs: 10_000, ttlMs: 30_000 }),
    /** The peer table: at most `max` peers; past it peers gone longest are evicted, and a new one is refused while all are alive. */
    peers: z.object({ max: z.number().int().min(16).default(10_000) }).strict().prefault({}),
    /** Decentralized inference: how often spans served with `blocks: auto` are reconsidered (0: never). */
    inference: z.object({ rebalanceMs: z.number().int().min(0).default(60_000) }).strict().prefault({}),
    /** The node's content-addressed block store (`<dataDir>/store`). */
    store: z
      .object({
        /** Run the store (its API routes answer 503 without it). */
        enabled: z.boolean().default(true),
        /**
         * The quota: bytes of blocks the store may hold; a put past it is refused naming it. The FL coordinator's
         * models, update deltas and strategy state count too (a job pauses when they do not fit). Default 10 GiB.
         */
        maxBytes: z
          .number()
          .int()
          .min(1024 * 1024)
          .max(Number.MAX_SAFE_INTEGER)
          .default(10 * 1024 ** 3),
        /** A DAG fetched from the mesh is announced (served and provided) here too: edge caching. */
        provideFetched: z.boolean().default(true),
        /**
         * Most bytes of blocks per second served to other nodes (`store/blocks`), all peers together; 0 (default): no
         * cap. A capped answer waits for its bytes (at most 20 s, under a caller's 30 s timeout).
         */
        serveBytesPerSecond: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
        /** How often announced roots are provided again in the DHT (default 12 h). */
        provideIntervalMs: z
          .number()
          .int()
          .min(10_000)
          .default(12 * 3600_000),
        /**
         * Replicas: whom this node pulls and pins roots for when asked (`store/replicate`), how large, and how often
         * it checks the replication targets it holds (repair).
         */
        replicas: z
          .object({
            /** `none` (default): refuse every request; `members`: any member of the mesh; `allow-list`: peers and roles in `from`. */
            accept: z.enum(['none', 'members', 'allow-list']).default('none'),
            /** With `allow-list`: peer ids, or roles (`coordinator`, `submitter`, `admin`, `client`) a peer must hold. */
            from: z.array(z.string().min(1).max(128)).max(1000).default([]),
            /** Largest DAG accepted as a replica, in bytes (default 1 GiB); the quota bounds them too. */
            maxReplicaBytes: z
              .number()
              .int()
              .min(0)
              .max(Number.MAX_SAFE_INTEGER)
              .default(1024 ** 3),
            /** How often each target held here is checked and, when short of holders, repaired (default 60 s). */
            repairIntervalMs: z.number().int().min(100).default(60_000),
          })
          .strict()
          .refine((r) => r.accept !== 'allow-list' || r.from.length > 0, { message: 'store.replicas.from must name peers or roles when accept is allow-list' })
          .prefault({}),
      })
      .strict()
      .prefault({}),
    privateNetwork: z
      .object({
        /** Path of a libp2p swarm.key (pre-shared key); relative paths are inside dataDir. */
        pskFile: z.string().min(1),
        /** Peer ids admitted to connect; empty means every holder of the key. */
        allow: z.array(z.string().min(1)).default([]),
      })
      .optional(),
    /**
     * The mesh's authority (`weft mesh init`). Absent: roles come from the allow-lists alone (`fl.coordinators`,
     * `fl.submitters`). Present: every peer must present a certificate of this authority (its ads without one are
     * ignored), a peer's roles are its certificate's plus what the allow-lists grant, and revocations signed by the
     * authority are gossiped and kept.
     */
    authority: z
      .object({
        /** The authority's public key, `ed25519:<base64url>` as `weft mesh init` prints it. */
        publicKey: z.string().refine(
          (text) => {
            try {
              parseAuthorityKey(text)
              return true
            } catch {
              return false
            }
          },
          { message: 'must be the authority key as `weft mesh init` prints it: ed25519:<base64url of 32 bytes>' },
        ),
        /** This node's certificate (`weft mesh admit`); relative paths are inside dataDir. */
        certificate: z.string().min(1).default('member.cert'),
      })
      .strict()
      .optional(),
    datasets: z.array(datasetConfigSchema).default([]),
    runtime: z
      .object({
        /** Measure the matmul throughput of each engine at start (about one second, off the main thread). */
        probe: z.boolean().default(true),
        /**
         * The engine that trains when a job names none: `tfjs` (WebAssembly, runs everywhere), `torch` (a PyTorch
         * worker process; needs Python with torch and numpy, and falls back to tfjs with a warning when they are
         * missing) or `auto` (torch when it starts, else tfjs).
         */
        engine: z.enum(['tfjs', 'torch', 'auto']).default('tfjs'),
        torch: z
          .object({
            /** Python interpreter with torch and numpy. Default: $WEFT_TORCH_PYTHON, python3, /usr/bin/python3. */
            python: z.string().min(1).optional(),
            /** `auto`: CUDA when torch sees a GPU, else the CPU. */
            device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
            /**
             * Intra-op threads per worker (0: torch's default, every core). One is fastest for the small batches of
             * federated clients on CPUs (measured: the 2NN MLP at batch 32 trains 4× faster on 1 thread than on 2);
             * run more workers (`fl.workers`) to use more cores.
             */
            threads: z.number().int().min(0).max(1024).default(1),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    fl: z
      .object({
        /** Take part in federated jobs as a client when invited. */
        participate: z.boolean().default(true),
        /** Coordinate jobs submitted by other nodes (jobs submitted through this node's own API always run). */
        coordinate: z.boolean().default(true),
        /**
         * Coordinators whose invitations this node accepts (peer ids; '*' for any peer of the mesh). Default none:
         * a node trains on its data only for coordinators its operator named.
         */
        coordinators: z.array(z.string().min(1)).default([]),
        /**
         * Peers that may submit jobs to this node over the mesh and ask their status (peer ids; '*' for any). Default
         * none: jobs come only through this node's own API.
         */
        submitters: z.array(z.string().min(1)).default([]),
        /** What this node's data may be used for, checked on every invitation and task whatever the coordinator says. */
        policy: privacyPolicySchema,
        /** Most jobs this node is a client of at once. */
        maxJobs: z.number().int().min(1).default(2),
        /** Worker threads that train and evaluate (one tfjs engine each). */
        workers: z.number().int().min(1).max(256).default(1),
        /** Largest model or update accepted, in bytes. */
        maxModelBytes: z.number().int().min(1024).default(256 * 2 ** 20),
        /** Times a client retries sending an update to an unreachable coordinator (backoff up to 5 s). */
        sendRetries: z.number().int().min(0).default(60),
        /** Coordinator: model transfers to clients at once, longest-training client first; a slot frees when the bytes are sent. */
        dispatchConcurrency: z.number().int().min(1).max(1024).default(1),
        /**
         * Coordinator: longest a hand-out holds its slot before the next starts anyway (ms), so a slow client delays no
         * one. With hand-outs by CID, as many fetches run at once as the round's model has holders, and each frees its
         * slot when the client has the model (so later clients fetch from it), or after this long anyway.
         */
        dispatchSlotMs: z.number().int().min(1).max(600_000).default(2_000),
        /**
         * How long a client whose last connection closed may take to come back before its round stops waiting for
         * it (ms; 0: dropped at once). An edge box or a tab on a flaky link redials, and its update, sent over the
         * new connection, counts if the round is still open.
         */
        disconnectGraceMs: z.number().int().min(0).max(600_000).default(5_000),
        /** Coordinator: what one remote submitter may have here (jobs through this node's own API have no quota). */
        quota: z
          .object({
            /** Jobs running at once. */
            runningJobs: z.number().int().min(1).default(2),
            /** Jobs submitted in any 24 hours. */
            jobsPerDay: z.number().int().min(1).default(50),
            /** Float32 bytes of the models of its running jobs together. */
            modelBytes: z.number().int().min(1024).default(512 * 2 ** 20),
          })
          .strict()
          .prefault({}),
        /**
         * Coordinator: largest fl.db in bytes (absent: the disk's space; tensors are in the block store, under
         * store.maxBytes). When it, the block store or the disk is full, running jobs pause with the reason and resume
         * by themselves once writes succeed; the node stays up.
         */
        maxDatabaseBytes: z.number().int().min(1024 * 1024).optional(),
        /** Coordinator: events kept per job (the oldest are deleted past it), so a peer cannot fill the disk with them. */
        maxEventsPerJob: z.number().int().min(100).default(10_000),
        /**
         * FOR ROBUSTNESS EVALUATION ONLY: this node attacks every job it joins (label-flip, sign-flip, gaussian,
         * alie, ipm; `fraction` is ignored: this node is an attacker). It logs a warning at start.
         */
        adversary: attackConfigSchema.optional(),
        /**
         * Hierarchical FL: this node aggregates its site (`--aggregator --site <name>`). To a coordinator it is one
         * client whose examples are its site's; it runs each task on the site's members (peers whose ads carry
         * `site=<name>`), folds their updates and forwards one. It sets the labels `site` and `fl-aggregator`.
         */
        aggregator: z
          .object({
            site: z.string().min(1).max(256),
            /** Most members one job drives. */
            maxMembers: z.number().int().min(1).max(10_000).default(1024),
            /** Longest a member's task may take, hand-out to update (ms; absent: the job's round deadline). */
            memberTimeoutMs: z.number().int().min(1_000).max(86_400_000).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Orchestration: what this node gives to jobs placed on it by the mesh's schedulers (it refuses reservations past
     * it), its prices, and how it schedules the jobs submitted through it.
     */
    jobs: z
      .object({
        /** Take placements (batch tasks, FL coordinators, swarm peers, served models) from other nodes' jobs. */
        accept: z.boolean().default(true),
        /** Cores offered (absent: every core of the host). */
        cores: z.number().positive().max(1024).optional(),
        /** Memory offered, bytes (absent: 80% of the host's). */
        memoryBytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
        /** Accelerators offered (absent: those the engines found). */
        accelerators: z.number().int().min(0).max(64).optional(),
        /** Prices in credits, paid by a job's owner for what its placements here reserve. */
        pricing: z
          .object({
            coreHour: z.number().min(0).default(1),
            gibHour: z.number().min(0).default(0.1),
            acceleratorHour: z.number().min(0).default(10),
          })
          .strict()
          .prefault({}),
        /**
         * Who may place work here: peer ids, '*' (any member of the mesh) or roles a peer must hold (`submitter`,
         * `coordinator`, `admin`, `client`: from the mesh authority's certificates or the allow-lists). Default none:
         * only this node's own jobs use its capacity until its operator names others (`--jobs-from`).
         */
        from: z.array(z.string().min(1).max(128)).max(1000).default([]),
        /** An owner's lease on a job it schedules, renewed by its announcements; another node takes the job over after it. */
        leaseMs: z.number().int().min(1_000).max(600_000).default(15_000),
        /** How often an owner checks its placements (the heartbeat); a reservation lapses after 3 missed ones. */
        heartbeatMs: z.number().int().min(200).max(60_000).default(2_000),
        /** Placement attempts of one replica before the job fails as unschedulable (backoff doubles from 1 s, up to 30 s). */
        maxAttempts: z.number().int().min(1).max(100).default(6),
        /**
         * FOR VERIFICATION TESTS ONLY: this node returns wrong batch results (each number shifted by 1) — a cheating
         * worker that the quorum must catch. It logs a warning at start.
         */
        cheat: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .default({ level: 'info' }),
  })
  .strict()

export type NodeConfig = z.infer<typeof nodeConfigSchema>
/** What a user may write: every field but `dataDir` optional. */
export type NodeConfigInput = z.input<typeof nodeConfigSchema>

/** `~/.weft`, or `$WEFT_HOME` when set (the client's rule, so that `weft status` finds the same directory). */
export { defaultDataDir }

/** Expands a leading `~` and makes the path absolute. */
export function expandPath(path: string, base: string = process.cwd()): string {
  const expanded = path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path
  return isAbsolute(expanded) ? expanded : resolve(base, expanded)
}

/**
 * Validates a configuration object; throws ConfigError listing every problem with its path.
 * @param input - parsed YAML/JSON merged with flags
 */
export function parseNodeConfig(input: unknown): NodeConfig {
  const result = nodeConfigSchema.safeParse(input)
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`).join('\n')
    throw new ConfigError(`invalid node configuration:\n${problems}`)
  }
  const config = result.data
  const aggregator = config.fl.aggregator
  if (aggregator !== undefined) {
    const site = config.labels[SITE_LABEL]
    if (site !== undefined && site !== aggregator.site) {
      throw new ConfigError(`invalid node configuration:\n  fl.aggregator.site: "${aggregator.site}" differs from labels.site "${site}"`)
    }
    // The labels say which site this node is in and that it aggregates it (coordinators and members read them).
    config.labels = { ...config.labels, [SITE_LABEL]: aggregator.site, [AGGREGATOR_LABEL]: aggregator.site }
  }
  return { ...config, dataDir: expandPath(config.dataDir) }
}

/**
 * Reads a YAML or JSON config file (JSON is YAML) into a plain object, without validating it.
 * @throws ConfigError when the file cannot be read or parsed
 */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  let value: unknown
  try {
    value = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML/JSON: ${(err as Error).message}`, { cause: err })
  }
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${path} must hold a mapping at the top level`)
  }
  return value as Record<string, unknown>
}
