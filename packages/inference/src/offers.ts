// Finding a model's servers: asking peers which spans they serve (the "lm/info" call), bounded in time.
import type { Rpc } from '@weft/mesh'
import { LM_INFO, type ServedSpan } from '@weft/protocol'
import type { SpanOffer } from './route.js'

/** A served span and the peer that serves it. */
export interface PeerSpan extends SpanOffer {
  readonly model: string
  readonly configJson: string
  readonly engine: string
  readonly sessions: number
  /** Round trip of the `lm/info` call that found it (ms): what routing weighs hops by. */
  readonly rttMs: number
}

/**
 * Asks each peer which spans it serves; peers that do not answer within `timeoutMs` (or serve nothing) are left out.
 * @returns every span of every peer that answered, or only `model`'s when given
 */
export async function askSpans(rpc: Pick<Rpc, 'call'>, peers: readonly string[], options: { readonly model?: string; readonly timeoutMs?: number } = {}): Promise<PeerSpan[]> {
  const answers = await Promise.allSettled(
    peers.map(async (peer) => {
      const t0 = performance.now()
      const { spans } = await rpc.call(peer, LM_INFO, {}, { timeoutMs: options.timeoutMs ?? 5_000 })
      return { peer, spans, rttMs: performance.now() - t0 }
    }),
  )
  const found: PeerSpan[] = []
  for (const a of answers) {
    if (a.status !== 'fulfilled') continue
    for (const s of a.value.spans as ServedSpan[]) {
      if (options.model !== undefined && s.model !== options.model) continue
      found.push({
        peer: a.value.peer,
        model: s.model,
        start: s.start,
        end: s.end,
        configJson: s.configJson,
        engine: s.engine,
        sessions: s.sessions,
        freeTokens: s.freeTokens,
        secondsPerToken: s.secondsPerToken,
        rttMs: a.value.rttMs,
      })
    }
  }
  return found
}
