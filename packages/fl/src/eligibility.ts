// Which nodes may be a job's clients: the job's constraints checked against what a node advertises.
import type { JobSpec } from './job-spec.js'

/** What the coordinator knows of a candidate client (from its signed resource ad). */
export interface ClientOffer {
  readonly id: string
  readonly labels: Readonly<Record<string, string>>
  readonly runtimes: readonly string[]
  readonly memoryMb: number
  readonly cores: number
  readonly datasets: readonly { readonly name: string; readonly examples: number }[]
}

/** Why `offer` cannot serve `spec`, or undefined when it can. */
export function ineligibility(spec: JobSpec, offer: ClientOffer): string | undefined {
  const e = spec.clients.eligibility
  if (e.peers.length > 0 && !e.peers.includes(offer.id)) return 'not in clients.eligibility.peers'
  const ds = offer.datasets.find((d) => d.name === spec.dataset)
  if (ds === undefined) return `no local data set named "${spec.dataset}"`
  if (ds.examples < e.minExamples) return `data set "${spec.dataset}" has ${ds.examples} examples, fewer than ${e.minExamples}`
  for (const [k, v] of Object.entries(e.labels)) {
    if (offer.labels[k] !== v) return `label ${k}=${offer.labels[k] ?? '(none)'}, wanted ${v}`
  }
  if (e.runtime !== undefined && !offer.runtimes.includes(e.runtime)) return `no ${e.runtime} runtime`
  if (offer.memoryMb < e.minMemoryMb) return `${offer.memoryMb} MB memory, fewer than ${e.minMemoryMb}`
  if (offer.cores < e.minCores) return `${offer.cores} cores, fewer than ${e.minCores}`
  return undefined
}
