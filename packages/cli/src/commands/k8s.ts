// `weft k8s`: Kubernetes. `manifests` prints a fabric's objects as YAML (kubectl apply -f -), `seed` makes pod 0's
// identity for them or for the Helm chart, and `up`/`status`/`down` run nodes as an Indexed Job through the API.
// @weft/launch (and the Kubernetes client under it) loads only when a command runs.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { type Command, InvalidArgumentError } from 'commander'
import { positiveInt } from './option-parsers.js'

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

function labelsOf(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq < 1) throw new InvalidArgumentError(`--label takes key=value, got "${pair}"`)
    out[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return out
}

interface ManifestsOptions {
  name?: string
  replicas?: number
  image?: string
  namespace?: string
  cpu?: string
  memory?: string
  cpuLimit?: string
  memoryLimit?: string
  storage?: string
  storageClass?: string
  label: string[]
  k8sLabel: string[]
  seedKey?: string
}

interface ClusterOptions {
  namespace?: string
  kubeconfig?: string
}

interface UpOptions extends ClusterOptions {
  nodes: number
  name?: string
  image?: string
  cores?: number
  memoryMib?: number
  timeLimit?: number
  nodeArg: string[]
}

async function launcherOf(opts: ClusterOptions & { image?: string }) {
  const { kubernetesLauncher } = await import('@weft/launch')
  return kubernetesLauncher({
    ...(opts.kubeconfig === undefined ? {} : { kubeconfig: opts.kubeconfig }),
    ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
    ...(opts.image === undefined ? {} : { image: opts.image }),
  })
}

/** Reads pod 0's identity.key, or makes one (written to `path`, mode 0600, when a path is given). */
async function seedOf(path: string | undefined) {
  const { generateSeedIdentity, seedIdentityFromKey } = await import('@weft/launch')
  if (path !== undefined && existsSync(path)) return seedIdentityFromKey(readFileSync(path))
  const seed = generateSeedIdentity()
  if (path !== undefined) {
    writeFileSync(path, seed.privateKey, { mode: 0o600 })
    chmodSync(path, 0o600)
  }
  return seed
}

