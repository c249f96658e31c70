// Averaging inside a group: a butterfly all-reduce. The flat vector is cut into one shard per member, proportional to
// its bandwidth (and each shard into parts that fit a message); every member sends each part of its values to the
// part's owner, the owner reduces what arrived (a weighted mean, or a trimmed mean or median per coordinate) and
// answers every sender with the result. A member that stalls is dropped after the part timeout and the rest finish; a
// part whose owner is lost keeps each member's own values. Each member sends and receives about 2·(1 − 1/g) of the
// vector, whatever the group size g.
import { InvalidUpdateError } from '@weft/fl'
import { abortAfter } from '@weft/protocol'
import { decodePart, encodePart, type PartCompression, type PartEncoder } from './codec.js'
import { type Group, type Part, partsOf } from './groups.js'
import { PartRefusedError, type PartRequest, type PartResponse, type SwarmTransport } from './transport.js'

/** Values per part: 768 KiB of float32, below a mesh RPC message (1 MiB by default) with room for the header. */
export const MAX_PART_VALUES = 196_608

/** Parts a member has in flight to their owners at once. */
const MAX_IN_FLIGHT = 8

/** How an owner reduces the parts it receives. */
export interface ReductionRule {
  readonly reduction: 'mean' | 'trimmed-mean' | 'median'
  /** Fraction trimmed from each end under trimmed-mean. */
  readonly trim: number
}

/** One member's values of a part, decoded and checked. */
export interface Contribution {
  readonly from: string
  readonly weight: number
  readonly values: Float32Array
}

/**
 * Reduces the contributions of one part: the weight-weighted mean, or per coordinate the mean of what is left after
 * trimming ⌊trim·k⌋ values from each end (unweighted), or the median (unweighted).
 * @throws RangeError when there is no contribution or their lengths differ
 */
export function reduceContributions(rule: ReductionRule, contributions: readonly Contribution[]): Float32Array {
  const first = contributions[0]
  if (first === undefined) throw new RangeError('nothing to reduce')
  const n = first.values.length
  for (const c of contributions) if (c.values.length !== n) throw new RangeError(`contribution of ${c.values.length} values among ones of ${n}`)
  const out = new Float32Array(n)
  const k = contributions.length
  if (rule.reduction === 'mean' || k === 1) {
    const total = contributions.reduce((s, c) => s + c.weight, 0)
    const acc = new Float64Array(n)
    for (const c of contributions) {
      const w = total > 0 ? c.weight / total : 1 / k
      for (let i = 0; i < n; i++) acc[i] = (acc[i] as number) + w * (c.values[i] as number)
    }
    out.set(acc)
    return out
  }
  const column = new Float64Array(k)
  const cut = rule.reduction === 'median' ? 0 : Math.floor(rule.trim * k)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) column[j] = (contributions[j] as Contribution).values[i] as number
    column.sort()
    if (rule.reduction === 'median') {
      out[i] = k % 2 === 1 ? (column[(k - 1) / 2] as number) : ((column[k / 2 - 1] as number) + (column[k / 2] as number)) / 2
    } else {
      let s = 0
      for (let j = cut; j < k - cut; j++) s += column[j] as number
      out[i] = s / (k - 2 * cut)
    }
  }
  return out
}

/** Root-mean-square distance between two equal-length vectors (Infinity when either holds a non-finite value). */
export function rmsDistance(a: Float32Array, b: Float32Array): number {
  let s = 0
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number)
    s += d * d
  }
  const r = Math.sqrt(s / Math.max(1, a.length))
  return Number.isFinite(r) ? r : Number.POSITIVE_INFINITY
}

/** What the owner of parts knows about a step: set by the peer when it first needs the step's group. */
export interface OwnerStep {
  readonly step: number
  readonly group: Group
  readonly parts: readonly Part[]
  /** The owner's outer parameters this step (the bound of how far a member's part may lie). */
  readonly reference: Float32Array
}

/** The owner side's settings. */
export interface PartServerInit extends ReductionRule {
  /** This peer's id. */
  readonly self: string
  readonly compression: PartCompression
  readonly partTimeoutMs: number
  readonly maxRmsDistance: number
  /** The largest weight one member's part carries (a peer may claim more samples than it processed). */
  readonly maxWeight: number
  /** The owner's view of a step, computing its group when this is the first need of it; undefined: not a step it takes. */
  readonly stepView: (step: number) => Promise<OwnerStep | undefined>
  /** A member sent a part that is malformed, non-finite or out of bounds. */
  readonly onOffence?: (peer: string, reason: string) => void
}

interface Pending {
  readonly step: number
  readonly part: Part
  readonly expected: ReadonlySet<string>
  readonly received: Map<string, Contribution>
  readonly waiters: ((r: PartResponse | Error) => void)[]
  result?: PartResponse
  timer?: ReturnType<typeof setTimeout>
}

