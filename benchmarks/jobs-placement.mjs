// Job placement (@weft/jobs): how fast, how tight and how cheap it places, measured in one run against baselines.
//   1) decisions per second on --nodes simulated nodes (varied capacities, site/tier labels, prices; seeded), against
//      a best-fit scan of the same nodes on capacity alone (no constraints, labels or prices): the floor of one pass;
//   2) utilisation on a recorded job mix (benchmarks/data/job-mix.json, written once from a seed; --regen rewrites it)
//      placed in order with binpack and with spread on a fixed set of equal nodes: nodes used against the lower bound
//      ⌈Σ demand / node capacity⌉ per dimension (cores, memory), and the utilisation of the nodes used;
//   3) cost-aware (strategy cost) against cost-blind (binpack) placement of the same mix at equal deadlines on a fixed
//      set of unequal nodes (speed 0.5..4, prices rising faster than speed): total estimated cost and deadline misses.
// Usage: npx tsc -b packages/jobs, then
//   node benchmarks/jobs-placement.mjs [--nodes 1000] [--seconds 2] [--regen] [--json]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parseJobSpec, place } from '@weft/jobs'

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '2' },
    regen: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
})
const GIB = 2 ** 30
const MIX_SEED = 20_261_206
const MIX_FILE = join(dirname(fileURLToPath(import.meta.url)), 'data', 'job-mix.json')
const SITES = Array.from({ length: 8 }, (_, i) => `site-${i}`)
const say = args.json ? () => {} : (line) => console.log(line)

/** mulberry32: a small seeded PRNG, so every run sees the same nodes and requests. */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const pick = (rand, xs) => xs[Math.floor(rand() * xs.length)]
const between = (rand, lo, hi) => lo + rand() * (hi - lo)

function node(peerId, over) {
  return {
    peerId,
    cores: 8,
    memoryBytes: 32 * GIB,
    accelerators: 0,
    acceleratorKinds: [],
    engines: ['tfjs', 'torch'],
    datasets: [],
    labels: {},
    reserved: { cores: 0, memoryBytes: 0, accelerators: 0 },
    pricing: { coreHour: 0.05, gibHour: 0.005, acceleratorHour: 0 },
    speed: 1,
    ...over,
  }
}

/** A varied fleet: 2..64 cores, 2..8 GiB per core, a tenth with GPUs, part reserved, ten sites, three tiers. */
function simulatedFleet(n, seed) {
  const rand = prng(seed)
  return Array.from({ length: n }, (_, i) => {
    const cores = pick(rand, [2, 4, 8, 16, 32, 64])
    const memoryBytes = cores * pick(rand, [2, 4, 8]) * GIB
    const accelerators = rand() < 0.1 ? pick(rand, [1, 2, 4, 8]) : 0
    const speed = pick(rand, [0.5, 1, 1.5, 2, 3])
    return node(`12D3KooW${String(i).padStart(5, '0')}`, {
      cores,
      memoryBytes,
      accelerators,
      acceleratorKinds: accelerators > 0 ? ['cuda'] : [],
      engines: rand() < 0.5 ? ['tfjs', 'torch'] : ['tfjs'],
      labels: { site: `site-${Math.floor(rand() * 10)}`, tier: accelerators > 0 ? 'gpu' : pick(rand, ['cpu', 'cpu', 'edge']) },
      reserved: { cores: Math.floor(cores * rand() * 0.5), memoryBytes: Math.floor(memoryBytes * rand() * 0.5), accelerators: 0 },
      pricing: { coreHour: 0.02 * speed * between(rand, 0.7, 1.3), gibHour: between(rand, 0.002, 0.01), acceleratorHour: between(rand, 1, 3) },
      speed,
    })
  })
}

