// Replication targets and the repair decision, without libp2p or a disk: which holders count toward a target's
// factor (label constraints, distinct label values), which holder asks (the lowest peer id, so only one does), and
// which candidates are eligible next. The replication component feeds it what it saw on the mesh.
import { MAX_REPLICATION_FACTOR, MAX_REPLICATION_LABEL_CHARS, MAX_REPLICATION_LABELS } from '@weft/protocol'

/** A replication target: `factor` holders of `root`, each carrying `labels`, with distinct values of `distinct`. */
export interface ReplicationTarget {
  readonly root: string
  /** Copies wanted, this node's included (1..16). */
  readonly factor: number
  /** Label constraints, each `key=value`: a holder counts only when it carries every one. */
  readonly labels: readonly string[]
  /** A label key whose values must differ among the holders that count (e.g. `site`); absent: none. */
  readonly distinct?: string
}

/** A peer and the labels its ad carries. */
export interface LabelledPeer {
  readonly peer: string
  readonly labels: Readonly<Record<string, string>>
}

const LABEL_KEY = /^[a-zA-Z0-9._/-]{1,63}$/

/**
 * Checks a target's fields (from a user or a peer).
 * @returns why it is not valid, or undefined
 */
export function targetProblem(target: { factor: number; labels: readonly string[]; distinct?: string | undefined }): string | undefined {
  if (!Number.isInteger(target.factor) || target.factor < 1 || target.factor > MAX_REPLICATION_FACTOR) {
    return `factor must be an integer from 1 to ${MAX_REPLICATION_FACTOR}, got ${target.factor}`
  }
  if (target.labels.length > MAX_REPLICATION_LABELS) return `at most ${MAX_REPLICATION_LABELS} label constraints, got ${target.labels.length}`
  for (const label of target.labels) {
    const eq = label.indexOf('=')
    if (label.length > MAX_REPLICATION_LABEL_CHARS || eq < 1 || !LABEL_KEY.test(label.slice(0, eq))) {
      return `a label constraint must be key=value (a key of 1 to 63 letters, digits or ._/-), got ${JSON.stringify(label.slice(0, 80))}`
    }
  }
  if (target.distinct !== undefined && !LABEL_KEY.test(target.distinct)) {
    return `distinct must be a label key (1 to 63 letters, digits or ._/-), got ${JSON.stringify(target.distinct.slice(0, 80))}`
  }
  return undefined
}

/** Whether a peer's labels satisfy every `key=value` constraint. */
export function matchesLabels(labels: Readonly<Record<string, string>>, constraints: readonly string[]): boolean {
  return constraints.every((c) => {
    const eq = c.indexOf('=')
    return Object.hasOwn(labels, c.slice(0, eq)) && labels[c.slice(0, eq)] === c.slice(eq + 1)
  })
}

/**
 * How many of `holders` count toward the target's factor: those matching its labels, and with `distinct`, one per
 * distinct value of that label (a holder without the label does not count).
 */
export function countTowardFactor(target: ReplicationTarget, holders: readonly LabelledPeer[]): number {
  const matching = holders.filter((h) => matchesLabels(h.labels, target.labels))
  const key = target.distinct
  if (key === undefined) return matching.length
  return new Set(matching.filter((h) => Object.hasOwn(h.labels, key)).map((h) => h.labels[key])).size
}

/** Whether `self` is the holder that repairs: the lowest peer id among the live holders (self included). */
export function isRepairer(self: string, holders: readonly string[]): boolean {
  return holders.every((h) => h >= self)
}

/**
 * The next candidate to ask, or undefined: not a holder, not excluded, matching the labels, and with `distinct`
 * carrying a value no counting holder has. Candidates are taken in the order given.
 */
export function nextCandidate(
  target: ReplicationTarget,
  holders: readonly LabelledPeer[],
  candidates: readonly LabelledPeer[],
  exclude: ReadonlySet<string>,
): LabelledPeer | undefined {
  const holding = new Set(holders.map((h) => h.peer))
  const key = target.distinct
  const used = new Set(key === undefined ? [] : holders.filter((h) => matchesLabels(h.labels, target.labels) && Object.hasOwn(h.labels, key)).map((h) => h.labels[key]))
  return candidates.find(
    (c) =>
      !holding.has(c.peer) &&
      !exclude.has(c.peer) &&
      matchesLabels(c.labels, target.labels) &&
      (key === undefined || (Object.hasOwn(c.labels, key) && !used.has(c.labels[key]))),
  )
}
