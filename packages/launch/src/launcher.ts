// One interface for every way Weft starts nodes or batch work outside a running node: child processes on this host,
// Slurm allocations, Kubernetes Jobs. A launcher starts a group of Weft nodes (each runs `weft node start` with the
// arguments given, and joins the mesh through the bootstrap addresses in them), reports the group's state, and
// cancels it, removing what it started.

/** What to start: `nodes` Weft nodes, each `weft node start <nodeArgs…>` with its own data directory. */
export interface LaunchRequest {
  /** A name for the group (Slurm job name, Kubernetes object names): [a-z0-9-], at most 40 characters. */
  readonly name: string
  /** Weft nodes to start. */
  readonly nodes: number
  /** Cores and memory each node may use (Slurm --cpus-per-task/--mem-per-cpu, Kubernetes requests). */
  readonly coresPerNode?: number
  readonly memoryBytesPerNode?: number
  /** Wall-clock limit of the group (Slurm --time, Kubernetes activeDeadlineSeconds). */
  readonly timeLimitSeconds?: number
  /** Slurm partition, Kubernetes namespace: where the cluster manager puts it. */
  readonly partition?: string
  /** Arguments to `weft node start` for every node (bootstrap addresses, config, labels, data sets). */
  readonly nodeArgs: readonly string[]
  /** Environment for the nodes. */
  readonly env?: Readonly<Record<string, string>>
}

export type LaunchState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled'

/** A group a launcher started. */
export interface Launched {
  /** The launcher's id of the group: a Slurm job id, a Kubernetes Job name, a process group id. */
  readonly id: string
  readonly launcher: string
}

export interface LaunchStatus {
  readonly id: string
  readonly state: LaunchState
  /** Nodes running now. */
  readonly running: number
  /** The cluster manager's own word for the state (e.g. Slurm's "PD (Resources)"). */
  readonly detail: string
}

/** A way to start Weft nodes. */
export interface Launcher {
  /** "process", "slurm", "kubernetes". */
  readonly kind: string
  /** Starts the group; resolves once the cluster manager accepted it (the nodes may still be pending). */
  launch(request: LaunchRequest): Promise<Launched>
  status(id: string): Promise<LaunchStatus>
  /** Stops the group and removes what it started; resolves once the cluster manager reports it gone. */
  cancel(id: string): Promise<void>
}

/** A launcher refused a request or its cluster manager failed; `message` says which and why. */
export class LaunchError extends Error {
  override readonly name = 'LaunchError'
}
