// Choosing servers for a session: the cheapest chain of spans from one block boundary to another, where a hop costs
// the round trip to its server plus its measured compute for the blocks it runs (a shortest path over boundaries).

/** A server's span as a client sees it. */
export interface SpanOffer {
  readonly peer: string
  readonly start: number
  readonly end: number
  /** Measured compute per position through the whole span (0 when unknown). */
  readonly secondsPerToken: number
  /** Positions more the server takes. */
  readonly freeTokens: number
}

/** One hop of a route. */
export interface RouteHop {
  readonly peer: string
  readonly start: number
  readonly end: number
}

/** What a route's hops cost. */
export interface RouteCosts {
  /** Round trip to a peer in ms (unmeasured peers: a guess, e.g. the mean of measured ones). */
  rttMs(peer: string): number
  /** Compute per block when a server has no measurement yet (ms per position; default 1). */
  readonly unknownMsPerBlock?: number
}

/**
 * The cheapest chain of offers covering blocks `[from, to)`, each starting where the last ended, from peers not
 * excluded and with room for `needTokens` positions. Ties go to fewer hops.
 * @returns the hops, or undefined when the offers leave a gap
 */
export function planRoute(offers: readonly SpanOffer[], from: number, to: number, costs: RouteCosts, options: { exclude?: ReadonlySet<string>; needTokens?: number } = {}): RouteHop[] | undefined {
  const usable = offers.filter((o) => o.start >= from && o.end <= to && o.end > o.start && !options.exclude?.has(o.peer) && o.freeTokens >= (options.needTokens ?? 0))
  // Dijkstra over boundaries from..to: few boundaries and offers, so a scan for the nearest unsettled one suffices.
  const best = new Map<number, { cost: number; hops: number; via: SpanOffer | undefined }>([[from, { cost: 0, hops: 0, via: undefined }]])
  const settled = new Set<number>()
  for (;;) {
    let at: number | undefined
    for (const [b, v] of best) if (!settled.has(b) && (at === undefined || v.cost < (best.get(at)?.cost ?? Infinity))) at = b
    if (at === undefined) return undefined
    if (at === to) break
    settled.add(at)
    const here = best.get(at) as { cost: number; hops: number }
    for (const o of usable) {
      if (o.start !== at) continue
      const compute = o.secondsPerToken > 0 ? o.secondsPerToken * 1000 : (o.end - o.start) * (costs.unknownMsPerBlock ?? 1)
      const cost = here.cost + costs.rttMs(o.peer) + compute
      const prev = best.get(o.end)
      if (prev === undefined || cost < prev.cost || (cost === prev.cost && here.hops + 1 < prev.hops)) best.set(o.end, { cost, hops: here.hops + 1, via: o })
    }
  }
  const hops: RouteHop[] = []
  for (let b = to; b !== from; ) {
    const o = best.get(b)?.via as SpanOffer
    hops.unshift({ peer: o.peer, start: o.start, end: o.end })
    b = o.start
  }
  return hops
}

/**
 * Where a new server of `count` blocks raises the swarm's throughput most: the window whose weakest block has the
 * least throughput now (a block's throughput: the sum over the offers covering it of positions per second, an
 * unmeasured offer counting as 1 per second); ties go to the window with the least in all, then the first.
 * @throws RangeError when `count` is not in [1, numLayers]
 */
export function chooseSpan(offers: readonly SpanOffer[], numLayers: number, count: number): [number, number] {
  if (!Number.isInteger(count) || count < 1 || count > numLayers) throw new RangeError(`count must be an integer in [1, ${numLayers}], got ${count}`)
  const throughput = blockThroughput(offers, numLayers)
  let best: { start: number; weakest: number; total: number } | undefined
  for (let start = 0; start + count <= numLayers; start++) {
    const window = throughput.slice(start, start + count)
    const weakest = Math.min(...window)
    const total = window.reduce((a, b) => a + b, 0)
    if (best === undefined || weakest < best.weakest || (weakest === best.weakest && total < best.total)) best = { start, weakest, total }
  }
  const start = (best as { start: number }).start
  return [start, start + count]
}

/** Positions per second each block gets from `offers` (an unmeasured offer counts 1). */
function blockThroughput(offers: readonly SpanOffer[], numLayers: number): number[] {
  const throughput = new Array<number>(numLayers).fill(0)
  for (const o of offers) {
    const perSecond = o.secondsPerToken > 0 ? 1 / o.secondsPerToken : 1
    for (let b = Math.max(0, o.start); b < Math.min(numLayers, o.end); b++) throughput[b] = (throughput[b] as number) + perSecond
  }
  return throughput
}

/**
 * Whether a server should move its span: to where the same number of blocks helps the swarm's weakest block most
 * (the others' offers plus this server's speed there). It moves when that raises the weakest block's throughput by
 * `margin` (default 1.2x, so servers do not chase each other over noise), or leaves it as it is with fewer blocks
 * that weak (an uncovered block covered while another stays uncovered).
 * @param others the offers of every other server
 * @param mine this server's span and its measured seconds per position
 * @returns the span to move to, or undefined to stay
 */
export function rebalancedSpan(others: readonly SpanOffer[], mine: Pick<SpanOffer, 'start' | 'end' | 'secondsPerToken'>, numLayers: number, margin = 1.2): [number, number] | undefined {
  const count = mine.end - mine.start
  const base = blockThroughput(others, numLayers)
  const own = mine.secondsPerToken > 0 ? 1 / mine.secondsPerToken : 1
  const swarmWith = (start: number): { weakest: number; atWeakest: number } => {
    const t = base.map((v, b) => (b >= start && b < start + count ? v + own : v))
    const weakest = Math.min(...t)
    return { weakest, atWeakest: t.filter((v) => v === weakest).length }
  }
  const stay = swarmWith(mine.start)
  const [start] = chooseSpan(others, numLayers, count)
  if (start === mine.start) return undefined
  const moved = swarmWith(start)
  const better = moved.weakest > stay.weakest * margin || (moved.weakest >= stay.weakest && moved.atWeakest < stay.atWeakest)
  return better ? [start, start + count] : undefined
}
