// Seeds and strategies that are functions of the job alone, so a round can be re-run (and checked) anywhere.
import { deriveSeed, paramCount } from '@weft/runtime'
import type { RoundMetrics } from '../contracts/job-store.js'
import type { Strategy } from '../contracts/strategy.js'
import type { JobSpec } from '../job-spec.js'
import { withDifferentialPrivacy } from '../privacy.js'
import { createStrategy } from '../strategies/create-strategy.js'

/**
 * The seed of a client's local training in a round: a function of the job seed, the round and the client id only,
 * so a round can be re-run (and checked) whatever order the clients were dispatched in.
 */
export function clientSeed(jobSeed: number, round: number, clientId: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < clientId.length; i++) h = Math.imul(h ^ clientId.charCodeAt(i), 0x01000193) >>> 0
  return deriveSeed(jobSeed, round, h) & 0x7fffffff
}

/** The job's strategy: its aggregation rule, wrapped with differential privacy when the spec asks for it. */
export function createJobStrategy(spec: JobSpec): Strategy {
  const rule = createStrategy(spec.strategy, { paramCount: paramCount(spec.model) })
  return spec.privacy.dp === undefined ? rule : withDifferentialPrivacy(rule, spec.privacy.dp)
}

/** The privacy spent so far, as round metrics carry it (DP jobs). */
export function privacyMetrics(strategy: Strategy): Pick<RoundMetrics, 'privacy'> {
  if (strategy.privacy === undefined) return {}
  const { epsilon, delta, noiseMultiplier, clipNorm } = strategy.privacy.spent()
  return { privacy: { epsilon, delta, noiseMultiplier, clipNorm } }
}
