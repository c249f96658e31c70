// KubernetesLauncher: starts a group of Weft nodes as one Indexed Job (batch/v1) through the Kubernetes API, reads its
// state from the Job's status, and cancels it by deleting the Job in the foreground. The API client
// (@kubernetes/client-node) loads on first use, so importing @weft/launch stays cheap.
import type { BatchV1Api, KubeConfig, V1Job } from '@kubernetes/client-node'
import { LaunchError, type Launched, type Launcher, type LaunchRequest, type LaunchState, type LaunchStatus } from '../launcher.js'

/** Where the launcher works and what its pods run. */
export interface KubernetesLauncherInit {
  /** A kubeconfig file; absent: the default ($KUBECONFIG, ~/.kube/config, or the in-cluster service account). */
  readonly kubeconfig?: string
  /** Namespace used when a request has no `partition` (default 'default'). */
  readonly namespace?: string
  /** Image with `weft` on its PATH (default 'weft:0.1.0'). */
  readonly image?: string
  /** Longest `cancel()` waits for the Job to be gone (default 60 s). */
  readonly cancelTimeoutMs?: number
  /** Time between reads while `cancel()` waits (default 1 s). */
  readonly pollIntervalMs?: number
}

/** Time, injected so tests run the cancel wait without real delays. */
export interface KubernetesLauncherComponents {
  readonly now?: () => number
  readonly sleep?: (ms: number) => Promise<void>
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/

interface ApiFailure {
  readonly code?: number
  readonly body?: unknown
  readonly message?: string
}

function apiMessage(err: unknown): { code: number | undefined; message: string } {
  const e = err as ApiFailure
  let body = e.body
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body)
    } catch {}
  }
  const message =
    typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
      ? (body as { message: string }).message
      : (e.message ?? String(err))
  return { code: typeof e.code === 'number' ? e.code : undefined, message }
}

/** The Job a request becomes (exported for tests and `weft k8s`). */
export function kubernetesJob(request: LaunchRequest, namespace: string, image: string): V1Job {
  const labels = { 'app.kubernetes.io/name': 'weft', 'weft.job': request.name }
  const requests: Record<string, string> = {}
  if (request.coresPerNode !== undefined) requests['cpu'] = String(request.coresPerNode)
  if (request.memoryBytesPerNode !== undefined) requests['memory'] = String(request.memoryBytesPerNode)
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: request.name, namespace, labels },
    spec: {
      completionMode: 'Indexed',
      completions: request.nodes,
      parallelism: request.nodes,
      backoffLimit: 0,
      ...(request.timeLimitSeconds === undefined ? {} : { activeDeadlineSeconds: request.timeLimitSeconds }),
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'weft',
              image,
              command: ['weft'],
              args: ['node', 'start', ...request.nodeArgs],
              // Each pod's own data directory (identity, state), gone with the pod.
              env: [{ name: 'WEFT_HOME', value: '/data' }, ...Object.entries(request.env ?? {}).map(([name, value]) => ({ name, value }))],
              ...(Object.keys(requests).length === 0 ? {} : { resources: { requests } }),
              volumeMounts: [{ name: 'data', mountPath: '/data' }],
            },
          ],
          volumes: [{ name: 'data', emptyDir: {} }],
        },
      },
    },
  }
}

function checkRequest(request: LaunchRequest): void {
  if (!NAME.test(request.name)) throw new LaunchError(`name must be 1-40 characters of a-z, 0-9 and - (a DNS label), got '${request.name}'`)
  if (!Number.isSafeInteger(request.nodes) || request.nodes < 1) throw new LaunchError(`nodes must be a positive integer, got ${request.nodes}`)
  if (request.coresPerNode !== undefined && !(request.coresPerNode > 0)) throw new LaunchError(`coresPerNode must be > 0, got ${request.coresPerNode}`)
  if (request.memoryBytesPerNode !== undefined && !(Number.isSafeInteger(request.memoryBytesPerNode) && request.memoryBytesPerNode > 0)) {
    throw new LaunchError(`memoryBytesPerNode must be a positive integer, got ${request.memoryBytesPerNode}`)
  }
  if (request.timeLimitSeconds !== undefined && !(Number.isSafeInteger(request.timeLimitSeconds) && request.timeLimitSeconds > 0)) {
    throw new LaunchError(`timeLimitSeconds must be a positive integer, got ${request.timeLimitSeconds}`)
  }
}

/** Maps a Job to the launcher's state: its conditions first, then its pod counts. */
export function jobStatus(id: string, job: V1Job): LaunchStatus {
  const s = job.status ?? {}
  const active = s.active ?? 0
  const running = s.ready ?? active
  const conditions = (s.conditions ?? []).filter((c) => c.status === 'True')
  const has = (type: string) => conditions.find((c) => c.type === type)
  const counts = `active ${active}, ready ${s.ready ?? 0}, succeeded ${s.succeeded ?? 0}, failed ${s.failed ?? 0}`
  const reason = (type: string) => {
    const c = has(type)
    return c === undefined ? '' : ` (${[c.reason, c.message].filter((x) => x !== undefined && x !== '').join(': ')})`
  }
  let state: LaunchState
  let detail: string
  if (job.metadata?.deletionTimestamp !== undefined) {
    state = 'cancelled'
    detail = `deleting; ${counts}`
  } else if (has('Complete') !== undefined) {
    state = 'done'
    detail = `Complete${reason('Complete')}; ${counts}`
  } else if (has('Failed') !== undefined || has('FailureTarget') !== undefined) {
    const type = has('Failed') !== undefined ? 'Failed' : 'FailureTarget'
    state = 'failed'
    detail = `${type}${reason(type)}; ${counts}`
  } else if (has('Suspended') !== undefined) {
    state = 'pending'
    detail = `Suspended; ${counts}`
  } else {
    state = running > 0 ? 'running' : 'pending'
    detail = counts
  }
  return { id, state, running, detail }
}

