// Placement: which nodes take a job's replicas, from the capacity, labels and prices their resource ads advertise
// (best fit, most free first, or cheapest under a deadline), all replicas or none.
import type { ResourceAd } from '@weft/protocol'
import type { Constraints, LabelRule, PlacementStrategy, ResourceRequest } from './spec.js'

/** What a node offers to scheduled work, as placement reads it. */
export interface NodeCapacity {
  readonly peerId: string
  readonly cores: number
  readonly memoryBytes: number
  readonly accelerators: number
  readonly acceleratorKinds: readonly string[]
  /** Engine names ('torch') and engine/backend pairs ('torch/cuda'). */
  readonly engines: readonly string[]
  readonly datasets: readonly string[]
  readonly labels: Readonly<Record<string, string>>
  /** What of the capacity reservations already hold. */
  readonly reserved: { readonly cores: number; readonly memoryBytes: number; readonly accelerators: number }
  readonly pricing: { readonly coreHour: number; readonly gibHour: number; readonly acceleratorHour: number }
  /** Relative compute per core, 1 = reference (REFERENCE_MATMUL_GFLOPS). */
  readonly speed: number
}

/** The matmul throughput (GFLOP/s) of a node of speed 1: a laptop core's float32 matmul through tfjs/wasm. */
export const REFERENCE_MATMUL_GFLOPS = 10

const GIB = 2 ** 30
/** Bounds on what a peer's ad can make placement read (ads come from remote peers). */
const MAX_AD_LIST = 64
const MAX_AD_LABELS = 64
const MAX_AD_STRING = 128
const MAX_CORES = 1e6
const MAX_PRICE = 1e9

const finiteIn = (x: number, max: number): number => (Number.isFinite(x) && x > 0 ? Math.min(x, max) : 0)
const uniqueStrings = (xs: Iterable<string>): string[] => {
  const out = new Set<string>()
  for (const x of xs) {
    if (out.size >= MAX_AD_LIST) break
    if (x.length > 0 && x.length <= MAX_AD_STRING) out.add(x)
  }
  return [...out]
}

/**
 * The capacity a node's ad offers to scheduled work, its numbers bounded (non-finite or negative ones read as 0,
 * reservations at most the capacity, lists and labels capped).
 * @returns undefined when the ad has no `work` (the node takes no scheduled work)
 */
export function capacityFromAd(ad: ResourceAd): NodeCapacity | undefined {
  const work = ad.work
  if (work === undefined) return undefined
  const cores = finiteIn(work.cores, MAX_CORES)
  const memoryBytes = Math.min(Number(work.memoryBytes), Number.MAX_SAFE_INTEGER)
  const accelerators = work.accelerators
  const labels: Record<string, string> = {}
  let n = 0
  for (const [k, v] of Object.entries(ad.labels)) {
    if (n++ >= MAX_AD_LABELS) break
    if (k.length <= MAX_AD_STRING && v.length <= MAX_AD_STRING) labels[k] = v
  }
  const gflops = ad.runtimes.reduce((best, r) => Math.max(best, finiteIn(r.matmulGflops, 1e9)), 0)
  const pricing = work.pricing
  return {
    peerId: ad.peerId,
    cores,
    memoryBytes,
    accelerators,
    acceleratorKinds: uniqueStrings(ad.accelerators.map((a) => a.kind)),
    engines: uniqueStrings(ad.runtimes.flatMap((r) => (r.backend === '' ? [r.name] : [r.name, `${r.name}/${r.backend}`]))),
    datasets: uniqueStrings(ad.datasets.map((d) => d.name)),
    labels,
    reserved: {
      cores: Math.min(finiteIn(work.reservedCores, MAX_CORES), cores),
      memoryBytes: Math.min(Number(work.reservedMemoryBytes), memoryBytes),
      accelerators: Math.min(work.reservedAccelerators, accelerators),
    },
    pricing: {
      coreHour: finiteIn(pricing?.coreHour ?? 0, MAX_PRICE),
      gibHour: finiteIn(pricing?.gibHour ?? 0, MAX_PRICE),
      acceleratorHour: finiteIn(pricing?.acceleratorHour ?? 0, MAX_PRICE),
    },
    speed: gflops > 0 ? Math.min(Math.max(gflops / REFERENCE_MATMUL_GFLOPS, 0.01), 1000) : 1,
  }
}