/** Requests like a scheduler's: 1..8 cores, some pinned to sites or a tier, some spread, some wanting torch. */
function simulatedRequests(n, seed) {
  const rand = prng(seed)
  return Array.from({ length: n }, (_, i) => {
    const cores = pick(rand, [1, 1, 2, 4, 8])
    const u = rand()
    const constraints = {
      labels: {},
      ...(u < 0.2 ? { sites: [pick(rand, SITES), pick(rand, SITES)] } : {}),
      ...(u >= 0.2 && u < 0.4 ? { tier: pick(rand, ['cpu', 'edge']) } : {}),
      ...(u >= 0.4 && u < 0.6 ? { spread: { key: 'site', maxPerValue: 1 } } : {}),
      ...(rand() < 0.2 ? { affinity: [{ key: 'tier', value: 'cpu' }] } : {}),
    }
    const replicas = 1 + Math.floor(rand() * 4)
    return {
      jobId: `job-${i}`,
      resources: { cores, memoryBytes: cores * pick(rand, [1, 2, 4]) * GIB, accelerators: 0, ...(rand() < 0.3 ? { engine: 'torch' } : {}) },
      constraints,
      strategy: pick(rand, ['binpack', 'spread', 'cost']),
      placements: Array.from({ length: replicas }, (_, r) => `r${r}`),
      estimatedCoreSeconds: 3600,
      deadlineSeconds: 7200,
    }
  })
}

/**
 * The floor: for each replica, a best-fit scan of every node on cores and memory alone (no constraints, no labels,
 * no prices), deducting as it goes: the least work a placement that looks at every node can do.
 */
function bestFitScan(request, nodes) {
  const r = request.resources
  const usedCores = new Float64Array(nodes.length)
  const usedMemory = new Float64Array(nodes.length)
  const out = []
  for (const placement of request.placements) {
    let best = -1
    let bestLeft = Number.POSITIVE_INFINITY
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i]
      const cores = n.cores - n.reserved.cores - usedCores[i] - r.cores
      const memory = n.memoryBytes - n.reserved.memoryBytes - usedMemory[i] - r.memoryBytes
      if (cores < 0 || memory < 0) continue
      const left = cores / n.cores + memory / n.memoryBytes
      if (left < bestLeft) {
        best = i
        bestLeft = left
      }
    }
    if (best < 0) return undefined
    usedCores[best] += r.cores
    usedMemory[best] += r.memoryBytes
    out.push({ placement, peerId: nodes[best].peerId })
  }
  return out
}

/** Runs `fn` over the requests in turn for about `seconds`; decisions per second and replicas per second. */
function rate(requests, fn, seconds) {
  let decisions = 0
  let replicas = 0
  let ok = 0
  const t0 = performance.now()
  let elapsed = 0
  while (elapsed < seconds * 1000) {
    for (let i = 0; i < 50; i++) {
      const q = requests[decisions % requests.length]
      if (fn(q)) ok++
      decisions++
      replicas += q.placements.length
    }
    elapsed = performance.now() - t0
  }
  return { perSecond: (decisions / elapsed) * 1000, replicasPerSecond: (replicas / elapsed) * 1000, placedShare: ok / decisions }
}

/** The job mix as users would write it (kind, resources, constraints, replicas, deadline, estimate). */
function generateMix(seed) {
  const rand = prng(seed)
  const jobs = []
  for (let i = 0; i < 300; i++) {
    const kind = pick(rand, ['batch', 'batch', 'fl', 'serve'])
    const cores = pick(rand, [1, 1, 2, 2, 4, 4, 8, 16])
    const memoryGib = cores * pick(rand, [1, 2, 4, 8])
    const replicas = 1 + Math.floor(rand() * 6)
    const u = rand()
    const constraints =
      u < 0.25
        ? { spread: { key: 'site', max: Math.max(1, Math.ceil(replicas / 4)) } }
        : u < 0.4
          ? { sites: [...new Set([pick(rand, SITES.slice(0, 4)), pick(rand, SITES.slice(4)), pick(rand, SITES)])] }
          : {}
    const estimate = Math.round(between(rand, 600, 36_000))
    // The time one replica takes on its cores at speed 1, times 0.6..3: nodes slower than 1/that miss the deadline.
    const deadline = Math.round((estimate / cores) * between(rand, 0.6, 3))
    const body = kind === 'batch' ? { batch: { task: 'evaluate', shards: replicas * 4 } } : { [kind]: {} }
    jobs.push({ kind, name: `${kind}-${i}`, resources: { cores, memory: `${memoryGib}GiB` }, constraints, replicas, deadline: `${deadline}s`, estimate, ...body })
  }
  return { seed, note: 'generated by benchmarks/jobs-placement.mjs --regen; placed in order', jobs }
}

function loadMix() {
  if (args.regen || !existsSync(MIX_FILE)) {
    mkdirSync(dirname(MIX_FILE), { recursive: true })
    writeFileSync(MIX_FILE, `${JSON.stringify(generateMix(MIX_SEED), null, 1)}\n`)
  }
  return JSON.parse(readFileSync(MIX_FILE, 'utf8')).jobs.map((j) => parseJobSpec(j))
}