export class KubernetesLauncher implements Launcher {
  readonly kind = 'kubernetes'
  readonly #init: KubernetesLauncherInit
  readonly #now: () => number
  readonly #sleep: (ms: number) => Promise<void>
  #api: Promise<{ batch: BatchV1Api; config: KubeConfig }> | undefined

  constructor(init: KubernetesLauncherInit = {}, components: KubernetesLauncherComponents = {}) {
    this.#init = init
    this.#now = components.now ?? Date.now
    this.#sleep = components.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)))
  }

  #client(): Promise<{ batch: BatchV1Api; config: KubeConfig }> {
    this.#api ??= (async () => {
      const k8s = await import('@kubernetes/client-node')
      const config = new k8s.KubeConfig()
      try {
        if (this.#init.kubeconfig === undefined) config.loadFromDefault()
        else config.loadFromFile(this.#init.kubeconfig)
      } catch (err) {
        throw new LaunchError(`cannot load kubeconfig ${this.#init.kubeconfig ?? '(default)'}: ${(err as Error).message}`, { cause: err })
      }
      if (config.getCurrentCluster() === null) throw new LaunchError(`kubeconfig ${this.#init.kubeconfig ?? '(default)'} names no current cluster`)
      return { batch: config.makeApiClient(k8s.BatchV1Api), config }
    })()
    this.#api.catch(() => {
      this.#api = undefined
    })
    return this.#api
  }

  #where(id: string): { namespace: string; name: string } {
    const slash = id.indexOf('/')
    const namespace = slash < 0 ? (this.#init.namespace ?? 'default') : id.slice(0, slash)
    const name = slash < 0 ? id : id.slice(slash + 1)
    if (!NAME.test(name) || namespace === '') throw new LaunchError(`a Kubernetes launch id is <namespace>/<job name> or <job name>, got '${id}'`)
    return { namespace, name }
  }

  async launch(request: LaunchRequest): Promise<Launched> {
    checkRequest(request)
    const namespace = request.partition ?? this.#init.namespace ?? 'default'
    const { batch } = await this.#client()
    const body = kubernetesJob(request, namespace, this.#init.image ?? 'weft:0.1.0')
    try {
      await batch.createNamespacedJob({ namespace, body })
    } catch (err) {
      const { code, message } = apiMessage(err)
      throw new LaunchError(`creating Job ${namespace}/${request.name} failed${code === undefined ? '' : ` (HTTP ${code})`}: ${message}`, { cause: err })
    }
    return { id: `${namespace}/${request.name}`, launcher: this.kind }
  }

  async status(id: string): Promise<LaunchStatus> {
    const { namespace, name } = this.#where(id)
    const { batch } = await this.#client()
    try {
      return jobStatus(`${namespace}/${name}`, await batch.readNamespacedJobStatus({ name, namespace }))
    } catch (err) {
      const { code, message } = apiMessage(err)
      throw new LaunchError(`reading Job ${namespace}/${name} failed${code === undefined ? '' : ` (HTTP ${code})`}: ${message}`, { cause: err })
    }
  }

  async cancel(id: string): Promise<void> {
    const { namespace, name } = this.#where(id)
    const { batch } = await this.#client()
    try {
      await batch.deleteNamespacedJob({ name, namespace, body: { propagationPolicy: 'Foreground' } })
    } catch (err) {
      const { code, message } = apiMessage(err)
      if (code === 404) return
      throw new LaunchError(`deleting Job ${namespace}/${name} failed${code === undefined ? '' : ` (HTTP ${code})`}: ${message}`, { cause: err })
    }
    // Foreground deletion: the Job stays (with a deletionTimestamp) until its pods are gone.
    const deadline = this.#now() + (this.#init.cancelTimeoutMs ?? 60_000)
    for (;;) {
      try {
        await batch.readNamespacedJob({ name, namespace })
      } catch (err) {
        const { code, message } = apiMessage(err)
        if (code === 404) return
        throw new LaunchError(`waiting for Job ${namespace}/${name} to be deleted failed${code === undefined ? '' : ` (HTTP ${code})`}: ${message}`, { cause: err })
      }
      if (this.#now() >= deadline) throw new LaunchError(`Job ${namespace}/${name} is still being deleted after ${this.#init.cancelTimeoutMs ?? 60_000} ms (its pods have not stopped)`)
      await this.#sleep(this.#init.pollIntervalMs ?? 1_000)
    }
  }
}

/**
 * A launcher that runs each group as an Indexed Job: `completions = parallelism = nodes`, pods labelled
 * `app.kubernetes.io/name: weft` and `weft.job: <name>`, each running `weft node start <nodeArgs…>`.
 * Launch ids are `<namespace>/<job name>`; `status` and `cancel` also take a bare Job name (the default namespace).
 * @param init - kubeconfig, default namespace, image, cancel bounds
 * @param components - injected time (tests)
 * @returns the launcher; its methods throw LaunchError carrying the API server's message
 */
export function kubernetesLauncher(init: KubernetesLauncherInit = {}, components: KubernetesLauncherComponents = {}): Launcher {
  return new KubernetesLauncher(init, components)
}
