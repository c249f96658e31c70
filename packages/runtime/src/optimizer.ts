// Optimizer configurations (a discriminated union on `kind`) and their validation.
import { InvalidTrainOptionsError } from './errors.js'

/** Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay added to the gradient. */
export interface SgdConfig {
  readonly kind: 'sgd'
  readonly lr: number
  readonly momentum?: number
  readonly weightDecay?: number
  readonly nesterov?: boolean
}

/** Adam (weight decay, if any, is L2 added to the gradient) or AdamW (decoupled decay, Loshchilov & Hutter). */
export interface AdamConfig {
  readonly kind: 'adam' | 'adamw'
  readonly lr: number
  readonly beta1?: number
  readonly beta2?: number
  readonly eps?: number
  readonly weightDecay?: number
}

export type OptimizerConfig = SgdConfig | AdamConfig

/** An optimizer config with every default filled in. */
export type ResolvedOptimizer =
  | { readonly kind: 'sgd'; readonly lr: number; readonly momentum: number; readonly weightDecay: number; readonly nesterov: boolean }
  | {
      readonly kind: 'adam' | 'adamw'
      readonly lr: number
      readonly beta1: number
      readonly beta2: number
      readonly eps: number
      readonly weightDecay: number
    }

function num(o: Record<string, unknown>, key: string, def: number, lo: number, hi: number, loOpen = false): number {
  const v = o[key] ?? def
  if (typeof v !== 'number' || !Number.isFinite(v) || (loOpen ? v <= lo : v < lo) || v > hi) {
    throw new InvalidTrainOptionsError(
      `optimizer.${key} must be a number in ${loOpen ? '(' : '['}${lo}, ${hi}], got ${JSON.stringify(v)}`,
    )
  }
  return v
}

/**
 * Validates an optimizer config and fills in defaults (momentum 0, betas 0.9/0.999, eps 1e-8, weight decay 0;
 * AdamW's default weight decay is 0.01).
 * @throws InvalidTrainOptionsError naming the bad field.
 */
export function resolveOptimizer(config: unknown): ResolvedOptimizer {
  if (typeof config !== 'object' || config === null) throw new InvalidTrainOptionsError('optimizer must be an object')
  const o = config as Record<string, unknown>
  const kind = o['kind']
  const lr = num(o, 'lr', Number.NaN, 0, 1e3, true)
  switch (kind) {
    case 'sgd': {
      const nesterov = o['nesterov'] ?? false
      if (typeof nesterov !== 'boolean') throw new InvalidTrainOptionsError('optimizer.nesterov must be a boolean')
      const momentum = num(o, 'momentum', 0, 0, 1)
      if (nesterov && momentum === 0) throw new InvalidTrainOptionsError('optimizer.nesterov needs momentum > 0')
      return Object.freeze({ kind, lr, momentum, weightDecay: num(o, 'weightDecay', 0, 0, 1e3), nesterov })
    }
    case 'adam':
    case 'adamw':
      return Object.freeze({
        kind,
        lr,
        beta1: num(o, 'beta1', 0.9, 0, 1),
        beta2: num(o, 'beta2', 0.999, 0, 1),
        eps: num(o, 'eps', 1e-8, 0, 1, true),
        weightDecay: num(o, 'weightDecay', kind === 'adamw' ? 0.01 : 0, 0, 1e3),
      })
    default:
      throw new InvalidTrainOptionsError(`optimizer.kind must be 'sgd', 'adam' or 'adamw', got ${JSON.stringify(kind)}`)
  }
}
