// Gossip hints for fresh artifacts, as a receiver keeps them: root → the peers that said they hold or are fetching it,
// bounded in roots, in peers per root and in roots per peer, expiring. A hint is a candidate to ask `store/have`, never
// a provider by itself. Knows nothing of libp2p.

/** How a hint book is bounded. */
export interface HintBookInit {
  /** Most roots kept (default 1000); the least recently hinted goes first. */
  readonly maxRoots?: number
  /** Most peers kept per root (default 16); the least recent goes first. */
  readonly maxPeersPerRoot?: number
  /** Most roots one peer's hints may occupy (default 64): a peer flooding hints pushes out only its own. */
  readonly maxRootsPerPeer?: number
  /** How long a hint counts (default 10 min). */
  readonly ttlMs?: number
  /** The clock (default Date.now). */
  now?(): number
}

/** Recent hints: who said it holds (or is fetching) which root. */
export interface HintBook {
  /** Records that `peer` hinted `root` (both already checked: a CID string and the message's signed author). */
  add(root: string, peer: string): void
  /** Peers that hinted `root` and whose hints have not expired, most recent first. */
  peers(root: string): string[]
  /** Roots held now (expired ones included until they are pushed out or asked for). */
  readonly roots: number
}

/** @throws RangeError when a bound is not a positive safe integer */
export function createHintBook(init: HintBookInit = {}): HintBook {
  const maxRoots = bound('maxRoots', init.maxRoots ?? 1000)
  const maxPeersPerRoot = bound('maxPeersPerRoot', init.maxPeersPerRoot ?? 16)
  const maxRootsPerPeer = bound('maxRootsPerPeer', init.maxRootsPerPeer ?? 64)
  const ttlMs = bound('ttlMs', init.ttlMs ?? 10 * 60_000)
  const now = init.now ?? Date.now
  /** root → peer → when it hinted; both maps in order of the last hint (oldest first). */
  const byRoot = new Map<string, Map<string, number>>()
  /** peer → the roots its hints occupy, oldest first. */
  const byPeer = new Map<string, Set<string>>()

  const forget = (root: string, peer: string): void => {
    const peers = byRoot.get(root)
    peers?.delete(peer)
    if (peers?.size === 0) byRoot.delete(root)
    const roots = byPeer.get(peer)
    roots?.delete(root)
    if (roots?.size === 0) byPeer.delete(peer)
  }

  return {
    add(root, peer) {
      const at = now()
      // Re-inserted so the maps stay in order of the last hint.
      forget(root, peer)
      const mine = byPeer.get(peer) ?? new Set<string>()
      while (mine.size >= maxRootsPerPeer) forget(mine.values().next().value as string, peer)
      const peers = byRoot.get(root) ?? new Map<string, number>()
      byRoot.delete(root)
      byRoot.set(root, peers)
      peers.set(peer, at)
      byPeer.set(peer, mine.add(root))
      while (peers.size > maxPeersPerRoot) forget(root, peers.keys().next().value as string)
      while (byRoot.size > maxRoots) {
        const [oldest, holders] = byRoot.entries().next().value as [string, Map<string, number>]
        for (const p of [...holders.keys()]) forget(oldest, p)
      }
    },
    peers(root) {
      const peers = byRoot.get(root)
      if (peers === undefined) return []
      const fresh: string[] = []
      for (const [peer, at] of peers) {
        if (now() - at > ttlMs) forget(root, peer)
        else fresh.push(peer)
      }
      return fresh.reverse()
    },
    get roots() {
      return byRoot.size
    },
  }
}

function bound(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive safe integer, got ${value}`)
  return value
}