/**
 * The owner side of the all-reduce: collects the parts this peer owns, reduces each once every expected member sent
 * it or `partTimeoutMs` after the first arrived, and answers each sender with the reduction. A member that sends a part
 * after it was reduced gets the reduction too (it still converges), without changing it.
 */
export class PartServer {
  readonly #init: PartServerInit
  readonly #pending = new Map<string, Pending>()
  #latestStep = -1

  constructor(init: PartServerInit) {
    this.#init = init
  }

  /** Handles a member's part: resolves with the reduction. @throws PartRefusedError naming why it was refused */
  async handle(from: string, request: PartRequest): Promise<PartResponse> {
    const view = await this.#init.stepView(request.step)
    if (view === undefined) throw new PartRefusedError(`step ${request.step} is not one this peer averages`)
    if (view.group.key !== request.group) throw new PartRefusedError(`this peer's group for step ${request.step} is ${view.group.key}, not ${request.group}`)
    if (!view.group.members.some((m) => m.peer === from)) throw new PartRefusedError(`${from} is not in group ${view.group.key}`)
    const part = view.parts[request.part]
    if (part === undefined || part.owner !== this.#init.self || part.offset !== request.offset || part.length !== request.length) {
      throw new PartRefusedError(`part ${request.part} (${request.offset}+${request.length}) is not one this peer owns in ${view.group.key}`)
    }
    const contribution = this.#check(from, request, view)
    return this.#add(view, part, contribution)
  }

  /** Adds this peer's own values of a part it owns (no network), resolving with the reduction. */
  own(view: OwnerStep, part: Part, weight: number, values: Float32Array): Promise<PartResponse> {
    return this.#add(view, part, { from: this.#init.self, weight: Math.min(weight, this.#init.maxWeight), values })
  }

  /** Drops what is held for steps before `step`, answering their waiting members with what arrived. */
  advance(step: number): void {
    this.#latestStep = Math.max(this.#latestStep, step)
    for (const [key, p] of this.#pending) {
      if (p.step < step) {
        if (p.result === undefined && p.received.size > 0) this.#finish(p)
        if (p.timer !== undefined) clearTimeout(p.timer)
        this.#pending.delete(key)
      }
    }
  }

  /** Stops every timer, failing whoever still waits. */
  close(): void {
    for (const p of this.#pending.values()) {
      if (p.timer !== undefined) clearTimeout(p.timer)
      for (const w of p.waiters.splice(0)) w(new Error('the peer left the swarm'))
    }
    this.#pending.clear()
  }