/** Places the mix in order, reserving what each job takes on a copy of the nodes. */
function placeMix(jobs, template, strategy) {
  const nodes = template.map((n) => ({ ...n, reserved: { ...n.reserved } }))
  const byPeer = new Map(nodes.map((n) => [n.peerId, n]))
  const counts = new Map()
  let refused = 0
  let cost = 0
  let misses = 0
  let replicas = 0
  for (const [i, job] of jobs.entries()) {
    const r = place(
      {
        jobId: `j${i}`,
        resources: job.resources,
        constraints: job.constraints,
        strategy,
        placements: Array.from({ length: job.replicas }, (_, k) => `r${k}`),
        ...(job.deadlineSeconds === undefined ? {} : { deadlineSeconds: job.deadlineSeconds }),
        ...(job.estimatedCoreSeconds === undefined ? {} : { estimatedCoreSeconds: job.estimatedCoreSeconds }),
      },
      nodes,
    )
    if (!r.ok) {
      refused++
      continue
    }
    cost += r.estimatedCost ?? 0
    for (const a of r.assignments) {
      const n = byPeer.get(a.peerId)
      n.reserved = {
        cores: n.reserved.cores + job.resources.cores,
        memoryBytes: n.reserved.memoryBytes + job.resources.memoryBytes,
        accelerators: n.reserved.accelerators + job.resources.accelerators,
      }
      counts.set(a.peerId, (counts.get(a.peerId) ?? 0) + 1)
      replicas++
      if (job.deadlineSeconds !== undefined && (a.estimatedSeconds ?? 0) > job.deadlineSeconds) misses++
    }
  }
  const used = nodes.filter((n) => counts.has(n.peerId))
  const sum = (xs, f) => xs.reduce((s, x) => s + f(x), 0)
  return {
    refused,
    replicas,
    nodesUsed: used.length,
    coreUtilisation: sum(used, (n) => n.reserved.cores) / sum(used, (n) => n.cores),
    memoryUtilisation: sum(used, (n) => n.reserved.memoryBytes) / sum(used, (n) => n.memoryBytes),
    cost,
    misses,
  }
}

const pct = (x) => `${(x * 100).toFixed(1)}%`
const pad = (s, n) => String(s).padEnd(n)
const padL = (s, n) => String(s).padStart(n)

// 1) Decisions per second.
const nodeCount = Number(args.nodes)
const seconds = Number(args.seconds)
if (!Number.isInteger(nodeCount) || nodeCount < 1 || !(seconds > 0)) throw new RangeError('--nodes must be an integer ≥ 1 and --seconds > 0')
const fleet = simulatedFleet(nodeCount, 1)
const requests = simulatedRequests(500, 2)
say(`jobs-placement ${new Date().toISOString()}: ${nodeCount} nodes, ${requests.length} requests (1..4 replicas), ${seconds} s per measurement`)
rate(requests, (q) => place(q, fleet).ok, Math.min(0.3, seconds))
const placing = rate(requests, (q) => place(q, fleet).ok, seconds)
const scanning = rate(requests, (q) => bestFitScan(q, fleet) !== undefined, seconds)
say('')
say(`1) placement decisions on ${nodeCount} nodes`)
say(`   ${pad('', 40)}${padL('decisions/s', 12)}${padL('replicas/s', 12)}${padL('µs/decision', 13)}${padL('placed', 8)}`)
for (const [name, x] of [
  ['place() (constraints, scoring)', placing],
  ['best-fit scan, capacity only (floor)', scanning],
]) {
  say(`   ${pad(name, 40)}${padL(Math.round(x.perSecond), 12)}${padL(Math.round(x.replicasPerSecond), 12)}${padL((1e6 / x.perSecond).toFixed(1), 13)}${padL(pct(x.placedShare), 8)}`)
}
say(`   place() takes ${(scanning.perSecond / placing.perSecond).toFixed(2)}× the capacity-only scan's time per decision`)

