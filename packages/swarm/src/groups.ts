// Matchmaking without a matchmaker: every peer computes its averaging group for an outer step from the live member
// list, and the groups change every step so that they mix the whole swarm in O(log n) steps (Moshpit SGD's grid).

/** A live member as the group computation needs it. */
export interface GroupMember {
  readonly peer: string
  /** Declared bandwidth, bytes per second: a member's shard of the all-reduce is proportional to it. */
  readonly bandwidth: number
}

/** A peer's averaging group for one outer step. */
export interface Group {
  /** Names the group for this step: the swarm, the step and the grid coordinates its members share. */
  readonly key: string
  /** Members in peer-id order, the caller included. */
  readonly members: readonly GroupMember[]
}

/** The grid's dimensions for n members in groups of g: ⌈log_g n⌉, at least 1. */
export function gridDimensions(n: number, groupSize: number): number {
  let d = 1
  let cells = groupSize
  while (cells < n) {
    cells *= groupSize
    d++
  }
  return d
}

/**
 * The group of `self` for outer step `step`. Members are laid out on a grid of d = ⌈log_g n⌉ dimensions with g cells
 * each (the i-th member at the digits of i in base g, in an order that changes every d steps); at step t a group is
 * the members that share every coordinate but dimension t mod d. After d steps with every member present each member's value has met every
 * other's: for n = g^d exact averages within groups give the swarm's mean (the tests check it).
 * @throws RangeError when `self` is not among the members or the group size is below 2
 */
export function groupFor(swarm: string, step: number, self: string, members: readonly GroupMember[], groupSize: number): Group {
  if (!Number.isInteger(groupSize) || groupSize < 2) throw new RangeError(`groupSize must be an integer ≥ 2, got ${groupSize}`)
  if (!members.some((m) => m.peer === self)) throw new RangeError(`${self} is not among the ${members.length} members`)
  const d = gridDimensions(members.length, groupSize)
  // Each cycle of d steps lays the members out in a new order (a hash of the peer and the cycle): when n is not a
  // power of g some cells stay empty, and a fixed layout would leave the same members out of the same groups forever.
  const cycle = Math.floor(step / d)
  const rank = (peer: string): number => fnv1a(`${cycle}:${peer}`)
  const sorted = [...members].sort((a, b) => rank(a.peer) - rank(b.peer) || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
  const index = sorted.findIndex((m) => m.peer === self)
  const dim = step % d
  const coords = (i: number): number[] => Array.from({ length: d }, (_, k) => Math.floor(i / groupSize ** k) % groupSize)
  const mine = coords(index)
  const shares = (i: number): boolean => coords(i).every((c, k) => k === dim || c === mine[k])
  const group = sorted.filter((_, i) => shares(i)).sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
  const fixed = mine.map((c, k) => (k === dim ? '*' : String(c))).join('.')
  return { key: `${swarm}/${step}/${fixed}`, members: group }
}

/** FNV-1a, 32 bits: the same order of members on every peer. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/** One contiguous range of the flat parameter vector, reduced by one member. */
export interface Part {
  /** Index of the part in the group's layout. */
  readonly index: number
  /** The member that reduces it. */
  readonly owner: string
  readonly offset: number
  readonly length: number
}

/**
 * Cuts a vector of `length` values into shards proportional to each member's bandwidth, taken within 4x of the
 * group's median (a butterfly all-reduce: each member reduces one shard), and each shard into parts of at most `maxPartValues` values, so a message stays far below
 * the mesh's 4 MiB frame. A member with a shard of 0 values (tiny bandwidth against a short vector) owns no part.
 * @throws RangeError for no members, a negative length or a bandwidth that is not positive and finite
 */
export function partsOf(length: number, members: readonly GroupMember[], maxPartValues: number): Part[] {
  if (members.length === 0) throw new RangeError('a group has at least one member')
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be a non-negative integer, got ${length}`)
  if (!Number.isSafeInteger(maxPartValues) || maxPartValues < 1) throw new RangeError(`maxPartValues must be a positive integer, got ${maxPartValues}`)
  for (const m of members) {
    if (!Number.isFinite(m.bandwidth) || m.bandwidth <= 0) throw new RangeError(`${m.peer} declares bandwidth ${m.bandwidth}`)
  }
  // A declared bandwidth counts within 4x of the group's median either way: a member claiming a huge one would
  // otherwise own most of the vector, and a stalled owner costs its whole shard the average.
  const sorted = members.map((m) => m.bandwidth).sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)] as number
  const weight = (bw: number): number => Math.min(4 * median, Math.max(median / 4, bw))
  const total = members.reduce((sum, m) => sum + weight(m.bandwidth), 0)
  const parts: Part[] = []
  let cumulative = 0
  let start = 0
  for (const [i, m] of members.entries()) {
    cumulative += weight(m.bandwidth)
    const end = i === members.length - 1 ? length : Math.round((length * cumulative) / total)
    for (let offset = start; offset < end; offset += maxPartValues) {
      parts.push({ index: parts.length, owner: m.peer, offset, length: Math.min(maxPartValues, end - offset) })
    }
    start = end
  }
  return parts
}
