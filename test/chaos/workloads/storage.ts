// The storage workload: artifacts of seeded random bytes written to the coordinator node while faults last, pinned,
// announced and given a replication target; every node keeps replicas for members and repairs its targets.
import { createHash } from 'node:crypto'
import { deriveSeed, mulberry32 } from '@weft/runtime'
import type { Cluster } from '../cluster.js'
import { at, sleep, type Workload, type WorkloadContext } from './context.js'

interface StorageSpec {
  readonly fileKiB: number
  readonly factor: number
  readonly everySeconds: number
}

export function storageWorkload(spec: StorageSpec): Workload {
  // Every node keeps replicas for members and checks its targets every second.
  const store = { store: { replicas: { accept: 'members', repairIntervalMs: 1000 } } }
  return {
    nodeConfig: (name) => (name === 'coordinator' ? { fl: { participate: false }, ...store } : store),
    ready: () => true,
    run: (ctx, faultsDone) => writeAndCheck(ctx, spec, faultsDone),
  }
}

/**
 * Artifacts written to the coordinator node while faults last: seeded random bytes, added pinned and announced, then
 * given a replication target; acknowledged (into the history) once both answered. Once faults are over, each
 * acknowledged artifact's holders are polled until every one has its factor or the liveness bound passes, then its
 * bytes are read back from a holder and hashed.
 */
async function writeAndCheck(ctx: WorkloadContext, spec: StorageSpec, faultsDone: Promise<void>): Promise<Record<string, number>> {
  const { s, history, log, cluster } = ctx
  const prng = mulberry32(deriveSeed(s.seed, 0x5707e))
  const acked = new Map<string, { sha256: string; bytes: number }>()
  let tried = 0
  while (!ctx.faultsOver()) {
    const bytes = new Uint8Array(spec.fileKiB * 1024)
    const words = new DataView(bytes.buffer)
    for (let i = 0; i < bytes.length; i += 4) words.setUint32(i, Math.floor(prng.next() * 2 ** 32), true)
    tried++
    try {
      const api = cluster.api('coordinator')
      const { cid } = await api.storeAddFile(bytes, { name: `chaos-${tried}.bin`, pin: true, announce: true, size: bytes.byteLength })
      await api.storeReplicate(cid, { factor: spec.factor })
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      acked.set(cid, { sha256, bytes: bytes.byteLength })
      history.add({ at: history.now(), kind: 'store-ack', cid, bytes: bytes.byteLength, sha256, factor: spec.factor })
    } catch (err) {
      // Not acknowledged: nothing is promised for it.
      log(`${at(ctx)}: write ${tried} not acknowledged: ${(err as Error).message}`)
    }
    await sleep(spec.everySeconds * 1000)
  }
  await faultsDone
  log(`${at(ctx)}: ${acked.size} of ${tried} writes acknowledged; waiting for ${spec.factor} holders of each`)

  // Holders: the nodes whose store has the artifact's whole DAG.
  const holdersOf = async (cid: string): Promise<string[]> => {
    const held = await Promise.all(ctx.nodes.map(async (name) => ((await cluster.api(name).storeStat(cid).catch(() => undefined))?.missing === 0 ? name : undefined)))
    return held.filter((n): n is string => n !== undefined)
  }
  const deadline = Date.now() + s.livenessSeconds * 1000
  const pending = new Set(acked.keys())
  const last = new Map<string, string[]>()
  for (;;) {
    for (const cid of pending) {
      const holders = await holdersOf(cid)
      last.set(cid, holders)
      if (holders.length >= spec.factor) {
        pending.delete(cid)
        history.add({ at: history.now(), kind: 'final-artifact', cid, holders, ...(await readBack(cluster, cid, holders, acked.get(cid)?.sha256 as string)) })
      }
    }
    if (pending.size === 0 || Date.now() > deadline) break
    await sleep(1_000)
  }
  for (const cid of pending) {
    const holders = last.get(cid) ?? []
    history.add({ at: history.now(), kind: 'final-artifact', cid, holders, ...(await readBack(cluster, cid, holders, acked.get(cid)?.sha256 as string)) })
  }
  return { writes: tried, acknowledged: acked.size }
}

/** An artifact's bytes read back from its first holder, hashed against what was written. */
async function readBack(cluster: Cluster, cid: string, holders: readonly string[], sha256: string): Promise<{ content: 'ok' | 'mismatch' | 'unreadable'; detail?: string }> {
  const from = holders[0]
  if (from === undefined) return { content: 'unreadable', detail: 'no holder' }
  try {
    const { body } = await cluster.api(from).storeContent(cid)
    const hash = createHash('sha256')
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk)
    const got = hash.digest('hex')
    return got === sha256 ? { content: 'ok' } : { content: 'mismatch', detail: `sha-256 ${got}, written ${sha256}` }
  } catch (err) {
    return { content: 'unreadable', detail: (err as Error).message }
  }
}