/** Replicas of one job to place now, and what they need. */
export interface PlacementRequest {
  readonly jobId: string
  readonly resources: ResourceRequest
  readonly constraints: Constraints
  readonly strategy: PlacementStrategy
  /** Names of the replicas to place now. */
  readonly placements: readonly string[]
  /** Replicas of this job already placed (they count for spread; peers not among the nodes are not counted). */
  readonly existing?: readonly { readonly placement: string; readonly peerId: string }[]
  readonly deadlineSeconds?: number
  /** Work of one replica on a node of speed 1, in core-seconds. */
  readonly estimatedCoreSeconds?: number
  /** The most the new replicas' summed estimated cost may be (checked where estimatedCoreSeconds is given). */
  readonly budget?: number
}

/** One replica on one node. */
export interface Assignment {
  readonly placement: string
  readonly peerId: string
  /** The node's price of the requested units, per hour. */
  readonly costPerHour: number
  /** estimatedCoreSeconds / (requested cores · node speed), where an estimate was given. */
  readonly estimatedSeconds?: number
  readonly estimatedCost?: number
}

/** Where every replica goes, or why they cannot all be placed (then none is). */
export type PlacementResult =
  | { readonly ok: true; readonly assignments: readonly Assignment[]; readonly costPerHour: number; readonly estimatedCost?: number }
  | { readonly ok: false; readonly reason: string; readonly rejected: Readonly<Record<string, string>> }

/** A reason a node cannot take a replica: `group` counts nodes in a summary ("4 lack cores"), `detail` is one node's. */
interface Misfit {
  readonly group: string
  readonly detail: string
}

const EPS = 1e-9
const MAX_REJECTED = 20

const labelOf = (labels: Readonly<Record<string, string>>, key: string): string | undefined => (Object.hasOwn(labels, key) ? labels[key] : undefined)

/** Why the node can never take a replica, whatever is reserved on it; undefined when it could. */
function staticMisfit(node: NodeCapacity, r: ResourceRequest, c: Constraints, excluded: ReadonlySet<string> | undefined): Misfit | undefined {
  if (excluded?.has(node.peerId)) return { group: 'are excluded', detail: 'excluded' }
  for (const key in c.labels) {
    const want = c.labels[key] as string
    if (labelOf(node.labels, key) !== want) return { group: `have no label ${key}=${want}`, detail: `no label ${key}=${want}` }
  }
  if (c.tier !== undefined && labelOf(node.labels, 'tier') !== c.tier) return { group: `have no label tier=${c.tier}`, detail: `no label tier=${c.tier}` }
  if (c.sites !== undefined) {
    const site = labelOf(node.labels, 'site')
    if (site === undefined || !c.sites.includes(site)) {
      return { group: `are not at site ${c.sites.join('|')}`, detail: `site ${site ?? '(none)'} is not one of ${c.sites.join(', ')}` }
    }
  }
  if (r.engine !== undefined && !node.engines.includes(r.engine)) return { group: `lack engine ${r.engine}`, detail: `no engine ${r.engine}` }
  if (r.dataset !== undefined && !node.datasets.includes(r.dataset)) return { group: `lack data set ${r.dataset}`, detail: `no data set ${r.dataset}` }
  if (r.accelerators > 0 && r.acceleratorKind !== undefined && !node.acceleratorKinds.includes(r.acceleratorKind)) {
    return { group: `have no ${r.acceleratorKind} accelerator`, detail: `no ${r.acceleratorKind} accelerator` }
  }
  if (node.cores + EPS < r.cores) return { group: 'lack cores', detail: `offers ${node.cores} cores, needs ${r.cores}` }
  if (node.memoryBytes < r.memoryBytes) return { group: 'lack memory', detail: `offers ${gib(node.memoryBytes)} GiB, needs ${gib(r.memoryBytes)}` }
  if (node.accelerators < r.accelerators) return { group: 'lack accelerators', detail: `offers ${node.accelerators} accelerators, needs ${r.accelerators}` }
  return undefined
}

