// Weft's optimizers over tf.Variables: SGD (momentum, Nesterov, L2), Adam, AdamW (decoupled weight decay).
import * as tf from '@tensorflow/tfjs-core'
import type { OptimizerState, ResolvedOptimizer } from '@weft/runtime'

/** Applies one update per call; owns its state variables until `dispose`. */
export interface Optimizer {
  /** Updates `vars` in place from `grads` (same order). Call inside `tf.tidy`. */
  step(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void
  /** The state after the updates made so far (the contract's `OptimizerState` layout). */
  state(): OptimizerState
  dispose(): void
}

/**
 * Creates an optimizer for `vars`, from zero state or from `initial` (checked by `resolveTrainOptions` against the
 * optimizer and the model's size).
 */
export function createOptimizer(config: ResolvedOptimizer, vars: readonly tf.Variable[], initial?: OptimizerState): Optimizer {
  switch (config.kind) {
    case 'sgd':
      return sgd(config, vars, initial)
    case 'adam':
    case 'adamw':
      return adam(config, vars, initial)
    default: {
      const never: never = config
      throw new TypeError(`unhandled optimizer ${JSON.stringify(never)}`)
    }
  }
}

/** One state variable per parameter tensor: zero, or read from `buffers` at `offset` (in parameter order). */
function buffersLike(vars: readonly tf.Variable[], buffers?: Float32Array, offset = 0): tf.Variable[] {
  let at = offset
  return vars.map((v) =>
    tf.tidy(() => {
      if (buffers === undefined) return tf.variable(tf.zerosLike(v), false)
      const values = buffers.slice(at, at + v.size)
      at += v.size
      return tf.variable(tf.tensor(values, v.shape), false)
    }),
  )
}

/** The values of state variables, flat in order. */
function flatten(parts: readonly tf.Variable[][], total: number): Float32Array {
  const out = new Float32Array(total)
  let at = 0
  for (const vs of parts) {
    for (const v of vs) {
      const d = v.dataSync() as Float32Array
      out.set(d, at)
      at += d.length
    }
  }
  return out
}

function sgd(c: Extract<ResolvedOptimizer, { kind: 'sgd' }>, vars: readonly tf.Variable[], initial?: OptimizerState): Optimizer {
  const velocity = c.momentum > 0 ? buffersLike(vars, initial?.buffers) : []
  let t = initial?.step ?? 0
  const lr = tf.scalar(c.lr)
  const mom = tf.scalar(c.momentum)
  const wd = tf.scalar(c.weightDecay)
  return {
    step(vs, grads) {
      t++
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
    state() {
      return { kind: 'sgd', step: t, buffers: flatten([velocity], velocity.reduce((n, v) => n + v.size, 0)) }
    },
    dispose() {
      for (const x of [...velocity, lr, mom, wd]) x.dispose()
    },
  }
}

function adam(c: Extract<ResolvedOptimizer, { kind: 'adam' | 'adamw' }>, vars: readonly tf.Variable[], initial?: OptimizerState): Optimizer {
  const n = vars.reduce((s, x) => s + x.size, 0)
  const m = buffersLike(vars, initial?.buffers, 0)
  const v = buffersLike(vars, initial?.buffers, n)
  const b1 = tf.scalar(c.beta1)
  const b2 = tf.scalar(c.beta2)
  const oneMinusB1 = tf.scalar(1 - c.beta1)
  const oneMinusB2 = tf.scalar(1 - c.beta2)
  const eps = tf.scalar(c.eps)
  const wd = tf.scalar(c.weightDecay)
  const decay = tf.scalar(1 - c.lr * c.weightDecay)
  let t = initial?.step ?? 0
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
    state() {
      return { kind: c.kind, step: t, buffers: flatten([m, v], 2 * n) }
    },
    dispose() {
      for (const x of [...m, ...v, b1, b2, oneMinusB1, oneMinusB2, eps, wd, decay]) x.dispose()
    },
  }
}
