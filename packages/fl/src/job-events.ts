// The human message of each typed job event, derived from its payload (logs, `weft fl logs`, the dashboard).
import type { JobEvent, JobEventInput } from './contracts/events.js'

const short = (id: string): string => id.slice(0, 12)

/**
 * The message of an event, as logs and the event list show it.
 * @param event the kind, payload and round of the event
 */
export function describeJobEvent(event: JobEventInput): string {
  const r = event.round
  switch (event.type) {
    case 'job-submitted': {
      const d = event.data
      return `job "${d.name}" submitted by ${d.submitter}: ${d.strategy}, ${d.rounds} rounds, ${d.params} parameters`
    }
    case 'job-resumed':
      return event.data.pausedFor === undefined
        ? `coordinator restarted; resuming at round ${event.data.round}`
        : `resuming at round ${event.data.round} after a pause (${event.data.pausedFor})`
    case 'job-paused':
      return `job paused: ${event.data.reason}; trying again every ${Math.round(event.data.retryMs / 1000)} s`
    case 'job-finished':
      return `job finished after ${event.data.rounds} rounds; model ${short(event.data.modelHash)}`
    case 'job-cancelled':
      return `job cancelled: ${event.data.reason}`
    case 'job-failed':
      return `job failed: ${event.data.reason}`
    case 'privacy-budget-reached': {
      const d = event.data
      return `stopping before round ${d.round}: it would take ε past ${d.epsilonLimit} (spent ε = ${d.epsilon.toFixed(3)} at δ = ${d.delta})`
    }
    case 'client-joined':
      return `${event.data.client} joined with ${event.data.examples} examples`
    case 'client-refused':
      return `${event.data.client} declined the invitation: ${event.data.reason}`
    case 'round-started': {
      const d = event.data
      if (d.buffer !== undefined) return `server step ${r} started${d.resumedUpdates > 0 ? ` with ${d.resumedUpdates} buffered updates` : ''} (buffer ${d.buffer})`
      return d.resumedUpdates > 0
        ? `round ${r} resumed with ${d.resumedUpdates} of ${d.participants} updates already accepted`
        : `round ${r} started: ${d.participants} clients sampled`
    }
    case 'secure-round-started': {
      const d = event.data
      return (
        `round ${r} started with secure aggregation (session ${d.session}): ${d.participants} clients, ` +
        `${d.complete ? 'every pair' : `${d.degree} neighbours each`}, threshold ${d.threshold}, ${d.bits}-bit inputs`
      )
    }
    case 'secure-round-aborted':
      return `round ${r} (session ${event.data.session}) aborted; nothing individual was revealed: ${event.data.reason}`
    case 'round-recruited':
      return `round ${r}: ${event.data.clients.length} replacement clients asked to train`
    case 'client-dropped':
      return `${event.data.client} dropped from round ${r}: ${event.data.reason}`
    case 'client-late':
      return `${event.data.client} had not sent its ${event.data.masked ? 'masked input' : 'update'} when round ${r} closed; dropped from the round`
    case 'round-closed': {
      const d = event.data
      const selected = d.selected === undefined ? '' : `, selected ${d.selected}`
      return `round ${r} closed: ${d.updates} updates (${d.examples} examples${selected}), ${d.dropped} dropped, train loss ${d.trainLoss.toFixed(4)}, ${d.seconds.toFixed(2)} s`
    }
    case 'round-evaluated': {
      const { centralized, federated } = event.data
      const parts: string[] = []
      if (centralized !== undefined) parts.push(`test accuracy ${(centralized.accuracy * 100).toFixed(2)}% (loss ${centralized.loss.toFixed(4)})`)
      if (federated !== undefined) parts.push(`federated accuracy ${(federated.accuracy * 100).toFixed(2)}% on ${federated.clients} clients`)
      return `round ${r}: ${parts.join(', ')}`
    }
    case 'evaluation-failed':
      return `centralized evaluation of round ${r} failed: ${event.data.reason}`
    case 'update-refused':
      return `update from ${event.data.client} for round ${r} refused: ${event.data.reason}`
    case 'updates-suppressed':
      return `${event.data.suppressed} more updates from ${event.data.client} refused in ${event.data.seconds.toFixed(0)} s (not recorded one by one)`
    case 'update-accepted': {
      const d = event.data
      if (d.session !== undefined) return `masked input from ${d.client} for round ${r} accepted (session ${d.session})`
      return (
        `update from ${d.client} for round ${r} accepted: ${d.examples} examples, loss ${d.trainLoss.toFixed(4)}, ` +
        `trained ${d.trainSeconds.toFixed(2)} s, uploaded in ${d.uploadMs.toFixed(0)} ms${d.staleness > 0 ? `, staleness ${d.staleness}` : ''}`
      )
    }
    default: {
      const never: never = event
      return `event ${(never as { type: string }).type}`
    }
  }
}

/** An event with its message, ready for the store. */
export function withMessage(event: JobEventInput): JobEventInput & { readonly message: string } {
  const bounded = { ...event, data: boundStrings(event.data) } as JobEventInput
  return { ...bounded, message: describeJobEvent(bounded) }
}

/** The longest string an event's payload keeps (characters); a longer one, often a peer's text, is cut. */
export const MAX_EVENT_STRING = 1024

/** `s` cut to MAX_EVENT_STRING characters, marked with how much was cut. */
export function truncateEventString(s: string): string {
  return s.length <= MAX_EVENT_STRING ? s : `${s.slice(0, MAX_EVENT_STRING)}… (${s.length - MAX_EVENT_STRING} more characters)`
}

/** A payload with its strings (and the strings of its arrays) cut to MAX_EVENT_STRING: events hold what peers send. */
function boundStrings<T>(data: T): T {
  if (typeof data !== 'object' || data === null) return data
  let out: Record<string, unknown> | undefined
  for (const [k, v] of Object.entries(data)) {
    const b = typeof v === 'string' ? truncateEventString(v) : Array.isArray(v) ? boundArray(v) : v
    if (b !== v) {
      out ??= { ...(data as Record<string, unknown>) }
      out[k] = b
    }
  }
  return (out ?? data) as T
}

function boundArray(a: readonly unknown[]): readonly unknown[] {
  return a.some((x) => typeof x === 'string' && x.length > MAX_EVENT_STRING) ? a.map((x) => (typeof x === 'string' ? truncateEventString(x) : x)) : a
}

/** Narrows an event to one kind (for readers: `events.filter(isEvent('client-dropped'))`). */
export function isJobEvent<K extends JobEvent['type']>(type: K): (e: JobEvent) => e is Extract<JobEvent, { type: K }> {
  return (e): e is Extract<JobEvent, { type: K }> => e.type === type
}
