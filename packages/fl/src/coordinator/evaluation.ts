// Evaluation after a round commits: centralized on the coordinator's own data set and/or federated on a seeded
// sample of the members, as the spec asks; results are stored with the round and recorded as an event.
import { deriveSeed, mulberry32, permutation } from '@weft/runtime'
import type { EvaluationMetrics } from '../contracts/job-store.js'
import type { ClientEvaluation } from '../contracts/transport.js'
import type { JobContext } from './job-context.js'
import type { Membership } from './membership.js'

/** Evaluates the global model of round `r` (when the spec's `every` or the last round says so). */
export async function evaluateRound(ctx: JobContext, members: Membership, r: number): Promise<void> {
  const { spec, components: c } = ctx
  const ev = spec.evaluation
  const last = r === spec.rounds
  let evaluation: EvaluationMetrics = {}
  if (ev.centralized !== undefined && c.evaluator !== undefined && (r % ev.centralized.every === 0 || last)) {
    const t0 = performance.now()
    try {
      const e = await c.evaluator.evaluate(spec, ev.centralized.dataset, ctx.global)
      evaluation = { ...evaluation, centralized: { ...e, seconds: (performance.now() - t0) / 1000 } }
    } catch (err) {
      ctx.event('evaluation-failed', { reason: (err as Error).message }, r)
    }
  }
  if (ev.federated !== undefined && (r % ev.federated.every === 0 || last)) {
    const avail = members.available()
    const k = Math.min(avail.length, Math.max(ev.federated.min, Math.ceil(ev.federated.fraction * avail.length)))
    const order = permutation(avail.length, mulberry32(deriveSeed(spec.seed, r, 0xe7a1)))
    const chosen = [...order.subarray(0, k)].map((i) => avail[i] as string)
    const task = { jobId: ctx.id, round: r, modelHash: ctx.job.modelHash, params: ctx.global }
    const results = await Promise.all(
      chosen.map((id) =>
        c.transport
          .evaluate(id, task, ctx.deadline(ctx.init.evaluateTimeoutMs))
          .catch((err: unknown) => ({ ok: false as const, reason: (err as Error)?.message ?? String(err) })),
      ),
    )
    const ok = results.filter((x): x is { ok: true } & ClientEvaluation => x.ok)
    const examples = ok.reduce((s, x) => s + x.examples, 0)
    if (examples > 0) {
      const federated = {
        loss: ok.reduce((s, x) => s + x.loss * x.examples, 0) / examples,
        accuracy: ok.reduce((s, x) => s + x.accuracy * x.examples, 0) / examples,
        examples,
        clients: ok.length,
      }
      evaluation = { ...evaluation, federated }
    }
  }
  ctx.checkAbort()
  if (evaluation.centralized === undefined && evaluation.federated === undefined) return
  c.store.setRoundEvaluation(ctx.id, r, evaluation)
  c.metrics?.onEvaluation?.(ctx.id, r, evaluation)
  const { centralized, federated } = evaluation
  ctx.event(
    'round-evaluated',
    {
      ...(centralized === undefined ? {} : { centralized: { accuracy: centralized.accuracy, loss: centralized.loss } }),
      ...(federated === undefined ? {} : { federated: { accuracy: federated.accuracy, clients: federated.clients } }),
    },
    r,
  )
}
