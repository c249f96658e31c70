// A plain synchronous round: sample, hand out tasks, take updates until the deadline (recruiting replacements for
// clients that drop while too few results are in), close, commit.
import { minResults } from '../../job-spec.js'
import { JobFailure } from '../job-context.js'
import { RoundState } from '../round-state.js'
import { beginRound, type RoundDriver, type RoundServices } from './driver.js'

export function syncRounds(s: RoundServices): RoundDriver {
  return {
    kind: 'sync',
    async run(r) {
      const { ctx, members, handouts } = s
      const spec = ctx.spec
      const needed = minResults(spec)
      const { participants } = await beginRound(s, r)
      const rs = new RoundState(r, participants, ctx.job.modelHash, ctx.strategy.begin(ctx.global), ctx.clock.now())
      s.setRound(rs)
      const refolded = s.refold(rs)
      ctx.event('round-started', { participants: participants.length, resumedUpdates: refolded }, r)
      const deadline = rs.startedAt + spec.timeouts.roundSeconds * 1000
      const giveUp = deadline + spec.timeouts.waitSeconds * 1000
      handouts.dispatchAll(rs, participants.filter((c) => !rs.delivered.has(c)), r)
      for (;;) {
        const now = ctx.clock.now()
        if (rs.pending.size === 0) {
          if (rs.delivered.size >= needed) break
          members.refresh()
          const spare = members.available().filter((id) => !rs.participants.has(id))
          if (spare.length > 0) {
            const picked = members.sample(spare, r * 7919 + rs.participants.size).slice(0, needed - rs.delivered.size)
            for (const c of picked) rs.participants.add(c)
            handouts.dispatchAll(rs, picked, r)
            ctx.components.store.openRound(ctx.id, r, [...rs.participants], rs.inputHash, rs.startedAt)
            ctx.event('round-recruited', { clients: picked }, r)
            continue
          }
        } else if (now >= deadline && rs.delivered.size >= needed) {
          break
        }
        if (now >= giveUp) {
          throw new JobFailure(
            `round ${r}: ${rs.delivered.size} of the ${needed} results needed arrived within ${spec.timeouts.roundSeconds + spec.timeouts.waitSeconds} s (${rs.dropped.size} clients dropped; ${members.text()})`,
          )
        }
        await ctx.wait(rs.pending.size > 0 && now < deadline ? deadline - now : ctx.init.pollMs)
      }
      for (const c of rs.close()) ctx.event('client-late', { client: c, masked: false }, r)
      await s.commit(rs)
    },
  }
}
