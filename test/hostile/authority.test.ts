// Hostile peers against a mesh with an authority (issue 15, deliverable 1 "roles and membership", and deliverable 4's
// ads of uncertified identities): a peer without a certificate, one whose certificate another key signed, one certified
// only as a client, one whose certificate expired, and one the authority revoked, each trying to invite clients,
// submit jobs or read their status. Real in-process nodes over the real protocols.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApiClient } from '@weft/api-client'
import { type JobSpec, parseJobSpec } from '@weft/fl'
import { meshCoordinatorTransport } from '@weft/fl-mesh'
import { authorityPublicKey, formatAuthorityKey, generateAuthorityKey, issueCertificate, type Role, signRevocation } from '@weft/mesh'
import { nodePeerId } from '@weft/node'
import { FL_STATUS, FL_SUBMIT, WireErrorCode } from '@weft/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeSynthCsv } from '../../packages/node/test/fixtures.js'
import { removeTestDirs, startTestNode, type TestNode, until } from '../../packages/node/test/helpers.js'

const key = generateAuthorityKey()
const publicKey = formatAuthorityKey(authorityPublicKey(key))
const nodes: TestNode[] = []

interface MemberInit {
  /** Roles of its certificate; none: it has no certificate. */
  readonly roles?: readonly Role[]
  /** The key that signs its certificate (default: the mesh's authority). */
  readonly signer?: Uint8Array
  /** The authority the node itself is configured with (default: the mesh's). */
  readonly authority?: string
  readonly expiresAtMs?: number
  readonly data?: boolean
  readonly fl?: Record<string, unknown>
  readonly dataDir?: string
}

/** Starts a node of the mesh: its identity is made first, so that the authority can certify it before it starts. */
async function member(init: MemberInit = {}): Promise<TestNode> {
  const dataDir = init.dataDir ?? mkdtempSync(join(tmpdir(), 'weft-member-'))
  const peerId = await nodePeerId(dataDir)
  const now = Date.now()
  if (init.roles !== undefined && init.dataDir === undefined) {
    const cert = issueCertificate({ authorityKey: init.signer ?? key, peerId, roles: init.roles, issuedAtMs: now - 1000, expiresAtMs: init.expiresAtMs ?? now + 3_600_000 })
    writeFileSync(join(dataDir, 'member.cert'), cert)
  }
  const csv = join(dataDir, 'd.csv')
  if (init.data === true) writeSynthCsv(csv, 200, nodes.length + 1)
  const first = nodes[0]
  const n = await startTestNode({
    dataDir,
    bootstrap: first === undefined ? [] : [first.addrs[0] as string],
    authority: { publicKey: init.authority ?? publicKey },
    // Allow-lists grant nothing here: every role comes from a certificate.
    fl: { coordinators: [], submitters: [], ...init.fl } as never,
    ...(init.data === true ? { datasets: [{ name: 'd', source: csv, label: 'label' } as never] } : {}),
  })
  nodes.push(n)
  return n
}

const spec = (dataset = 'd'): JobSpec =>
  parseJobSpec({
    model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
    dataset,
    rounds: 1,
    clients: { min: 2 },
    train: { epochs: 1, batchSize: 8 },
    timeouts: { roundSeconds: 60, waitSeconds: 30 },
  })

/** `from` invites `to` to a job directly, as a coordinator would: the client's answer. */
async function invite(from: TestNode, to: TestNode, jobSpec = spec(), jobId = `job-${Math.random().toString(36).slice(2)}`) {
  const transport = meshCoordinatorTransport({ mesh: from.mesh, candidates: () => [to.peerId], jobSpec: () => jobSpec })
  return transport.invite(to.peerId, jobId, jobSpec, AbortSignal.timeout(15_000))
}

/**
 * Invites until the client's answer matches `expected`, and returns it: on a loaded machine a call can fail in transport
 * (a dial timing out) before the client answers, and a role can be learned a moment after the connection opens.
 */
async function answer(from: TestNode, to: TestNode, expected: RegExp, jobSpec = spec('nothing-here')): Promise<string> {
  let reason = ''
  await until(
    async () => {
      const r = await invite(from, to, jobSpec)
      reason = r.ok ? 'accepted' : r.reason
      return expected.test(reason)
    },
    60_000,
    `an answer matching ${expected}`,
  ).catch((err: Error) => {
    // The last answer, read when the wait gave up (the message above is made before the first try).
    throw new Error(`${err.message}; the last answer was: ${reason || '(none)'}`)
  })
  return reason
}

