// The outer step of a swarm peer: how the group's mean parameters move the peer's outer parameters.
import type { SwarmSpec } from './spec.js'

/** A peer's outer state: the parameters every inner phase starts from, and the outer momentum. */
export interface OuterState {
  readonly params: Float32Array
  /** Outer momentum buffer (all zero under `average`). */
  readonly momentum: Float32Array
}

/**
 * Applies one outer step in place and returns the root-mean-square length of the pseudo-gradient.
 *
 * Δ = θ_outer − mean, the group's mean of the parameters its members reached; under `diloco`, m ← μ·m + Δ and
 * θ_outer ← θ_outer − lr·(Δ + μ·m) with Nesterov (θ_outer − lr·m without); under `average`, θ_outer ← mean. When the
 * whole swarm is one group, every peer holds the same θ_outer and this is DiLoCo's outer step exactly. With smaller
 * groups it is DiLoCo on each group's mean: members that arrived from different groups hold different θ_outer, and a
 * step pulls each a fraction lr of the way to the group's mean, so they meet as groups mix.
 * @throws RangeError when the lengths differ
 */
export function applyOuterStep(spec: SwarmSpec['outer'], state: OuterState, mean: Float32Array): number {
  const { params, momentum } = state
  if (mean.length !== params.length || momentum.length !== params.length) {
    throw new RangeError(`outer step over ${params.length} parameters got a mean of ${mean.length} and momentum of ${momentum.length}`)
  }
  let squares = 0
  if (spec.kind === 'average') {
    for (let i = 0; i < params.length; i++) {
      const delta = (params[i] as number) - (mean[i] as number)
      squares += delta * delta
      params[i] = mean[i] as number
    }
    return Math.sqrt(squares / Math.max(1, params.length))
  }
  const { lr, momentum: mu, nesterov } = spec
  for (let i = 0; i < params.length; i++) {
    const delta = (params[i] as number) - (mean[i] as number)
    squares += delta * delta
    const m = mu * (momentum[i] as number) + delta
    momentum[i] = m
    params[i] = (params[i] as number) - lr * (nesterov ? delta + mu * m : m)
  }
  return Math.sqrt(squares / Math.max(1, params.length))
}
