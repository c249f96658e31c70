// What this node gives to placed work, and the reservations that hold it. A reservation is a lease: its owner renews
// it with every heartbeat, and it lapses (freeing its capacity and stopping what runs on it) when the owner stops
// renewing. The node refuses a reservation that would exceed what it advertised, whoever asks.
import { create } from '@bufbuild/protobuf'
import { type WorkOffer, WorkOfferSchema } from '@weft/protocol'

/** What the node offers, as configured or measured. */
export interface Offer {
  readonly cores: number
  readonly memoryBytes: number
  readonly accelerators: number
  readonly pricing: { readonly coreHour: number; readonly gibHour: number; readonly acceleratorHour: number }
}

/** Units used, accumulated while a reservation is held (allocation-based, as Slurm accounts them) or measured. */
export interface Usage {
  coreSeconds: number
  memoryByteSeconds: number
  acceleratorSeconds: number
  bytes: number
}

export function emptyUsage(): Usage {
  return { coreSeconds: 0, memoryByteSeconds: 0, acceleratorSeconds: 0, bytes: 0 }
}

export function addUsage(into: Usage, more: Usage): void {
  into.coreSeconds += more.coreSeconds
  into.memoryByteSeconds += more.memoryByteSeconds
  into.acceleratorSeconds += more.acceleratorSeconds
  into.bytes += more.bytes
}

/** Credits for `usage` at `pricing`. */
export function priceOf(usage: Usage, pricing: Offer['pricing']): number {
  return (usage.coreSeconds / 3600) * pricing.coreHour + (usage.memoryByteSeconds / 3600 / 2 ** 30) * pricing.gibHour + (usage.acceleratorSeconds / 3600) * pricing.acceleratorHour
}

export type PlacementState = 'reserved' | 'running' | 'done' | 'failed'

/** One placement held here. */
export interface Reservation {
  readonly jobId: string
  readonly placement: string
  /** The job's owner at the reservation's epoch (a takeover at a higher epoch moves it). */
  owner: string
  epoch: bigint
  readonly cores: number
  readonly memoryBytes: number
  readonly accelerators: number
  expiresAt: number
  state: PlacementState
  detail: string
  readonly usage: Usage
  /** When usage was last accrued. */
  accruedAt: number
  /** Stops what runs on it (set by whoever started it). */
  stop?: () => Promise<void>
}

export interface ReserveAsk {
  readonly jobId: string
  readonly placement: string
  readonly owner: string
  readonly epoch: bigint
  readonly cores: number
  readonly memoryBytes: number
  readonly accelerators: number
  readonly leaseMs: number
}

export type ReserveOutcome = { readonly granted: true; readonly reservation: Reservation } | { readonly granted: false; readonly reason: string }

const key = (jobId: string, placement: string): string => `${jobId}\u0000${placement}`

/** The node's reservations against its offer. */
export class Capacity {
  readonly #offer: Offer
  readonly #now: () => number
  readonly #held = new Map<string, Reservation>()
  readonly #onLapse: (r: Reservation) => void

  constructor(offer: Offer, now: () => number, onLapse: (r: Reservation) => void) {
    this.#offer = offer
    this.#now = now
    this.#onLapse = onLapse
  }

  get offer(): Offer {
    return this.#offer
  }

  /** Capacity held by live reservations. */
  reserved(): { cores: number; memoryBytes: number; accelerators: number } {
    let cores = 0
    let memoryBytes = 0
    let accelerators = 0
    for (const r of this.#held.values()) {
      if (r.state === 'done' || r.state === 'failed') continue
      cores += r.cores
      memoryBytes += r.memoryBytes
      accelerators += r.accelerators
    }
    return { cores, memoryBytes, accelerators }
  }

