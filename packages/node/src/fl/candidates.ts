// Who takes part in a federated job, read from the peer table: the clients a coordinator invites (a site with an
// aggregator is reached only through it) and the members a site aggregator drives (the peers of its site).
import { type ClientOffer, hierarchyProblem, ineligibility, type JobSpec } from '@weft/fl'
import type { Authorize } from '@weft/mesh'
import { AGGREGATOR_LABEL, SITE_LABEL } from '../config.js'
import type { PeerEntry } from '../peer-table.js'

/** What a peer's signed ad offers a job (the FL core's eligibility reads it). */
export function offerOf(entry: PeerEntry): ClientOffer {
  const ad = entry.ad
  return {
    id: entry.peerId,
    labels: ad.labels,
    runtimes: ad.runtimes.map((r) => r.name),
    memoryMb: Number(ad.memory?.totalBytes ?? 0n) / 2 ** 20,
    cores: ad.cpu?.cores ?? 0,
    datasets: ad.datasets.map((d) => ({ name: d.name, examples: Number(d.examples) })),
  }
}

/** The site a peer aggregates, or undefined when it is no site aggregator. */
export const aggregatedSite = (entry: PeerEntry): string | undefined => entry.ad.labels[AGGREGATOR_LABEL]

/** Alive peers that hold the `client` role, without `self`. */
const clients = (entries: readonly PeerEntry[], authorize: Authorize, self: string): PeerEntry[] =>
  entries.filter((p) => p.status === 'alive' && p.peerId !== self && authorize(p.peerId, 'client') === undefined)

/**
 * The members of `site` a site aggregator drives in a job: alive clients labelled `site=<site>` that are eligible for
 * `spec` by their own ads (no other aggregator).
 */
export function siteMembers(site: string, spec: JobSpec, entries: readonly PeerEntry[], authorize: Authorize, self: string): string[] {
  return clients(entries, authorize, self)
    .filter((p) => p.ad.labels[SITE_LABEL] === site && aggregatedSite(p) === undefined && ineligibility(spec, offerOf(p)) === undefined)
    .map((p) => p.peerId)
}

/**
 * The clients a coordinator invites to `spec`. A site whose aggregator is alive and has an eligible member is one
 * client, its aggregator: its members are not invited directly (they would refuse a second coordinator of the job
 * anyway). A job that cannot run through sites (differential privacy: `hierarchyProblem`) is flat:
 * the members are invited themselves and the aggregators are not.
 */
export function coordinatorCandidates(spec: JobSpec, entries: readonly PeerEntry[], authorize: Authorize, self: string): string[] {
  const alive = clients(entries, authorize, self)
  const eligible = (p: PeerEntry) => aggregatedSite(p) === undefined && ineligibility(spec, offerOf(p)) === undefined
  if (hierarchyProblem(spec) !== undefined) return alive.filter(eligible).map((p) => p.peerId)
  const sitesWithMembers = new Set(alive.filter(eligible).map((p) => p.ad.labels[SITE_LABEL]))
  const aggregators = alive.filter((p) => {
    const site = aggregatedSite(p)
    return site !== undefined && sitesWithMembers.has(site)
  })
  const aggregated = new Set(aggregators.map((p) => aggregatedSite(p)))
  const direct = alive.filter((p) => eligible(p) && !aggregated.has(p.ad.labels[SITE_LABEL]))
  return [...direct, ...aggregators].map((p) => p.peerId)
}
