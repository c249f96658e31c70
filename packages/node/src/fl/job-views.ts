// How the node's API and CLI show federated jobs: job and round views built from the store and the live coordinator,
// and a job's models by round (for export).
import type { JobView } from '@weft/api-client'
import type { Coordinator, JobRecord, JobStore, RoundRecord } from '@weft/fl'
import { encodeModelArtifact, paramCount, paramInfo } from '@weft/runtime'

/** A job as the API shows it, from the store and (while it runs here) the coordinator's live state. */
export function jobView(job: JobRecord, store: JobStore, coordinator: Pick<Coordinator, 'live'>, coordinatorId: string): JobView {
  const rounds = store.listRounds(job.id)
  const closed = rounds.filter((r) => r.status === 'closed')
  const last = closed.at(-1)
  const lastEval = [...closed].reverse().find((r) => r.metrics?.evaluation !== undefined)
  const ev = lastEval?.metrics?.evaluation
  const acc = ev?.centralized?.accuracy ?? ev?.federated?.accuracy
  const loss = ev?.centralized?.loss ?? ev?.federated?.loss
  const live = coordinator.live(job.id)
  return {
    id: job.id,
    name: job.spec.name,
    status: job.status,
    coordinator: coordinatorId,
    submitter: job.submitter,
    completedRounds: closed.length,
    rounds: job.spec.rounds,
    strategy: job.spec.strategy.name,
    dataset: job.spec.dataset,
    model: { architecture: job.spec.model.architecture, params: paramCount(job.spec.model) },
    modelHash: job.modelHash,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.error === undefined ? {} : { error: job.error }),
    ...(live === undefined ? {} : { live }),
    ...(last?.metrics === undefined
      ? {}
      : {
          latest: {
            round: last.round,
            trainLoss: last.metrics.trainLoss,
            ...(acc === undefined ? {} : { accuracy: acc }),
            ...(loss === undefined ? {} : { loss }),
          },
        }),
    spec: job.spec,
    models: modelsByRound(job, rounds)
      .filter((m) => store.hasModel(m.hash))
      .map((m) => m.round),
    history: rounds.map((r) => ({
      round: r.round,
      status: r.status,
      participants: r.participants.length,
      clients: r.participants,
      delivered: r.metrics?.secureAggregation?.contributors ?? store.contributors(job.id, r.round),
      startedAt: r.startedAt,
      ...(r.endedAt === undefined ? {} : { endedAt: r.endedAt }),
      ...(r.metrics === undefined ? {} : { metrics: r.metrics }),
    })),
  }
}

/**
 * A job's view for a peer other than this node's operator. For a differentially private job each round's clients
 * are withheld (the counts stay): the accountant's amplification by sampling holds only against someone who does not
 * know who was sampled, and a remote submitter sees the models. The operator of the coordinator, the curator of
 * central DP, sees them on its own API.
 */
export function remoteJobView(view: JobView): JobView {
  if (view.spec.privacy.dp === undefined) return view
  return {
    ...view,
    history: view.history.map((r) => ({
      ...r,
      clients: [],
      delivered: [],
      ...(r.metrics?.secureAggregation === undefined ? {} : { metrics: { ...r.metrics, secureAggregation: { ...r.metrics.secureAggregation, contributors: [] } } }),
    })),
  }
}

/** A job's models by round: the initial one (round 0), then each closed round's output, oldest first. */
export function modelsByRound(job: JobRecord, rounds: readonly RoundRecord[]): { round: number; hash: string }[] {
  const out = [{ round: 0, hash: rounds[0]?.inputHash ?? job.modelHash }]
  for (const r of rounds) if (r.status === 'closed' && r.outputHash !== undefined) out.push({ round: r.round, hash: r.outputHash })
  return out
}

/** The job's model after `round` ('last' or a number) as a Weft model artifact, or undefined when not stored. */
export function exportJobModel(store: JobStore, id: string, round: number | 'last'): { bytes: Uint8Array; round: number } | undefined {
  const job = store.getJob(id)
  if (job === undefined) return undefined
  const models = modelsByRound(job, store.listRounds(id))
  const model = round === 'last' ? models.at(-1) : models.find((m) => m.round === round)
  const weights = model === undefined ? undefined : store.getModel(model.hash)
  if (model === undefined || weights === undefined) return undefined
  const { bytes } = encodeModelArtifact({ spec: job.spec.model, params: paramInfo(job.spec.model), weights })
  return { bytes, round: model.round }
}