// 2) Utilisation on the recorded mix, equal nodes.
const jobs = loadMix()
const NODE_CORES = 32
const NODE_MEMORY = 128 * GIB
const equal = Array.from({ length: 250 }, (_, i) =>
  node(`eq-${String(i).padStart(4, '0')}`, { cores: NODE_CORES, memoryBytes: NODE_MEMORY, labels: { site: SITES[i % SITES.length], tier: 'cpu' } }),
)
const demandCores = jobs.reduce((s, j) => s + j.replicas * j.resources.cores, 0)
const demandMemory = jobs.reduce((s, j) => s + j.replicas * j.resources.memoryBytes, 0)
const lowerBound = Math.max(Math.ceil(demandCores / NODE_CORES), Math.ceil(demandMemory / NODE_MEMORY))
const binpack = placeMix(jobs, equal, 'binpack')
const spread = placeMix(jobs, equal, 'spread')
say('')
say(`2) utilisation: ${jobs.length} jobs, ${jobs.reduce((s, j) => s + j.replicas, 0)} replicas from ${MIX_FILE.replace(/.*benchmarks/, 'benchmarks')}`)
say(`   on ${equal.length} nodes of ${NODE_CORES} cores / ${NODE_MEMORY / GIB} GiB; demand ${demandCores} cores, ${(demandMemory / GIB).toFixed(0)} GiB`)
say(
  `   lower bound: max(⌈${demandCores}/${NODE_CORES}⌉, ⌈${(demandMemory / GIB).toFixed(0)}/${NODE_MEMORY / GIB}⌉) = max(${Math.ceil(demandCores / NODE_CORES)}, ${Math.ceil(demandMemory / NODE_MEMORY)}) = ${lowerBound} nodes`,
)
say(`   ${pad('strategy', 10)}${padL('nodes used', 12)}${padL('/ bound', 9)}${padL('core util', 11)}${padL('mem util', 10)}${padL('refused', 9)}`)
for (const [name, x] of [
  ['binpack', binpack],
  ['spread', spread],
]) {
  say(`   ${pad(name, 10)}${padL(x.nodesUsed, 12)}${padL(`${(x.nodesUsed / lowerBound).toFixed(2)}×`, 9)}${padL(pct(x.coreUtilisation), 11)}${padL(pct(x.memoryUtilisation), 10)}${padL(x.refused, 9)}`)
}

// 3) Cost-aware against cost-blind, equal deadlines, unequal nodes.
const unequalRand = prng(3)
const unequal = Array.from({ length: 250 }, (_, i) => {
  const speed = pick(unequalRand, [0.5, 1, 2, 4])
  const cores = pick(unequalRand, [8, 16, 32, 64])
  return node(`un-${String(i).padStart(4, '0')}`, {
    cores,
    memoryBytes: cores * 4 * GIB,
    speed,
    labels: { site: SITES[i % SITES.length], tier: 'cpu' },
    // Faster nodes cost more per core-hour than they save in time (speed^1.3): the cheapest work is on the slowest nodes.
    pricing: { coreHour: 0.02 * speed ** 1.3 * between(unequalRand, 0.7, 1.3), gibHour: 0.003 * between(unequalRand, 0.7, 1.3), acceleratorHour: 0 },
  })
})
const blind = placeMix(jobs, unequal, 'binpack')
const aware = placeMix(jobs, unequal, 'cost')
say('')
say(`3) cost-aware against cost-blind on ${unequal.length} nodes of speed 0.5..4, same mix, same deadlines`)
say(`   ${pad('strategy', 18)}${padL('est. cost', 11)}${padL('deadline misses', 17)}${padL('replicas', 10)}${padL('refused jobs', 14)}`)
for (const [name, x] of [
  ['binpack (blind)', blind],
  ['cost (aware)', aware],
]) {
  say(`   ${pad(name, 18)}${padL(x.cost.toFixed(2), 11)}${padL(`${x.misses} (${pct(x.misses / Math.max(1, x.replicas))})`, 17)}${padL(x.replicas, 10)}${padL(x.refused, 14)}`)
}
say(`   cost-aware costs ${(aware.cost / blind.cost).toFixed(2)}× the blind placement's estimate`)

console.log(
  JSON.stringify({
    benchmark: 'jobs-placement',
    nodes: nodeCount,
    decisionsPerSecond: Math.round(placing.perSecond),
    floorDecisionsPerSecond: Math.round(scanning.perSecond),
    placeOverFloorTime: scanning.perSecond / placing.perSecond,
    mix: { jobs: jobs.length, lowerBound, binpack, spread },
    cost: { blind, aware, ratio: aware.cost / blind.cost },
  }),
)
