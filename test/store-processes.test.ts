// The block store across ten node processes on 127.0.0.1 (issue 16): an artifact put on one node spreads to the nine
// others by CID, and keeps spreading when its only original holder is SIGKILLed mid-way; a peer that sends a wrong
// block is refused and the block comes from elsewhere; a full quota fails a fetch with a message naming it; a killed
// holder's replica is restored. Every node runs `weft node start` (the CLI's entry, as users run it) and is driven
// through its HTTP API or the `weft` CLI. The issue names a 200 MB artifact; on a 2-core CI machine that would take
// minutes (ten idle nodes take ~70% of one core, and one source then serves ~5-6 MiB/s), so the spread
// here is 16 MiB (16 raw leaves of 1 MiB; the file ran 74-104 s there, start-up included) and
// benchmarks/store-spread.mjs does the 200 MB.
import { type ChildProcess, execFile, fork } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { ApiClient } from '@weft/api-client'
import { createNodeApiClient } from '@weft/api-client/node'
import { type LocalNode, startLocalNode, waitUntil } from '@weft/cli'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url))
const CORRUPT_NODE = fileURLToPath(new URL('./fixtures/corrupt-store-node.mjs', import.meta.url))
const run = promisify(execFile)
const MIB = 2 ** 20
const NODES = 10
const SPREAD_BYTES = 16 * MIB
/** The last node's quota: the spread artifact fits, a second large one does not. */
const SMALL_QUOTA = 24 * MIB
const TIMING = ['--no-probe', '--no-dashboard', '--log-level', 'warn']

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** A root's bytes as a node serves them (`GET /v1/store/:cid/content`), hashed. */
async function contentHash(api: ApiClient, cid: string): Promise<string> {
  const { body } = await api.storeContent(cid)
  const hash = createHash('sha256')
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk)
  return hash.digest('hex')
}

/** The corrupt-store fixture node, reporting over IPC. */
interface CorruptNode {
  readonly peerId: string
  readonly api: ApiClient
  readonly corrupted: string[]
  readonly child: ChildProcess
}

/** Forks the lying peer (registered in `children` at once) and resolves once its node is up. */
async function startCorruptNode(dataDir: string, bootstrap: string, children: ChildProcess[]): Promise<CorruptNode> {
  mkdirSync(dataDir, { recursive: true })
  const child = fork(CORRUPT_NODE, ['--data-dir', dataDir, '--bootstrap', bootstrap], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  children.push(child)
  const corrupted: string[] = []
  let stderr = ''
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4000)
  })
  const ready = await new Promise<{ peerId: string }>((resolve, reject) => {
    child.on('message', (msg: { type: string; peerId?: string; cid?: string }) => {
      if (msg.type === 'ready') resolve({ peerId: msg.peerId as string })
      if (msg.type === 'corrupted') corrupted.push(msg.cid as string)
    })
    child.once('exit', (code) => reject(new Error(`the corrupt-store node exited with ${code}:\n${stderr}`)))
  })
  return { peerId: ready.peerId, api: createNodeApiClient({ dataDir }), corrupted, child }
}