/** Whether the node could ever take a replica (staticMisfit without building its reason: placement's hot path). */
function staticFits(node: NodeCapacity, r: ResourceRequest, c: Constraints, excluded: ReadonlySet<string> | undefined): boolean {
  if (node.cores + EPS < r.cores || node.memoryBytes < r.memoryBytes || node.accelerators < r.accelerators) return false
  if (excluded?.has(node.peerId)) return false
  for (const key in c.labels) if (labelOf(node.labels, key) !== c.labels[key]) return false
  if (c.tier !== undefined && labelOf(node.labels, 'tier') !== c.tier) return false
  if (c.sites !== undefined) {
    const site = labelOf(node.labels, 'site')
    if (site === undefined || !c.sites.includes(site)) return false
  }
  if (r.engine !== undefined && !node.engines.includes(r.engine)) return false
  if (r.dataset !== undefined && !node.datasets.includes(r.dataset)) return false
  return !(r.accelerators > 0 && r.acceleratorKind !== undefined && !node.acceleratorKinds.includes(r.acceleratorKind))
}

const gib = (bytes: number): string => String(Math.round((bytes / GIB) * 100) / 100)

/** Why the node cannot take a replica with what is free on it; undefined when it can. */
function freeMisfit(freeCores: number, freeMemory: number, freeAccelerators: number, r: ResourceRequest): Misfit | undefined {
  if (freeCores + EPS < r.cores) return { group: 'lack cores', detail: `${round(freeCores)} cores free, needs ${r.cores}` }
  if (freeMemory < r.memoryBytes) return { group: 'lack memory', detail: `${gib(freeMemory)} GiB free, needs ${gib(r.memoryBytes)}` }
  if (freeAccelerators < r.accelerators) return { group: 'lack accelerators', detail: `${freeAccelerators} accelerators free, needs ${r.accelerators}` }
  return undefined
}

const round = (x: number): number => Math.round(x * 1000) / 1000

/**
 * Why a node can never, or cannot now (with what is reserved on it), take one replica of `resources` under
 * `constraints` (spread and affinity aside: they depend on the job's other replicas).
 * @returns a short reason, e.g. "no label site=tucson" or "2 cores free, needs 4"; undefined when it fits
 */
export function misfit(node: NodeCapacity, resources: ResourceRequest, constraints: Constraints): string | undefined {
  const excluded = constraints.exclude === undefined ? undefined : new Set(constraints.exclude)
  const m =
    staticMisfit(node, resources, constraints, excluded) ??
    freeMisfit(node.cores - node.reserved.cores, node.memoryBytes - node.reserved.memoryBytes, node.accelerators - node.reserved.accelerators, resources)
  return m?.detail
}

const costPerHourOf = (node: NodeCapacity, r: ResourceRequest): number =>
  r.cores * node.pricing.coreHour + (r.memoryBytes / GIB) * node.pricing.gibHour + r.accelerators * node.pricing.acceleratorHour

const matches = (labels: Readonly<Record<string, string>>, rules: readonly LabelRule[] | undefined): number => {
  if (rules === undefined) return 0
  let n = 0
  for (const rule of rules) if (labelOf(labels, rule.key) === rule.value) n++
  return n
}

/** A node that passed the static checks, with its running free capacity. */
interface Candidate {
  readonly node: NodeCapacity
  readonly affinity: number
  readonly costPerHour: number
  readonly estimatedSeconds: number | undefined
  readonly spreadValue: string
  freeCores: number
  freeMemory: number
  freeAccelerators: number
  replicas: number
  /** The strategy's score with what is free now (higher is better); recomputed when a replica lands here. */
  score: number
}

const fmtCost = (x: number): string => String(Math.round(x * 100) / 100)

