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
