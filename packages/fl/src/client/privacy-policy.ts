// A client's privacy policy: what a job must promise before a client trains on its data, checked by the client on
// every invitation (against the job's spec) and every task (against its hints), whatever the coordinator says
// elsewhere. Every refusal names the rule that refused.
import { paramCount } from '@weft/runtime'
import type { ClientTrainHints } from '../contracts/strategy.js'
import type { JobSpec } from '../job-spec.js'

export interface ClientPrivacyPolicy {
  /** Smallest local batch (an update from batches of one example can reveal that example). */
  readonly minBatchSize: number
  /** Fewest distinct examples one update may be computed from (the data set, or steps × batch size of it). */
  readonly minExamplesPerUpdate: number
  /** Jobs must use secure aggregation. */
  readonly requireSecureAggregation: boolean
  /** Jobs must use differential privacy with ε at most this. */
  readonly maxEpsilon?: number | undefined
  /** Architectures trained (absent: any). */
  readonly architectures?: readonly string[] | undefined
  /** Largest model in parameters (absent: any). */
  readonly maxParams?: number | undefined
  /** Most rounds of one job (absent: any). */
  readonly maxRounds?: number | undefined
  /** Data sets jobs may use (absent: all the client has). */
  readonly datasets?: readonly string[] | undefined
}

/** The distinct examples one local update of `spec` is computed from on a data set of `datasetSize` examples. */
export function examplesPerUpdate(spec: JobSpec, datasetSize: number): number {
  const { steps, batchSize } = spec.train
  return steps === undefined ? datasetSize : Math.min(steps * batchSize, datasetSize)
}

/**
 * Why the policy refuses to join `spec` with a data set of `datasetSize` examples, or undefined when it allows it.
 * @returns the refusal, naming the policy rule (`fl.policy.<rule>`)
 */
export function policyRefusesJob(policy: ClientPrivacyPolicy, spec: JobSpec, datasetSize: number): string | undefined {
  if (policy.datasets !== undefined && !policy.datasets.includes(spec.dataset)) {
    return `fl.policy.datasets: data set "${spec.dataset}" may not be used (allowed: ${policy.datasets.join(', ') || 'none'})`
  }
  if (policy.architectures !== undefined && !policy.architectures.includes(spec.model.architecture)) {
    return `fl.policy.architectures: ${spec.model.architecture} is not allowed (allowed: ${policy.architectures.join(', ') || 'none'})`
  }
  if (policy.maxParams !== undefined && paramCount(spec.model) > policy.maxParams) {
    return `fl.policy.maxParams: the model has ${paramCount(spec.model)} parameters; at most ${policy.maxParams}`
  }
  if (policy.maxRounds !== undefined && spec.rounds > policy.maxRounds) return `fl.policy.maxRounds: the job has ${spec.rounds} rounds; at most ${policy.maxRounds}`
  if (spec.train.batchSize < policy.minBatchSize) return `fl.policy.minBatchSize: batches of ${spec.train.batchSize}; at least ${policy.minBatchSize}`
  const perUpdate = examplesPerUpdate(spec, datasetSize)
  if (perUpdate < policy.minExamplesPerUpdate) {
    return `fl.policy.minExamplesPerUpdate: an update would come from ${perUpdate} examples; at least ${policy.minExamplesPerUpdate}`
  }
  if (policy.requireSecureAggregation && spec.privacy.secureAggregation === undefined) {
    return 'fl.policy.requireSecureAggregation: the job does not use secure aggregation'
  }
  if (policy.maxEpsilon !== undefined) {
    const dp = spec.privacy.dp
    const epsilon = dp?.epsilonLimit ?? dp?.targetEpsilon
    if (dp === undefined) return `fl.policy.maxEpsilon: the job has no differential privacy; at most ε = ${policy.maxEpsilon} is required`
    if (epsilon === undefined) return `fl.policy.maxEpsilon: the job sets no ε limit (privacy.dp.epsilonLimit or targetEpsilon); at most ${policy.maxEpsilon} is required`
    if (epsilon > policy.maxEpsilon) return `fl.policy.maxEpsilon: the job allows ε = ${epsilon}; at most ${policy.maxEpsilon}`
  }
  return undefined
}

/** Why the policy refuses a task whose hints do not keep the job's promises (a coordinator changing its mind). */
export function policyRefusesTask(policy: ClientPrivacyPolicy, spec: JobSpec, hints: ClientTrainHints): string | undefined {
  if ((policy.requireSecureAggregation || spec.privacy.secureAggregation !== undefined) && hints.secure === undefined) {
    return 'the job promised secure aggregation; this task has no secure session'
  }
  const dp = spec.privacy.dp
  // Local and client placements add noise or clip on the client: the task must carry what the spec promised.
  if ((policy.maxEpsilon !== undefined || dp !== undefined) && dp !== undefined && dp.mode !== 'central' && hints.dp === undefined) {
    return 'the job promised differential privacy on the client; this task has no clip norm'
  }
  return undefined
}