/** Connects `from` to `to`, again while a dial fails on a loaded machine. */
async function connect(from: TestNode, to: TestNode): Promise<void> {
  await until(
    async () => {
      try {
        await from.mesh.dial(to.addrs[0] as string)
        return true
      } catch {
        return false
      }
    },
    60_000,
    `${from.peerId} to connect to ${to.peerId}`,
  )
}

const submit = (from: TestNode, to: TestNode) => from.mesh.rpc.call(to.peerId, FL_SUBMIT, { specJson: JSON.stringify(spec()) }, { timeoutMs: 15_000 })
const status = (from: TestNode, to: TestNode, jobId: string) => from.mesh.rpc.call(to.peerId, FL_STATUS, { jobId }, { timeoutMs: 15_000 })

let coordinator: TestNode
let clientA: TestNode
let clientB: TestNode

beforeAll(async () => {
  coordinator = await member({ roles: ['coordinator'], fl: { participate: false } })
  clientA = await member({ roles: ['client'], data: true })
  clientB = await member({ roles: ['client'], data: true })
  await until(() => coordinator.peers.list().filter((p) => p.status === 'alive' && p.ad.datasets.length > 0).length === 2, 90_000, 'two certified clients')
}, 180_000)

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  removeTestDirs()
})

describe('issue 15, deliverable 1: roles and membership under a mesh authority', { timeout: 180_000 }, () => {
  it('refuses to start with a certificate that is not its own: another peer’s, or another authority’s', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'weft-member-'))
    await nodePeerId(dataDir)
    const now = Date.now()
    writeFileSync(join(dataDir, 'member.cert'), issueCertificate({ authorityKey: key, peerId: clientA.peerId, roles: ['admin'], issuedAtMs: now, expiresAtMs: now + 60_000 }))
    const config = { dataDir, authority: { publicKey }, fl: { coordinators: [], submitters: [] } as never }
    await expect(startTestNode(config)).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/is not valid \(wrong-peer: certificate of /) })
    const other = generateAuthorityKey()
    writeFileSync(join(dataDir, 'member.cert'), issueCertificate({ authorityKey: other, peerId: await nodePeerId(dataDir), roles: ['admin'], issuedAtMs: now, expiresAtMs: now + 60_000 }))
    await expect(startTestNode(config)).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/is not valid \(wrong-authority/) })
  })

  it('runs honest work: certified clients train a job of a certified coordinator to the end', async () => {
    const view = coordinator.fl.submit(spec())
    await until(() => coordinator.fl.coordinator.isRunning(view.id) === false, 150_000, 'the job to finish')
    const done = await coordinator.fl.view(view.id)
    expect(done?.status, done?.error).toBe('finished')
    expect(done?.history[0]?.delivered?.slice().sort()).toEqual([clientA.peerId, clientB.peerId].sort())
  })

  it('refuses a peer without a certificate: it may not invite a client, submit a job or read a status', async () => {
    const stranger = await member()
    await connect(stranger, clientA)
    await connect(stranger, coordinator)
    const invited = await answer(stranger, clientA, /certificate|accepted|data set/, spec())
    expect(invited).toMatch(new RegExp(`${stranger.peerId} has no valid certificate of the mesh's authority \\(role coordinator needed\\)`))
    expect(clientA.fl.clientJobs().map((j) => j.coordinator)).not.toContain(stranger.peerId)
    const submitted = submit(stranger, coordinator)
    await expect(submitted).rejects.toMatchObject({ code: WireErrorCode.UNAUTHORIZED })
    await expect(submitted).rejects.toThrow(/has no valid certificate/)
    const job = coordinator.fl.list()[0]?.id as string
    await expect(status(stranger, coordinator, job)).rejects.toMatchObject({ code: WireErrorCode.UNAUTHORIZED })
  })

  it('refuses a forged certificate (signed by another key) and keeps the forger out of its peer table (deliverable 4)', async () => {
    const otherKey = generateAuthorityKey()
    const forger = await member({ roles: ['coordinator', 'submitter', 'admin'], signer: otherKey, authority: formatAuthorityKey(authorityPublicKey(otherKey)) })
    await connect(forger, clientA)
    await connect(forger, coordinator)
    expect(await answer(forger, clientA, /certificate|accepted|data set/, spec())).toMatch(/has no valid certificate/)
    await expect(submit(forger, coordinator)).rejects.toMatchObject({ code: WireErrorCode.UNAUTHORIZED })
    // A certified node that starts after the forger is in the table; the forger, connected and advertising, is not.
    const late = await member({ roles: ['client'] })
    await until(() => coordinator.peers.get(late.peerId)?.status === 'alive', 60_000, 'the certified late node in the table')
    await until(async () => /outcome="uncertified"} [1-9]/.test(await coordinator.metrics.registry.getSingleMetricAsString('weft_ads_received_total')), 30_000, 'an uncertified ad dropped')
    expect(coordinator.peers.get(forger.peerId)).toBeUndefined()
    expect(clientA.peers.get(forger.peerId)).toBeUndefined()
    expect(coordinator.mesh.connections().some((c) => c.peer === forger.peerId)).toBe(true)
  })

  it('refuses a peer certified only as a client when it acts as a coordinator or a submitter', async () => {
    const client = await member({ roles: ['client'] })
    await connect(client, clientA)
    await connect(client, coordinator)
    // The role is checked against a certificate the client learned (ad or on connect): ask until it knows it.
    const reason = await answer(client, clientA, /grants client, not coordinator/, spec())
    expect(reason).toBe(`${client.peerId}'s certificate grants client, not coordinator`)
    await expect(submit(client, coordinator)).rejects.toThrow(`${client.peerId}'s certificate grants client, not submitter`)
  })

  it('refuses a certificate once it expired', async () => {
    const expiresAtMs = Date.now() + 25_000
    const shortLived = await member({ roles: ['coordinator'], expiresAtMs })
    await connect(shortLived, clientA)
    // While valid, the role check passes (the invitation fails later, on the data set the job names).
    await answer(shortLived, clientA, /no local data set named "nothing-here"/)
    expect(Date.now()).toBeLessThan(expiresAtMs)
    await until(() => Date.now() > expiresAtMs, 30_000, 'the certificate to expire')
    expect(await answer(shortLived, clientA, /certificate|no local data set/)).toMatch(/has no valid certificate/)
  })

  it('gossips a revocation posted to one node to another, which then refuses the revoked peer, also after a restart and on a node that joins later', async () => {
    // Before: clientB's answer to the coordinator is about the job (it holds no such data set), not about its role.
    await answer(coordinator, clientB, /no local data set/)
    const revocation = signRevocation({ authorityKey: key, target: { peerId: coordinator.peerId }, revokedAtMs: Date.now(), reason: 'test' })
    const api = createApiClient({ url: clientA.apiUrl })
    const apiB = createApiClient({ url: clientB.apiUrl })
    // Posted to clientA, which gossips it (posted again while the gossip mesh forms: a repeat is kept once).
    await until(
      async () => {
        const posted = await api.postRevocation(revocation)
        expect(posted.revocation.target).toEqual({ peerId: coordinator.peerId })
        return (await apiB.membership()).revocations.length === 1
      },
      60_000,
      'the revocation to reach clientB',
    )
    expect((await apiB.membership()).revocations).toEqual([{ target: { peerId: coordinator.peerId }, revokedAt: expect.any(Number), reason: 'test' }])
    expect(await answer(coordinator, clientB, /certificate|no local data set/)).toMatch(new RegExp(`${coordinator.peerId} has no valid certificate`))

    // A forged revocation is refused at the API (and would be by the topic's validator).
    const forged = signRevocation({ authorityKey: generateAuthorityKey(), target: { peerId: clientA.peerId }, revokedAtMs: Date.now() })
    await expect(api.postRevocation(forged)).rejects.toMatchObject({ status: 400 })

    // A node that starts after the gossip learns the revocation from the peers it connects to.
    const newcomer = await member({ roles: ['client'] })
    await until(async () => (await createApiClient({ url: newcomer.apiUrl }).membership()).revocations.length === 1, 60_000, 'the newcomer to learn the revocation')
    expect(await answer(coordinator, newcomer, /certificate|no local data set/)).toMatch(new RegExp(`${coordinator.peerId} has no valid certificate`))

    // clientB restarts: the revocation was stored, and the coordinator stays refused.
    const dataDir = clientB.config.dataDir
    await clientB.stop()
    nodes.splice(nodes.indexOf(clientB), 1)
    const restarted = await member({ dataDir, data: false })
    expect((await createApiClient({ url: restarted.apiUrl }).membership()).revocations).toHaveLength(1)
    // The restarted node bootstraps to the coordinator, which asks it again: refused from the stored revocation.
    expect(await answer(coordinator, restarted, /certificate|no local data set/)).toMatch(new RegExp(`${coordinator.peerId} has no valid certificate`))
  })
})
