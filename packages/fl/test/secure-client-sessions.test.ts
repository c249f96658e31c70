// A client's secure-aggregation sessions against a hostile coordinator (issue 15, finding 5): the cohort a setup
// names must reach the minimum of the job the client holds.
import { parseJobSpec, SecureClientSessions, secureCohortMinimum } from '@weft/fl'
import { createEd25519Directory, MessageRejectedError, planSecAgg, SecAggServer } from '@weft/secagg'
import { describe, expect, it } from 'vitest'

const spec = parseJobSpec({
  model: { architecture: 'logreg', inputShape: [4], numClasses: 2 },
  dataset: 'd',
  rounds: 1,
  clients: { min: 3 },
  privacy: { secureAggregation: { clip: 1 } },
})

function refusal(action: () => unknown): MessageRejectedError {
  try {
    action()
  } catch (error) {
    if (error instanceof MessageRejectedError) return error
    throw error
  }
  throw new Error('expected a MessageRejectedError, nothing was thrown')
}

describe('secure client sessions', () => {
  const identities = createEd25519Directory()
  const sessions = () =>
    new SecureClientSessions('victim', {
      identity: identities.identityOf('victim'),
      minClients: (jobId) => (jobId === 'job-1' ? secureCohortMinimum(spec) : undefined),
    })

  it('issue 15, finding 5: refuse a session of the victim and one client of the coordinator’s own, naming the job minimum', () => {
    expect(secureCohortMinimum(spec)).toBe(3)
    const plan = planSecAgg({ clients: 2, dropoutRate: 0, corruptRate: 0, clip: 1 })
    const server = new SecAggServer({ jobId: 'job-1', round: 4, clients: ['victim', 'sybil'], plan, vectorLength: 10 })
    const setup = server.setup().find((m) => m.clientId === 'victim')!
    const error = refusal(() => sessions().handle(setup))
    expect(error.reason).toBe('cohort-too-small')
    expect(error.message).toMatch(/the session has 2 clients, the job's minimum is 3/)
  })

  it('issue 15, finding 5: refuse a setup for a job the client has not joined, and take one that meets the minimum', () => {
    const plan = planSecAgg({ clients: 3, dropoutRate: 0, corruptRate: 0, clip: 1 })
    const other = new SecAggServer({ jobId: 'job-2', round: 4, clients: ['victim', 'b', 'c'], plan, vectorLength: 10 })
    expect(refusal(() => sessions().handle(other.setup()[0]!)).reason).toBe('wrong-job')
    const server = new SecAggServer({ jobId: 'job-1', round: 4, clients: ['victim', 'b', 'c'], plan, vectorLength: 10 })
    expect(sessions().handle(server.setup()[0]!)?.type).toBe('advertise-keys')
  })
})
