// Weft's optimizers over tf.Variables: SGD (momentum, Nesterov, L2), Adam, AdamW (decoupled weight decay).
import * as tf from '@tensorflow/tfjs-core'
import type { ResolvedOptimizer } from '@weft/runtime'

/** Applies one update per call; owns its state variables until `dispose`. */
export interface Optimizer {
  /** Updates `vars` in place from `grads` (same order). Call inside `tf.tidy`. */
  step(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void
  dispose(): void
}

/** Creates a fresh optimizer (zero state) for `vars`. */
export function createOptimizer(config: ResolvedOptimizer, vars: readonly tf.Variable[]): Optimizer {
  switch (config.kind) {
    case 'sgd':
      return sgd(config, vars)
    case 'adam':
    case 'adamw':
      return adam(config, vars)
    default: {
      const never: never = config
      throw new TypeError(`unhandled optimizer ${JSON.stringify(never)}`)
    }
  }
}

function zerosLike(vars: readonly tf.Variable[]): tf.Variable[] {
  return vars.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)))
}

function sgd(c: Extract<ResolvedOptimizer, { kind: 'sgd' }>, vars: readonly tf.Variable[]): Optimizer {
  const velocity = c.momentum > 0 ? zerosLike(vars) : []
  const lr = tf.scalar(c.lr)
  const mom = tf.scalar(c.momentum)
  const wd = tf.scalar(c.weightDecay)
  return {
    step(vs, grads) {
      vs.forEach((w, i) => {
        let g = grads[i]!
        if (c.weightDecay > 0) g = tf.add(g, tf.mul(wd, w))
        let update = g
        if (c.momentum > 0) {
          const v = velocity[i]!
          const nv = tf.add(tf.mul(mom, v), g)
          v.assign(nv)
          update = c.nesterov ? tf.add(g, tf.mul(mom, nv)) : nv
        }
        w.assign(tf.sub(w, tf.mul(lr, update)))
      })
    },
    dispose() {
      for (const t of [...velocity, lr, mom, wd]) t.dispose()
    },
  }
}

function adam(c: Extract<ResolvedOptimizer, { kind: 'adam' | 'adamw' }>, vars: readonly tf.Variable[]): Optimizer {
  const m = zerosLike(vars)
  const v = zerosLike(vars)
  const b1 = tf.scalar(c.beta1)
  const b2 = tf.scalar(c.beta2)
  const oneMinusB1 = tf.scalar(1 - c.beta1)
  const oneMinusB2 = tf.scalar(1 - c.beta2)
  const eps = tf.scalar(c.eps)
  const wd = tf.scalar(c.weightDecay)
  const decay = tf.scalar(1 - c.lr * c.weightDecay)
  let t = 0
  return {
    step(vs, grads) {
      t++
      // Bias corrections folded into the step size: lr·√(1−β2ᵗ)/(1−β1ᵗ), eps scaled to match.
      const corr1 = 1 - c.beta1 ** t
      const corr2 = 1 - c.beta2 ** t
      const stepSize = tf.scalar((c.lr * Math.sqrt(corr2)) / corr1)
      const epsHat = tf.scalar(c.eps * Math.sqrt(corr2))
      vs.forEach((w, i) => {
        let g = grads[i]!
        if (c.kind === 'adam' && c.weightDecay > 0) g = tf.add(g, tf.mul(wd, w))
        const mi = m[i]!
        const vi = v[i]!
        const nm = tf.add(tf.mul(b1, mi), tf.mul(oneMinusB1, g))
        const nv = tf.add(tf.mul(b2, vi), tf.mul(oneMinusB2, tf.square(g)))
        mi.assign(nm)
        vi.assign(nv)
        const base = c.kind === 'adamw' && c.weightDecay > 0 ? tf.mul(decay, w) : w
        w.assign(tf.sub(base, tf.div(tf.mul(stepSize, nm), tf.add(tf.sqrt(nv), epsHat))))
      })
    },
    dispose() {
      for (const x of [...m, ...v, b1, b2, oneMinusB1, oneMinusB2, eps, wd, decay]) x.dispose()
    },
  }
}