/**
 * Places every named replica of a job on the nodes, or none.
 *
 * A replica fits a node when its free capacity covers the request, it offers the engine, data set and accelerators
 * asked for, carries every label, is at an allowed site and is not excluded; placing it deducts its request from a
 * copy of the node's capacity, so several replicas may share a node. Spread caps the replicas (existing and new) per
 * value of a label. Among the nodes that fit, affinity rules matched minus anti-affinity rules matched come first,
 * then the strategy's order: binpack (least free capacity left, as a share of the node's cores and memory), spread
 * (fewest replicas of this job, then most free), cost (lowest estimated cost where a deadline and an estimate are
 * given, among nodes that meet the deadline; else lowest price per hour); then peer id.
 * @returns the assignments in the order of `request.placements`, or `{ok: false}` with a sentence a user reads and
 *   up to 20 rejected peers with why
 */
export function place(request: PlacementRequest, nodes: readonly NodeCapacity[]): PlacementResult {
  const r = request.resources
  const c = request.constraints
  const excluded = c.exclude === undefined || c.exclude.length === 0 ? undefined : new Set(c.exclude)
  const estimate = request.estimatedCoreSeconds
  const deadline = request.strategy === 'cost' ? request.deadlineSeconds : undefined
  const spreadKey = c.spread?.key
  // The hot path only tests; the reasons (strings) are built on a refusal, in `refuse`.
  const candidates: Candidate[] = []
  for (const node of nodes) {
    if (!staticFits(node, r, c, excluded)) continue
    const estimatedSeconds = estimate === undefined ? undefined : estimate / (r.cores * node.speed)
    if (deadline !== undefined && estimatedSeconds !== undefined && estimatedSeconds > deadline * (1 + EPS)) continue
    candidates.push({
      node,
      affinity: matches(node.labels, c.affinity) - matches(node.labels, c.antiAffinity),
      costPerHour: costPerHourOf(node, r),
      estimatedSeconds,
      spreadValue: spreadKey === undefined ? '' : (labelOf(node.labels, spreadKey) ?? ''),
      freeCores: node.cores - node.reserved.cores,
      freeMemory: node.memoryBytes - node.reserved.memoryBytes,
      freeAccelerators: node.accelerators - node.reserved.accelerators,
      replicas: 0,
      score: 0,
    })
  }
  const perValue = new Map<string, number>()
  if (request.existing !== undefined && request.existing.length > 0) {
    const byPeer = new Map(candidates.map((x) => [x.node.peerId, x]))
    const labelsOf = new Map(nodes.map((n) => [n.peerId, n.labels]))
    for (const e of request.existing) {
      const cand = byPeer.get(e.peerId)
      if (cand !== undefined) cand.replicas++
      const labels = labelsOf.get(e.peerId)
      if (spreadKey !== undefined && labels !== undefined) {
        const v = labelOf(labels, spreadKey) ?? ''
        perValue.set(v, (perValue.get(v) ?? 0) + 1)
      }
    }
  }
  const maxPerValue = c.spread?.maxPerValue ?? Number.POSITIVE_INFINITY
  const useEstimatedCost = request.strategy === 'cost' && deadline !== undefined && estimate !== undefined

  /** Higher is better; compares after affinity. */
  const strategyScore = (x: Candidate): number => {
    switch (request.strategy) {
      case 'binpack':
        return -leftShare(x, r)
      case 'spread':
        return leftShare(x, r) - x.replicas * 2
      case 'cost':
        return useEstimatedCost ? -(x.costPerHour * (x.estimatedSeconds as number)) / 3600 : -x.costPerHour
      default: {
        const never: never = request.strategy
        throw new TypeError(`unknown placement strategy ${String(never)}`)
      }
    }
  }

  for (const x of candidates) x.score = strategyScore(x)
  const assignments: Assignment[] = []
  let costPerHour = 0
  let estimatedCost = 0
  for (const placement of request.placements) {
    let best: Candidate | undefined
    for (const x of candidates) {
      if (x.freeCores + EPS < r.cores || x.freeMemory < r.memoryBytes || x.freeAccelerators < r.accelerators) continue
      if (spreadKey !== undefined && (perValue.get(x.spreadValue) ?? 0) >= maxPerValue) continue
      if (best === undefined || better(x, best)) best = x
    }
    if (best === undefined) {
      const prefix = assignments.length === 0 ? '' : `placed ${assignments.length} of ${request.placements.length} replicas, then `
      const byNode = new Map(candidates.map((x) => [x.node, x]))
      const reason = (node: NodeCapacity): Misfit => {
        const m = staticMisfit(node, r, c, excluded)
        if (m !== undefined) return m
        const est = estimate === undefined ? undefined : estimate / (r.cores * node.speed)
        if (deadline !== undefined && est !== undefined && est > deadline * (1 + EPS)) {
          return { group: 'miss the deadline', detail: `estimated ${Math.ceil(est)} s, over the deadline of ${deadline} s` }
        }
        const x = byNode.get(node) as Candidate
        const free = freeMisfit(x.freeCores, x.freeMemory, x.freeAccelerators, r)
        if (free !== undefined) return free
        const key = spreadKey as string
        return { group: `would exceed ${maxPerValue} per ${key}`, detail: `${key}=${x.spreadValue} already holds ${maxPerValue} of this job's replicas` }
      }
      return refuse(`${prefix}no node fits ${placement}`, nodes, reason)
    }
    best.freeCores -= r.cores
    best.freeMemory -= r.memoryBytes
    best.freeAccelerators -= r.accelerators
    best.replicas++
    best.score = strategyScore(best)
    perValue.set(best.spreadValue, (perValue.get(best.spreadValue) ?? 0) + 1)
    costPerHour += best.costPerHour
    const est = best.estimatedSeconds
    if (est !== undefined) estimatedCost += (best.costPerHour * est) / 3600
    assignments.push({
      placement,
      peerId: best.node.peerId,
      costPerHour: best.costPerHour,
      ...(est === undefined ? {} : { estimatedSeconds: est, estimatedCost: (best.costPerHour * est) / 3600 }),
    })
  }
  if (request.budget !== undefined && estimate !== undefined && estimatedCost > request.budget * (1 + EPS)) {
    const how = request.strategy === 'cost' ? 'the cheapest placement' : `the ${request.strategy} placement (strategy cost may cost less)`
    return { ok: false, reason: `over budget: ${how} costs an estimated ${fmtCost(estimatedCost)}, the budget is ${fmtCost(request.budget)}`, rejected: {} }
  }
  return { ok: true, assignments, costPerHour, ...(estimate === undefined ? {} : { estimatedCost }) }
}