  #check(from: string, request: PartRequest, view: OwnerStep): Contribution {
    const offence = (reason: string): never => {
      this.#init.onOffence?.(from, reason)
      throw new PartRefusedError(reason)
    }
    if (!Number.isFinite(request.weight) || request.weight < 0) offence(`weight ${request.weight} is not a sample count`)
    let values: Float32Array
    try {
      values = decodePart(this.#init.compression, request.values, request.length)
    } catch (err) {
      if (err instanceof InvalidUpdateError) return offence(`malformed part: ${err.message}`)
      throw err
    }
    const reference = view.reference.subarray(request.offset, request.offset + request.length)
    const distance = rmsDistance(values, reference)
    if (distance > this.#init.maxRmsDistance) {
      offence(`part ${request.part} lies ${distance === Number.POSITIVE_INFINITY ? 'at a non-finite' : `${distance.toPrecision(3)} rms`} from this peer's outer parameters (bound ${this.#init.maxRmsDistance})`)
    }
    return { from, weight: Math.min(request.weight, this.#init.maxWeight), values }
  }

  #add(view: OwnerStep, part: Part, contribution: Contribution): Promise<PartResponse> {
    if (view.step < this.#latestStep - 1) return Promise.reject(new PartRefusedError(`step ${view.step} is over`))
    const key = `${view.step}#${view.group.key}#${part.index}`
    let p = this.#pending.get(key)
    if (p === undefined) {
      p = { step: view.step, part, expected: new Set(view.group.members.map((m) => m.peer)), received: new Map(), waiters: [] }
      this.#pending.set(key, p)
    }
    const pending = p
    if (pending.result !== undefined) return Promise.resolve(pending.result)
    if (!pending.received.has(contribution.from)) pending.received.set(contribution.from, contribution)
    const answer = new Promise<PartResponse>((resolve, reject) => {
      pending.waiters.push((r) => (r instanceof Error ? reject(r) : resolve(r)))
    })
    if ([...pending.expected].every((m) => pending.received.has(m))) this.#finish(pending)
    else if (pending.timer === undefined) pending.timer = setTimeout(() => this.#finish(pending), this.#init.partTimeoutMs)
    return answer
  }

  #finish(p: Pending): void {
    if (p.result !== undefined) return
    if (p.timer !== undefined) clearTimeout(p.timer)
    const contributions = [...p.received.values()]
    let values: Uint8Array
    try {
      values = encodePart(this.#init.compression, reduceContributions(this.#init, contributions))
    } catch (err) {
      // Only this peer's own values go in unchecked: a reduction that cannot be encoded (non-finite) fails the part.
      for (const w of p.waiters.splice(0)) w(new PartRefusedError(`part ${p.part.index} could not be reduced: ${(err as Error).message}`))
      return
    }
    p.result = { values, contributors: contributions.length }
    for (const w of p.waiters.splice(0)) w(p.result)
  }
}

/** What one member's all-reduce did. */
export interface AllReduceResult {
  /** The group's reduction of every part (the member's own values where a part failed). */
  readonly mean: Float32Array
  readonly parts: number
  /** Parts that kept this member's own values: their owner refused, stalled or was lost. */
  readonly failedParts: number
  /** Owners whose parts failed, with why. */
  readonly failures: readonly { readonly owner: string; readonly reason: string }[]
  /** Fewest members whose values went into any reduced part (the group size when all arrived). */
  readonly minContributors: number
  readonly bytesSent: number
  readonly bytesReceived: number
}

export interface AllReduceInit {
  readonly self: string
  readonly view: OwnerStep
  /** This member's values (the parameters it reached) and their weight (its samples this step). */
  readonly values: Float32Array
  readonly weight: number
  readonly transport: SwarmTransport
  readonly server: PartServer
  readonly encoder: PartEncoder
  readonly compression: PartCompression
  /** Longest one exchange may take: the owner waits up to a part timeout for the others, plus the transfer. */
  readonly exchangeTimeoutMs: number
  /** A reduction further than this (rms) from this member's outer parameters is refused (its own values kept). */
  readonly maxRmsDistance: number
  /** An owner answered a malformed, non-finite or out-of-bounds reduction. */
  readonly onOffence?: (peer: string, reason: string) => void
  readonly signal?: AbortSignal
}

/** Runs this member's side of its group's all-reduce for one step. */
export async function allReduce(init: AllReduceInit): Promise<AllReduceResult> {
  const { self, view, values } = init
  const mean = new Float32Array(values)
  const failures: { owner: string; reason: string }[] = []
  let bytesSent = 0
  let bytesReceived = 0
  let minContributors = Number.POSITIVE_INFINITY
  // A few parts in flight at a time: dozens of 768 KiB requests at once on one connection would each wait for the
  // others' bytes, past the server's wait for a request frame.
  const queue = [...view.parts]
  const runPart = async (part: Part): Promise<void> => {
    const mine = values.subarray(part.offset, part.offset + part.length)
    try {
      let response: PartResponse
      if (part.owner === self) {
        response = await init.server.own(view, part, init.weight, mine)
      } else {
        const bytes = init.encoder.encode(part.offset, mine)
        bytesSent += bytes.length
        const signal = abortAfter(init.exchangeTimeoutMs, init.signal)
        const request: PartRequest = { group: view.group.key, step: view.step, part: part.index, offset: part.offset, length: part.length, weight: init.weight, values: bytes }
        response = await init.transport.exchange(part.owner, request, signal)
        bytesReceived += response.values.length
      }
      let reduced: Float32Array
      try {
        reduced = decodePart(init.compression, response.values, part.length)
      } catch (err) {
        init.onOffence?.(part.owner, `answered a malformed reduction: ${(err as Error).message}`)
        throw err
      }
      // An owner's answer is checked like a member's part: finite (decodePart) and near this member's outer state.
      const distance = rmsDistance(reduced, view.reference.subarray(part.offset, part.offset + part.length))
      if (distance > init.maxRmsDistance) {
        const reason = `answered a reduction ${distance.toPrecision(3)} rms from this peer's outer parameters (bound ${init.maxRmsDistance})`
        if (part.owner !== self) init.onOffence?.(part.owner, reason)
        throw new PartRefusedError(reason)
      }
      mean.set(reduced, part.offset)
      minContributors = Math.min(minContributors, response.contributors)
    } catch (err) {
      if (init.signal?.aborted === true) throw err
      failures.push({ owner: part.owner, reason: err instanceof PartRefusedError ? `refused: ${err.message}` : (err as Error).message })
    }
  }
  // This member's own parts first (no network: they wait for the others' parts), then the rest, MAX_IN_FLIGHT at once.
  const own = queue.filter((p) => p.owner === self)
  const others = queue.filter((p) => p.owner !== self)
  await Promise.all([
    ...own.map(runPart),
    ...Array.from({ length: Math.min(MAX_IN_FLIGHT, others.length) }, async () => {
      for (let part = others.shift(); part !== undefined; part = others.shift()) await runPart(part)
    }),
  ])
  return {
    mean,
    parts: view.parts.length,
    failedParts: failures.length,
    failures,
    minContributors: Number.isFinite(minContributors) ? minContributors : 0,
    bytesSent,
    bytesReceived,
  }
}

/** The step's layout for a group: the parts of a vector of `length` values. */
export function layoutFor(group: Group, length: number): Part[] {
  return partsOf(length, group.members, MAX_PART_VALUES)
}