describe('the block store across ten node processes', () => {
  let root: string
  const nodes: LocalNode[] = []
  /** Fixture processes (the lying peer), killed in afterAll whatever happened. */
  const children: ChildProcess[] = []
  /** The spread artifact's root, once the first case put it. */
  let spreadCid: string | undefined
  const weft = (node: LocalNode, ...args: string[]) => run(process.execPath, [BIN, ...args, '--data-dir', node.dataDir], { maxBuffer: 16 * MIB })
  /**
   * Puts `bytes` on `node` (announced: served and provided) and returns its root CID. (An upload that meets a
   * kept-alive socket the node had just closed is sent again by the API client: content-addressed, it is idempotent.)
   */
  const put = async (node: LocalNode | CorruptNode, bytes: Uint8Array, name: string, announce = true): Promise<string> =>
    (await node.api.storeAddFile(bytes, { name, announce, size: bytes.byteLength })).cid
  const alive = () => nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null)

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'weft-store-processes-'))
    const configFor = (i: number): string => {
      const dir = join(root, `n${i}`)
      mkdirSync(dir, { recursive: true })
      const store = { replicas: { accept: 'members', repairIntervalMs: 1000 }, ...(i === NODES - 1 ? { maxBytes: SMALL_QUOTA } : {}) }
      writeFileSync(join(dir, 'weft.json'), JSON.stringify({ dataDir: dir, store }))
      return dir
    }
    const start = (i: number, bootstrap: string[]) => {
      const dir = configFor(i)
      return startLocalNode({ startTimeoutMs: 120_000, dataDir: dir, args: [...TIMING, '--config', join(dir, 'weft.json'), ...bootstrap.flatMap((b) => ['--bootstrap', b])] })
    }
    // Each node is kept as soon as it is up (by index: n0 is the source, the last one has the small quota), so that
    // afterAll stops every started one even when another failed to start.
    const keep = (i: number, bootstrap: string[]) => start(i, bootstrap).then((n) => (nodes[i] = n))
    const first = (await keep(0, [])).addrs.find((a) => !a.includes('/ws')) as string
    const second = (await keep(1, [first])).addrs.find((a) => !a.includes('/ws')) as string
    // Two bootstrap peers, so the mesh holds together once the first is killed.
    await Promise.all(Array.from({ length: NODES - 2 }, (_, i) => keep(i + 2, [first, second])))
    await waitUntil(
      async () => (await Promise.all(nodes.map(async (n) => (await n.api.peers('alive')).filter((p) => p.connected).length))).every((c) => c >= NODES - 1),
      120_000,
      'every node connected to the nine others',
      500,
    )
  }, 300_000)

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL')
    await Promise.all(nodes.filter((n) => n !== undefined).map((n) => n.stop(5000)))
    if (root !== undefined) rmSync(root, { recursive: true, force: true })
  }, 60_000)

  it('spreads an artifact to all ten, and every fetch completes when the original holder is SIGKILLed mid-way', async () => {
    const [source, ...fetchers] = nodes as [LocalNode, ...LocalNode[]]
    const bytes = randomBytes(SPREAD_BYTES)
    const cid = await put(source, bytes, 'artifact.bin')
    spreadCid = cid
    // Wave one completes from the source alone and so becomes providers (store.provideFetched, the default).
    const waveOne = fetchers.slice(0, 2)
    const waveTwo = fetchers.slice(2)
    const first = await Promise.all(waveOne.map((n) => n.api.storeFetch(cid)))
    for (const r of first) expect(r).toMatchObject({ ok: true, cid, badBlocks: 0 })
    // Wave two starts; the source is killed at the first block any of it receives.
    let killed: Promise<void> | undefined
    const progressOf = new Map<string, number>()
    let atKill = new Map<string, number>()
    const second = await Promise.all(
      waveTwo.map((n) =>
        n.api.storeFetch(cid, {
          onProgress: (p) => {
            progressOf.set(n.peerId, p.bytes)
            if (killed === undefined && p.bytes > 0) {
              atKill = new Map(progressOf)
              killed = source.kill()
            }
          },
        }),
      ),
    )
    await killed
    expect(source.process.signalCode).toBe('SIGKILL')
    // The kill fell mid-way: wave two fetched most of its bytes after it.
    const afterKill = second.reduce((sum, r, i) => sum + r.bytes - (atKill.get(waveTwo[i]?.peerId ?? '') ?? 0), 0)
    expect(afterKill).toBeGreaterThan(SPREAD_BYTES)
    for (const r of second) {
      expect(r).toMatchObject({ ok: true, cid, badBlocks: 0 })
      // Blocks came from the first wave, not only from the source.
      expect(r.providers.some((p) => p.peer !== source.peerId && p.blocks > 0)).toBe(true)
    }
    const expected = sha256(bytes)
    for (const n of fetchers) {
      const stat = await n.api.storeStat(cid)
      expect(stat).toMatchObject({ cid, kind: 'file', size: SPREAD_BYTES, missing: 0 })
      expect(await contentHash(n.api, cid)).toBe(expected)
    }
  }, 240_000)

  it('refuses a wrong block from a lying peer, records it, and gets that block from another provider', async () => {
    const [honest, fetcher] = alive() as [LocalNode, LocalNode]
    const corrupt = await startCorruptNode(join(root, 'corrupt'), honest.addrs.find((a) => !a.includes('/ws')) as string, children)
    const bytes = randomBytes(8 * MIB)
    const cid = await put(honest, bytes, 'model.bin')
    expect(await put(corrupt, bytes, 'model.bin', false)).toBe(cid)
    await waitUntil(async () => (await fetcher.api.peers('alive')).some((p) => p.peerId === corrupt.peerId && p.connected), 60_000, 'the fetcher to see the lying peer')

    const result = await fetcher.api.storeFetch(cid, { providers: [corrupt.peerId, honest.peerId] })
    expect(corrupt.corrupted.length).toBeGreaterThan(0)
    expect(result).toMatchObject({ ok: true, cid })
    expect(result.badBlocks).toBeGreaterThanOrEqual(1)
    expect(result.dropped).toContainEqual(expect.objectContaining({ peer: corrupt.peerId }))
    expect(result.providers.find((p) => p.peer === honest.peerId)?.blocks).toBeGreaterThan(0)
    expect(await fetcher.api.metrics()).toMatch(/weft_store_bad_blocks_total\{source="peer"\} [1-9]/)
    expect(await contentHash(fetcher.api, cid)).toBe(sha256(bytes))
  }, 120_000)

  it('fails a fetch past the quota with an error naming store.maxBytes, and keeps what was stored', async () => {
    const full = nodes[NODES - 1] as LocalNode
    const [holder] = alive() as [LocalNode]
    expect(spreadCid).toBeDefined()
    const cid = await put(holder, randomBytes(16 * MIB), 'too-big.bin')
    const err = await weft(full, 'store', 'get', cid, '--out', join(root, 'too-big.bin')).then(
      () => undefined,
      (e: Error & { stderr: string; code: number }) => e,
    )
    expect(err?.code).toBe(1)
    expect(err?.stderr).toContain(`the block store is full: its quota store.maxBytes is ${SMALL_QUOTA} bytes`)
    // The artifact it already held is whole.
    expect(await full.api.storeStat(spreadCid as string)).toMatchObject({ missing: 0 })
  }, 120_000)

  it('restores replication factor 3 after a holder is killed', async () => {
    const [origin] = alive() as [LocalNode]
    const cid = await put(origin, randomBytes(2 * MIB), 'replica.bin', false)
    await weft(origin, 'store', 'replicate', cid, '--factor', '3', '--json')
    const holders = async (): Promise<LocalNode[]> => {
      const held = await Promise.all(
        alive().map(async (n) => {
          const stat = await n.api.storeStat(cid).catch(() => undefined)
          return stat?.missing === 0 ? n : undefined
        }),
      )
      return held.filter((n) => n !== undefined)
    }
    await waitUntil(async () => (await holders()).length >= 3, 60_000, 'three copies', 500)
    const victim = (await holders()).find((n) => n !== origin) as LocalNode
    await victim.kill()
    expect((await holders()).length).toBe(2)
    await waitUntil(async () => (await holders()).length >= 3, 60_000, 'the third copy to be restored', 500)
    const status = (await origin.api.storeStat(cid)).replication
    expect(status?.factor).toBe(3)
  }, 180_000)
})
