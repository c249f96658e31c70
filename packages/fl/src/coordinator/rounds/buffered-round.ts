// An asynchronous server step (FedBuff): keep up to `concurrency` members training, each on the model current when
// it was dispatched; the step commits once the buffer holds K updates (stale ones included, within maxStaleness).
import { JobFailure } from '../job-context.js'
import { RoundState } from '../round-state.js'
import type { RoundDriver, RoundServices } from './driver.js'

export function bufferedRounds(s: RoundServices): RoundDriver {
  return {
    kind: 'buffered',
    async run(r) {
      const { ctx, members, handouts, inflight } = s
      const store = ctx.components.store
      const k = ctx.strategy.bufferSize ?? 1
      const concurrency = (ctx.spec.strategy as { concurrency?: number }).concurrency ?? 2 * k
      const stored = store.getRound(ctx.id, r)
      if (stored?.status !== 'open') store.openRound(ctx.id, r, [], ctx.job.modelHash, ctx.clock.now())
      const rs = new RoundState(r, stored?.participants ?? [], ctx.job.modelHash, ctx.strategy.begin(ctx.global), stored?.startedAt ?? ctx.clock.now())
      s.setRound(rs)
      const refolded = s.refold(rs)
      ctx.event('round-started', { participants: rs.participants.size, resumedUpdates: refolded, buffer: k }, r)
      const patience = (ctx.spec.timeouts.roundSeconds + ctx.spec.timeouts.waitSeconds) * 1000
      let lastProgress = ctx.clock.now()
      let seen = rs.delivered.size
      while (rs.agg.count < k) {
        members.refresh()
        const idle = members.available().filter((id) => !inflight.has(id))
        let added = false
        for (const id of idle) {
          if (inflight.size >= concurrency) break
          inflight.set(id, r)
          rs.participants.add(id)
          handouts.dispatch(rs, id, r)
          added = true
        }
        if (added) store.openRound(ctx.id, r, [...rs.participants], rs.inputHash, rs.startedAt)
        if (rs.delivered.size !== seen) {
          seen = rs.delivered.size
          lastProgress = ctx.clock.now()
        }
        if (ctx.clock.now() - lastProgress > patience) {
          throw new JobFailure(`server step ${r}: no update arrived for ${patience / 1000} s (${rs.agg.count} of ${k} buffered; ${members.text()})`)
        }
        await ctx.wait(ctx.init.pollMs)
      }
      rs.open = false
      await s.commit(rs)
    },
  }
}
