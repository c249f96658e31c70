// A round under secure aggregation: keys and shares are exchanged while the sampled clients train; each sends its
// weighted update masked; at the deadline (or once all are in) the survivors return the shares that remove the
// masks, and only the sum is seen. No replacement can join a session once its keys are exchanged, and masked
// inputs are not stored (they are useless without the session): a round that aborts for too few shares, or that
// a coordinator restart interrupts, is run again with a new sample and a new session. Each attempt's number is
// stored with the round, so a restarted coordinator never reuses a session.
import type { SecAggTransport } from '../../contracts/transport.js'
import { minResults } from '../../job-spec.js'
import type { SecureAggregationConfig } from '../../privacy.js'
import { SECURE_ATTEMPTS, SecureRound } from '../../secure-aggregation.js'
import { JobFailure } from '../job-context.js'
import { RoundState } from '../round-state.js'
import { beginRound, type RoundDriver, type RoundServices } from './driver.js'

export function secureRounds(s: RoundServices): RoundDriver {
  return {
    kind: 'secure',
    async run(r) {
      const { ctx, members, handouts } = s
      const { spec, components: c } = ctx
      const config = spec.privacy.secureAggregation as SecureAggregationConfig
      const transport = c.transport
      if (transport.secagg === undefined) throw new JobFailure('privacy.secureAggregation: the transport has no secure-aggregation channel')
      const secagg: SecAggTransport['secagg'] = (client, message, signal) => (transport.secagg as SecAggTransport['secagg']).call(transport, client, message, signal)
      const clipBit = ctx.strategy.privacy?.config.adaptiveClipping !== undefined
      const needed = Math.max(2, minResults(spec))
      const begun = await beginRound(s, r)
      let sample = begun.participants
      for (let attempt = begun.resumed?.attempt === undefined ? 0 : begun.resumed.attempt + 1; ; attempt++) {
        if (attempt >= SECURE_ATTEMPTS) throw new JobFailure(`round ${r}: secure aggregation did not complete in ${SECURE_ATTEMPTS} attempts`)
        c.store.openRound(ctx.id, r, sample, ctx.job.modelHash, ctx.clock.now(), attempt)
        let secure: SecureRound
        try {
          secure = new SecureRound({
            jobId: ctx.id,
            round: r,
            attempt,
            participants: sample,
            config,
            vectorLength: ctx.paramCount + (clipBit ? 1 : 0),
            transport: { secagg },
            phaseMs: Math.min(60_000, (spec.timeouts.roundSeconds * 1000) / 2),
            signal: ctx.signal,
            clock: ctx.clock,
          })
        } catch (err) {
          throw new JobFailure(`round ${r}: privacy.secureAggregation: ${(err as Error).message}`)
        }
        const rs = new RoundState(r, sample, ctx.job.modelHash, ctx.strategy.begin(ctx.global), ctx.clock.now())
        rs.secure = secure
        // FedAvg's example weights, scaled into (0, 1] so quantization keeps its range; DP weighs every client 1.
        const declared = (id: string): number => ctx.weight(members.examples(id) || 1)
        const maxExamples = Math.max(1, ...sample.map(declared))
        for (const id of sample) rs.weights.set(id, ctx.strategy.privacy !== undefined ? 1 : declared(id) / maxExamples)
        s.setRound(rs)
        const { plan } = secure
        ctx.event(
          'secure-round-started',
          { session: secure.session, participants: sample.length, complete: plan.complete, degree: plan.degree, threshold: plan.threshold, bits: plan.bits },
          r,
        )
        handouts.dispatchAll(rs, sample, r)
        await secure.start()
        for (const [id, reason] of secure.failed) s.drop(rs, id, `secure aggregation: ${reason}`)
        const deadline = rs.startedAt + spec.timeouts.roundSeconds * 1000
        while (rs.pending.size > 0 && ctx.clock.now() < deadline) await ctx.wait(deadline - ctx.clock.now())
        for (const id of rs.close()) ctx.event('client-late', { client: id, masked: true }, r)
        // Unmasking (the survivors' shares, the rebuilt masks, the sum) is this round's aggregation work.
        const unmaskStart = performance.now()
        const outcome =
          rs.delivered.size >= needed ? await secure.finish() : { ok: false as const, reason: `${rs.delivered.size} masked inputs arrived; ${needed} needed` }
        rs.aggSeconds += (performance.now() - unmaskStart) / 1000
        if (!outcome.ok) {
          ctx.event('secure-round-aborted', { session: secure.session, reason: outcome.reason }, r)
          sample = await members.pick(r, r * 7919 + attempt + 1)
          continue
        }
        const { total, survivors, protocolBytes } = outcome.value
        const weight = survivors.reduce((sum, id) => sum + (rs.weights.get(id) ?? 0), 0)
        const update = total.subarray(0, ctx.paramCount)
        const t0 = performance.now()
        if (rs.agg.addSum !== undefined) {
          const withinClipCount = clipBit ? Math.round((total[ctx.paramCount] as number) / config.clip) : undefined
          rs.agg.addSum({ sum: Float64Array.from(update), count: survivors.length, weight, ...(withinClipCount === undefined ? {} : { withinClipCount }) })
        } else {
          rs.agg.add({ clientId: 'secure-sum', delta: update.map((v) => v / weight), numExamples: 1, staleness: 0 })
        }
        rs.aggSeconds += (performance.now() - t0) / 1000
        rs.secureSummary = {
          session: secure.session,
          degree: plan.degree,
          threshold: plan.threshold,
          bits: plan.bits,
          survivors: survivors.length,
          contributors: [...survivors],
          protocolBytes,
        }
        await s.commit(rs)
        return
      }
    },
  }
}
