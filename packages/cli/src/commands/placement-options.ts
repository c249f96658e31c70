// The job model's placement options shared by `weft fl submit`, `weft swarm start`, `weft serve` (with `--place`) and
// `weft job submit`, and the wrapping of a kind's spec into a job that the node's scheduler places on the mesh.
import type { ApiClient, FabricJobView } from '@weft/api-client'
import { type Command, InvalidArgumentError, Option } from 'commander'
import { positive, positiveInt } from './option-parsers.js'

/** The kinds of work a job places. */
export type PlacedKind = 'fl' | 'swarm' | 'serve' | 'batch'

const STRATEGIES = ['binpack', 'spread', 'cost'] as const

/** The placement options as commander parses them (each undefined when not given). */
export interface PlacementOptions {
  place?: boolean
  replicas?: number
  label?: Record<string, string>
  site?: string[]
  spread?: string
  cores?: number
  memory?: string
  strategy?: (typeof STRATEGIES)[number]
  priority?: number
}

/** Which options a command takes besides the job model's resources, constraints, strategy and priority. */
export interface PlacementOptionsInit {
  /** Adds `--place` (the command's work becomes a job placed on the mesh); without it the options need no switch. */
  place?: boolean
  /** Adds `--replicas <n>`. */
  replicas?: boolean
}

const JOB_NAME = /^[a-z0-9._-]{1,64}$/

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** `--label key=value`, repeatable: the labels so far with this one. */
export function collectLabel(v: string, prev: Record<string, string> | undefined): Record<string, string> {
  const eq = v.indexOf('=')
  if (eq <= 0) throw new InvalidArgumentError(`--label expects key=value, got '${v}'`)
  return { ...prev, [v.slice(0, eq)]: v.slice(eq + 1) }
}

function collectSite(v: string, prev: string[] | undefined): string[] {
  if (v === '') throw new InvalidArgumentError('--site expects a site name, got an empty string')
  return [...(prev ?? []), v]
}

function priority(v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || n > 100) throw new InvalidArgumentError(`--priority must be a whole number from 0 to 100, got "${v}"`)
  return n
}

/**
 * Adds the placement options to a command: `--label`, `--site`, `--spread`, `--cores`, `--memory`, `--strategy`,
 * `--priority`, and as `init` asks `--place` and `--replicas`.
 * @returns the command
 */
export function addPlacementOptions(cmd: Command, init: PlacementOptionsInit = {}): Command {
  const when = init.place === true ? ' (with --place)' : ''
  if (init.place === true) cmd.option('--place', "submit it as a job the node's scheduler places on the mesh (follow it with weft job status <id>)")
  if (init.replicas === true) cmd.option('--replicas <n>', `replicas of the job${when}`, positiveInt('--replicas'))
  return cmd
    .option('--label <key=value>', `a node label every replica needs, repeatable${when}`, collectLabel)
    .option('--site <site>', `a site a replica may run at (the node's label site), repeatable${when}`, collectSite)
    .option('--spread <label-key>', `at most one replica per value of this node label${when}`)
    .option('--cores <n>', `cores per replica${when}`, positive('--cores'))
    .option('--memory <size>', `memory per replica, e.g. 512MiB or 2GiB${when}`)
    .addOption(new Option('--strategy <strategy>', `how nodes are chosen${when}`).choices(STRATEGIES))
    .option('--priority <n>', `0 to 100, higher is placed first${when}`, priority)
}

const OPTION_NAMES: ReadonlyArray<[keyof PlacementOptions, string]> = [
  ['replicas', '--replicas'],
  ['label', '--label'],
  ['site', '--site'],
  ['spread', '--spread'],
  ['cores', '--cores'],
  ['memory', '--memory'],
  ['strategy', '--strategy'],
  ['priority', '--priority'],
]

/**
 * Checks that placement options come with `--place`.
 * @returns whether the command's work is to be placed as a job
 * @throws Error naming the first placement option given without `--place`
 */
export function wantsPlacement(opts: PlacementOptions): boolean {
  if (opts.place === true) return true
  const given = OPTION_NAMES.find(([key]) => opts[key] !== undefined)
  if (given !== undefined) throw new Error(`${given[1]} is a placement option: it applies only with --place`)
  return false
}

/**
 * Applies the placement options to a job spec: `--replicas`, `--cores`, `--memory`, `--strategy` and `--priority` set
 * their fields, `--label` merges into constraints.labels, `--site` adds to constraints.sites, `--spread <key>` sets
 * constraints.spread to {key, max: 1}.
 * @returns a new spec; `spec` is not changed
 */
export function withPlacement(spec: Record<string, unknown>, opts: PlacementOptions): Record<string, unknown> {
  const out = { ...spec }
  if (opts.replicas !== undefined) out['replicas'] = opts.replicas
  if (opts.strategy !== undefined) out['strategy'] = opts.strategy
  if (opts.priority !== undefined) out['priority'] = opts.priority
  if (opts.cores !== undefined || opts.memory !== undefined) {
    out['resources'] = {
      ...(isRecord(out['resources']) ? out['resources'] : {}),
      ...(opts.cores === undefined ? {} : { cores: opts.cores }),
      ...(opts.memory === undefined ? {} : { memory: opts.memory }),
    }
  }
  const labels = opts.label !== undefined && Object.keys(opts.label).length > 0 ? opts.label : undefined
  if (labels !== undefined || opts.site !== undefined || opts.spread !== undefined) {
    const c = isRecord(out['constraints']) ? { ...out['constraints'] } : {}
    if (labels !== undefined) c['labels'] = { ...(isRecord(c['labels']) ? c['labels'] : {}), ...labels }
    if (opts.site !== undefined) {
      const had = c['sites']
      c['sites'] = [...(typeof had === 'string' ? [had] : Array.isArray(had) ? had : []), ...opts.site]
    }
    if (opts.spread !== undefined) c['spread'] = { key: opts.spread, max: 1 }
    out['constraints'] = c
  }
  return out
}

/**
 * A job of `kind` whose body is `body` (the spec the kind's own command reads), with the placement options applied.
 * Its name is the body's name where that is a valid job name (lower-case letters, digits, . _ -).
 */
export function placedJob(kind: PlacedKind, body: unknown, opts: PlacementOptions): Record<string, unknown> {
  const name = isRecord(body) && typeof body['name'] === 'string' && JOB_NAME.test(body['name']) ? body['name'] : undefined
  return withPlacement({ kind, ...(name === undefined ? {} : { name }), [kind]: body }, opts)
}

/**
 * Submits a kind's body as a placed job and prints it: the job view as JSON with `json`, else its id and state and
 * how to follow it.
 * @param again the `--data-dir`/`--api` arguments that reach the same node, for the printed command
 * @returns the job as submitted
 */
export async function submitPlaced(api: ApiClient, kind: PlacedKind, body: unknown, opts: PlacementOptions & { json?: boolean }, again: string): Promise<FabricJobView> {
  const view = await api.submitFabricJob(placedJob(kind, body, opts))
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(view, null, 2)}\n`)
  } else {
    const n = view.placements.length
    process.stdout.write(`job ${view.id} (${view.kind}, ${n} placement${n === 1 ? '' : 's'}): ${view.state}\nfollow it: weft job status ${view.id}${again}\n`)
  }
  return view
}