/** The share of a node's cores and memory (and accelerators, where asked) left free after one more replica. */
function leftShare(x: Candidate, r: ResourceRequest): number {
  const n = x.node
  let sum = (n.cores > 0 ? (x.freeCores - r.cores) / n.cores : 0) + (n.memoryBytes > 0 ? (x.freeMemory - r.memoryBytes) / n.memoryBytes : 0)
  let dims = 2
  if (r.accelerators > 0 && n.accelerators > 0) {
    sum += (x.freeAccelerators - r.accelerators) / n.accelerators
    dims++
  }
  return sum / dims
}

/** Whether candidate `a` ranks before `b`: affinity, then the strategy's score, then peer id. */
function better(a: Candidate, b: Candidate): boolean {
  if (a.affinity !== b.affinity) return a.affinity > b.affinity
  const sa = a.score
  const sb = b.score
  if (Math.abs(sa - sb) > EPS * Math.max(1, Math.abs(sa), Math.abs(sb))) return sa > sb
  return a.node.peerId < b.node.peerId
}

/** `{ok: false}` with a summary of why the nodes did not fit and the first 20 rejected peers (by peer id). */
function refuse(head: string, nodes: readonly NodeCapacity[], reason: (node: NodeCapacity) => Misfit): PlacementResult {
  if (nodes.length === 0) return { ok: false, reason: `${head}: no nodes offer work`, rejected: {} }
  const groups = new Map<string, number>()
  const details = new Map<string, string>()
  for (const node of nodes) {
    const m = reason(node)
    groups.set(m.group, (groups.get(m.group) ?? 0) + 1)
    details.set(node.peerId, m.detail)
  }
  const summary = [...groups].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([g, n]) => `${n} ${g}`)
  const rejected: Record<string, string> = {}
  for (const peer of [...details.keys()].sort().slice(0, MAX_REJECTED)) rejected[peer] = details.get(peer) as string
  return { ok: false, reason: `${head}: ${summary.join(', ')}`, rejected }
}