  /**
   * Grants or renews a reservation. A renewal (same job and placement, same or newer epoch) extends its lease; a new
   * one must fit in what is free of the offer.
   */
  reserve(ask: ReserveAsk): ReserveOutcome {
    this.sweep()
    const existing = this.#held.get(key(ask.jobId, ask.placement))
    if (existing !== undefined) {
      if (ask.epoch < existing.epoch) return { granted: false, reason: `epoch ${ask.epoch} is older than the reservation's ${existing.epoch}` }
      // Only its owner renews it; a new owner adopts it through the worker's status call (after checks there).
      if (existing.owner !== ask.owner) return { granted: false, reason: 'held for another owner' }
      existing.epoch = ask.epoch
      existing.expiresAt = this.#now() + ask.leaseMs
      return { granted: true, reservation: existing }
    }
    const free = this.reserved()
    const o = this.#offer
    if (free.cores + ask.cores > o.cores + 1e-9) {
      return { granted: false, reason: `capacity: ${round(o.cores - free.cores)} cores free of ${o.cores} advertised, ${ask.cores} asked` }
    }
    if (free.memoryBytes + ask.memoryBytes > o.memoryBytes) {
      return { granted: false, reason: `capacity: ${gib(o.memoryBytes - free.memoryBytes)} GiB memory free of ${gib(o.memoryBytes)} advertised, ${gib(ask.memoryBytes)} asked` }
    }
    if (free.accelerators + ask.accelerators > o.accelerators) {
      return { granted: false, reason: `capacity: ${o.accelerators - free.accelerators} accelerators free of ${o.accelerators} advertised, ${ask.accelerators} asked` }
    }
    const now = this.#now()
    const reservation: Reservation = {
      jobId: ask.jobId,
      placement: ask.placement,
      owner: ask.owner,
      epoch: ask.epoch,
      cores: ask.cores,
      memoryBytes: ask.memoryBytes,
      accelerators: ask.accelerators,
      expiresAt: now + ask.leaseMs,
      state: 'reserved',
      detail: '',
      usage: emptyUsage(),
      accruedAt: now,
    }
    this.#held.set(key(ask.jobId, ask.placement), reservation)
    return { granted: true, reservation }
  }

  get(jobId: string, placement: string): Reservation | undefined {
    return this.#held.get(key(jobId, placement))
  }

  /** The reservations of one job (all of them, for an owner's heartbeat). */
  ofJob(jobId: string): Reservation[] {
    return [...this.#held.values()].filter((r) => r.jobId === jobId)
  }

  list(): Reservation[] {
    return [...this.#held.values()]
  }

  /** Accrues usage of every live reservation up to now (allocated units × time held). */
  accrue(): void {
    const now = this.#now()
    for (const r of this.#held.values()) {
      if (r.state === 'done' || r.state === 'failed') continue
      const seconds = Math.max(0, now - r.accruedAt) / 1000
      r.usage.coreSeconds += r.cores * seconds
      r.usage.memoryByteSeconds += r.memoryBytes * seconds
      r.usage.acceleratorSeconds += r.accelerators * seconds
      r.accruedAt = now
    }
  }

  /** Ends a reservation (released by its owner, or lapsed); what runs on it is stopped by the caller's onLapse. */
  release(jobId: string, placement: string): Reservation | undefined {
    this.accrue()
    const r = this.#held.get(key(jobId, placement))
    if (r === undefined) return undefined
    this.#held.delete(key(jobId, placement))
    return r
  }

  /** Drops reservations whose lease ran out, calling onLapse for each. */
  sweep(): void {
    const now = this.#now()
    this.accrue()
    for (const r of [...this.#held.values()]) {
      if (r.expiresAt > now) continue
      this.#held.delete(key(r.jobId, r.placement))
      this.#onLapse(r)
    }
  }

  /** The ad's WorkOffer. */
  workOffer(): WorkOffer {
    const held = this.reserved()
    const o = this.#offer
    return create(WorkOfferSchema, {
      cores: o.cores,
      memoryBytes: BigInt(o.memoryBytes),
      accelerators: o.accelerators,
      reservedCores: held.cores,
      reservedMemoryBytes: BigInt(held.memoryBytes),
      reservedAccelerators: held.accelerators,
      pricing: { coreHour: o.pricing.coreHour, gibHour: o.pricing.gibHour, acceleratorHour: o.pricing.acceleratorHour },
      placements: [...this.#held.values()].filter((r) => r.state !== 'done' && r.state !== 'failed').length,
    })
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toFixed(2)
}
