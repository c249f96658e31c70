// The repair decision without a mesh: which holders count toward a target (labels, distinct values), that exactly
// one holder repairs, which candidate is asked next, and the checks on a target a user or a peer sends.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { countTowardFactor, isRepairer, type LabelledPeer, matchesLabels, nextCandidate, type ReplicationTarget, targetProblem } from '../src/replication-plan.js'

const peer = (id: string, labels: Record<string, string> = {}): LabelledPeer => ({ peer: id, labels })
const target = (t: Partial<ReplicationTarget> = {}): ReplicationTarget => ({ root: 'bafy', factor: 3, labels: [], ...t })

describe('replication plan', () => {
  it('counts holders that carry every label, one per distinct value', () => {
    const holders = [peer('a', { site: 'x', tier: 'gpu' }), peer('b', { site: 'x' }), peer('c', { site: 'y', tier: 'gpu' }), peer('d')]
    expect(countTowardFactor(target(), holders)).toBe(4)
    expect(countTowardFactor(target({ labels: ['tier=gpu'] }), holders)).toBe(2)
    expect(countTowardFactor(target({ distinct: 'site' }), holders)).toBe(2)
    expect(countTowardFactor(target({ labels: ['tier=gpu'], distinct: 'site' }), holders)).toBe(2)
    expect(countTowardFactor(target({ labels: ['site=z'] }), holders)).toBe(0)
  })

  it('a label value is matched whole, and an inherited property is no label', () => {
    expect(matchesLabels({ site: 'x=1' }, ['site=x=1'])).toBe(true)
    expect(matchesLabels({ site: 'x' }, ['site=x=1'])).toBe(false)
    expect(matchesLabels({}, ['constructor=x'])).toBe(false)
  })

  it('exactly one of any set of live holders repairs: the lowest id', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 }), (holders) => {
        const repairers = holders.filter((h) => isRepairer(h, holders))
        expect(repairers).toEqual([[...holders].sort()[0]])
      }),
    )
  })

  it('the next candidate is not a holder, not excluded, matches the labels and brings a new distinct value', () => {
    const holders = [peer('h1', { site: 'x' })]
    const candidates = [peer('c1', { site: 'x' }), peer('c2'), peer('c3', { site: 'y' }), peer('h1', { site: 'x' })]
    expect(nextCandidate(target(), holders, candidates, new Set())?.peer).toBe('c1')
    expect(nextCandidate(target(), holders, candidates, new Set(['c1']))?.peer).toBe('c2')
    expect(nextCandidate(target({ distinct: 'site' }), holders, candidates, new Set())?.peer).toBe('c3')
    expect(nextCandidate(target({ labels: ['site=y'] }), holders, candidates, new Set())?.peer).toBe('c3')
    expect(nextCandidate(target({ distinct: 'site' }), holders, candidates, new Set(['c3']))).toBeUndefined()
  })

  it('picking candidates until none is left never passes the distinct-values bound', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', undefined), { minLength: 1, maxLength: 20 }), (sites) => {
        const all = sites.map((s, i) => peer(`p${i}`, s === undefined ? {} : { site: s }))
        const t = target({ factor: 16, distinct: 'site' })
        const holders: LabelledPeer[] = []
        for (let c = nextCandidate(t, holders, all, new Set()); c !== undefined; c = nextCandidate(t, holders, all, new Set())) holders.push(c)
        expect(countTowardFactor(t, holders)).toBe(holders.length)
        expect(holders.length).toBe(new Set(sites.filter((s) => s !== undefined)).size)
      }),
    )
  })

  it('names what is wrong with a target', () => {
    expect(targetProblem({ factor: 3, labels: ['site=x'], distinct: 'zone' })).toBeUndefined()
    expect(targetProblem({ factor: 0, labels: [] })).toMatch(/factor must be an integer from 1 to 16, got 0/)
    expect(targetProblem({ factor: 1.5, labels: [] })).toMatch(/factor must be an integer/)
    expect(targetProblem({ factor: 17, labels: [] })).toMatch(/from 1 to 16/)
    expect(targetProblem({ factor: 1, labels: ['site'] })).toMatch(/must be key=value/)
    expect(targetProblem({ factor: 1, labels: ['=x'] })).toMatch(/must be key=value/)
    expect(targetProblem({ factor: 1, labels: Array.from({ length: 9 }, (_, i) => `k${i}=v`) })).toMatch(/at most 8 label constraints/)
    expect(targetProblem({ factor: 1, labels: [`k=${'v'.repeat(400)}`] })).toMatch(/must be key=value/)
    expect(targetProblem({ factor: 1, labels: [], distinct: 'a b' })).toMatch(/distinct must be a label key/)
  })
})
