// The SecAgg+ communication graph: a circulant (Harary) graph over a seeded random permutation of the clients, so
// every client has exactly k neighbours and the server can publish the seed for anyone to redraw the same graph.
import { createWordStream, PRG_NONCES } from './prg.js'

const TWO_POW_32 = 2 ** 32
const GRAPH_SEED_BYTES = 32

/**
 * Draws the graph of a round: each client's neighbours as indices into the client list, ascending.
 * With degree = clients - 1 every client neighbours every other (full SecAgg). Otherwise the degree must be even and
 * at most clients - 2: the clients are placed on a ring in the order of a random permutation drawn from the seed
 * (ChaCha20 stream, unbiased Fisher-Yates), and each is joined to the degree / 2 nearest on either side.
 * @param clients number of clients (n).
 * @param degree neighbours per client (k).
 * @param seed 32 bytes, published by the server.
 * @returns neighbours[i] = sorted indices of client i's neighbours; the same (seed, n, k) always gives the same graph.
 * @throws RangeError naming a bad argument.
 */
export function drawSecAggGraph(clients: number, degree: number, seed: Uint8Array): number[][] {
  if (!Number.isInteger(clients) || clients < 2) throw new RangeError(`clients must be an integer >= 2, got ${clients}`)
  if (seed.length !== GRAPH_SEED_BYTES) throw new RangeError(`seed must be ${GRAPH_SEED_BYTES} bytes, got ${seed.length}`)
  if (degree === clients - 1) return completeGraph(clients)
  if (!Number.isInteger(degree) || degree < 2 || degree % 2 !== 0 || degree > clients - 2) {
    throw new RangeError(
      `degree must be ${clients - 1} (complete) or an even integer in [2, ${clients - 2}] for ${clients} clients, got ${degree}`,
    )
  }
  const ring = randomPermutation(clients, seed)
  const positionOf = new Uint32Array(clients)
  ring.forEach((client, position) => {
    positionOf[client] = position
  })
  const reach = degree / 2
  return Array.from({ length: clients }, (_, client) => {
    const position = positionOf[client]!
    const neighbours: number[] = []
    for (let step = 1; step <= reach; step++) {
      neighbours.push(ring[(position + step) % clients]!, ring[(position - step + clients) % clients]!)
    }
    return neighbours.sort((a, b) => a - b)
  })
}

function completeGraph(clients: number): number[][] {
  return Array.from({ length: clients }, (_, client) =>
    Array.from({ length: clients - 1 }, (_, j) => (j < client ? j : j + 1)),
  )
}

/** Fisher-Yates with unbiased draws: a uniform word is rejected when it falls in the incomplete last interval. */
function randomPermutation(length: number, seed: Uint8Array): Uint32Array {
  const nextWord = createWordStream(seed, PRG_NONCES.graph)
  const order = new Uint32Array(length)
  for (let i = 0; i < length; i++) order[i] = i
  for (let i = length - 1; i > 0; i--) {
    const bound = i + 1
    const limit = TWO_POW_32 - (TWO_POW_32 % bound)
    let word = nextWord()
    while (word >= limit) word = nextWord()
    const j = word % bound
    const swap = order[i]!
    order[i] = order[j]!
    order[j] = swap
  }
  return order
}