/** Registers `weft k8s manifests|seed|up|status|down`. */
export function registerK8sCommands(program: Command): Command {
  const k8s = program.command('k8s').description('Kubernetes: manifests and a Helm chart for a fabric, nodes as Jobs through the API')
  k8s
    .command('manifests')
    .description('print the objects of a Weft fabric (StatefulSet, Services, ConfigMap, seed Secret, PodDisruptionBudget) as YAML')
    .option('--name <name>', 'prefix of the objects and pods (default weft)')
    .option('--replicas <n>', 'nodes (default 3)', positiveInt('--replicas'))
    .option('--image <image>', 'image with weft on its PATH (default weft:0.1.0)')
    .option('--namespace <ns>', 'namespace (default default)')
    .option('--cpu <quantity>', 'CPU request of each node (default 1)')
    .option('--memory <quantity>', 'memory request of each node, also its limit unless --memory-limit (default 2Gi)')
    .option('--cpu-limit <quantity>', 'CPU limit of each node (default none)')
    .option('--memory-limit <quantity>', 'memory limit of each node')
    .option('--storage <quantity>', 'data volume of each node (default 10Gi)')
    .option('--storage-class <class>', 'storage class of the data volumes (default: the cluster default)')
    .option('--label <key=value>', 'Weft label every node advertises (site=…, tier=…), repeatable', collect, [])
    .option('--k8s-label <key=value>', 'extra Kubernetes label on every object, repeatable', collect, [])
    .option('--seed-key <file>', "pod 0's identity.key: read when it exists, else made and written there (keep it to re-render the same fabric)")
    .action(async (opts: ManifestsOptions) => {
      const { kubernetesManifests, toYaml } = await import('@weft/launch')
      const seed = await seedOf(opts.seedKey)
      const objects = kubernetesManifests({
        seed,
        nodeLabels: labelsOf(opts.label),
        labels: labelsOf(opts.k8sLabel),
        ...(opts.name === undefined ? {} : { name: opts.name }),
        ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
        ...(opts.image === undefined ? {} : { image: opts.image }),
        ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
        ...(opts.cpu === undefined ? {} : { cpu: opts.cpu }),
        ...(opts.memory === undefined ? {} : { memory: opts.memory }),
        ...(opts.cpuLimit === undefined ? {} : { cpuLimit: opts.cpuLimit }),
        ...(opts.memoryLimit === undefined ? {} : { memoryLimit: opts.memoryLimit }),
        ...(opts.storage === undefined ? {} : { storage: opts.storage }),
        ...(opts.storageClass === undefined ? {} : { storageClassName: opts.storageClass }),
      })
      process.stdout.write(toYaml(objects))
      if (opts.seedKey === undefined) {
        process.stderr.write(`pod 0's peer id is ${seed.peerId}; its key is only in this output: pass --seed-key <file> to keep it for re-rendering\n`)
      }
    })
  k8s
    .command('seed')
    .description("print Helm values naming pod 0's identity (seed.identityKey, seed.peerId) for deploy/helm/weft")
    .option('--key <file>', 'identity.key to use: read when it exists, else made and written there')
    .action(async (opts: { key?: string }) => {
      const seed = await seedOf(opts.key)
      process.stdout.write(`seed:\n  identityKey: ${Buffer.from(seed.privateKey).toString('base64')}\n  peerId: ${seed.peerId}\n`)
    })
  k8s
    .command('up')
    .description('start nodes as one Indexed Job (each pod runs weft node start <node args>)')
    .requiredOption('--nodes <n>', 'nodes to start', positiveInt('--nodes'))
    .option('--name <name>', 'Job name: a DNS label (default weft-<time>)')
    .option('--namespace <ns>', 'namespace (default: default)')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)')
    .option('--image <image>', 'image with weft on its PATH (default weft:0.1.0)')
    .option('--cores <n>', 'CPU request of each node', positiveInt('--cores'))
    .option('--memory-mib <n>', 'memory request of each node in MiB', positiveInt('--memory-mib'))
    .option('--time-limit <s>', 'seconds before the Job is stopped (activeDeadlineSeconds)', positiveInt('--time-limit'))
    .option('--node-arg <arg>', 'argument to weft node start, repeatable (e.g. --node-arg=--bootstrap --node-arg=/dns4/…)', collect, [])
    .action(async (opts: UpOptions) => {
      const launcher = await launcherOf(opts)
      const launched = await launcher.launch({
        name: opts.name ?? `weft-${Date.now().toString(36)}`,
        nodes: opts.nodes,
        nodeArgs: opts.nodeArg,
        ...(opts.namespace === undefined ? {} : { partition: opts.namespace }),
        ...(opts.cores === undefined ? {} : { coresPerNode: opts.cores }),
        ...(opts.memoryMib === undefined ? {} : { memoryBytesPerNode: opts.memoryMib * 2 ** 20 }),
        ...(opts.timeLimit === undefined ? {} : { timeLimitSeconds: opts.timeLimit }),
      })
      process.stdout.write(`${launched.id}\n`)
    })
  k8s
    .command('status')
    .description('state of a Job started by weft k8s up')
    .argument('<name>', 'Job name or <namespace>/<name>')
    .option('--namespace <ns>', 'namespace (default: default)')
    .option('--kubeconfig <file>', 'kubeconfig')
    .option('--json', 'print one JSON object')
    .action(async (name: string, opts: ClusterOptions & { json?: boolean }) => {
      const status = await (await launcherOf(opts)).status(name)
      process.stdout.write(opts.json === true ? `${JSON.stringify(status)}\n` : `${status.id}: ${status.state}, ${status.running} running (${status.detail})\n`)
    })
  k8s
    .command('down')
    .description('delete a Job and its pods; returns once they are gone')
    .argument('<name>', 'Job name or <namespace>/<name>')
    .option('--namespace <ns>', 'namespace (default: default)')
    .option('--kubeconfig <file>', 'kubeconfig')
    .action(async (name: string, opts: ClusterOptions) => {
      await (await launcherOf(opts)).cancel(name)
      process.stdout.write(`${name}: deleted\n`)
    })
  return k8s
}
