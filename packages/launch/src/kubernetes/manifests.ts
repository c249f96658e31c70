// The Kubernetes objects of a Weft fabric (a StatefulSet of nodes, their config, Services, identity and disruption
// budget) as plain typed objects, and their rendering as multi-document YAML. deploy/helm/weft renders the same
// objects from its values; test/manifests.test.ts checks that they agree.

import type { StatefulSet } from 'kubernetes-types/apps/v1.js'
import type { ConfigMap, Secret, Service } from 'kubernetes-types/core/v1.js'
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1.js'
import { stringify } from 'yaml'
import type { SeedIdentity } from './identity.js'

/** What to deploy; every field has a default (see `kubernetesManifestDefaults`). */
export interface KubernetesManifestsInit {
  /** Prefix of every object's name and the pods' names (`<name>-0` …): a DNS label, at most 40 characters. */
  readonly name?: string
  readonly namespace?: string
  readonly replicas?: number
  /** Image with `weft` on its PATH and a POSIX shell (the init container copies the seed key). */
  readonly image?: string
  readonly imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never'
  /** Requests of each node (Kubernetes quantities: '1', '500m', '2Gi'). */
  readonly cpu?: string
  readonly memory?: string
  /** Limits of each node; absent: the memory request is also the memory limit and CPU is not limited. */
  readonly cpuLimit?: string
  readonly memoryLimit?: string
  /** Size of each node's data volume (identity, state, block store). */
  readonly storage?: string
  /** Storage class of the data volumes (absent: the cluster's default). */
  readonly storageClassName?: string
  /** libp2p TCP port and control API port of every node. */
  readonly p2pPort?: number
  readonly apiPort?: number
  /** Weft labels each node advertises (`labels` of its config: site=…, tier=…). */
  readonly nodeLabels?: Readonly<Record<string, string>>
  /** Extra Kubernetes labels on every object and pod. */
  readonly labels?: Readonly<Record<string, string>>
  /** Pods the disruption budget keeps available (absent: it lets one pod at a time be evicted). */
  readonly minAvailable?: number
  /** Pod 0's identity, which every pod bootstraps to; make one with `generateSeedIdentity()`. */
  readonly seed: SeedIdentity
}

/** The defaults of KubernetesManifestsInit (the Helm chart's values.yaml holds the same). */
export const kubernetesManifestDefaults = Object.freeze({
  name: 'weft',
  namespace: 'default',
  replicas: 3,
  image: 'weft:0.1.0',
  imagePullPolicy: 'IfNotPresent',
  cpu: '1',
  memory: '2Gi',
  storage: '10Gi',
  p2pPort: 4001,
  apiPort: 8080,
} as const)

/** The objects of one fabric, in the order they are best applied. */
export type KubernetesObject = ConfigMap | Secret | Service | StatefulSet | PodDisruptionBudget

/** Pod 0 (its hostname ends in -0) copies the seed key onto its volume when the volume has no identity yet. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a JavaScript template
const COPY_SEED = 'if [ "${HOSTNAME##*-}" = 0 ] && [ ! -f /data/identity.key ]; then cp /seed/identity.key /data/identity.key && chmod 600 /data/identity.key; fi'

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$/

function checkQuantity(name: string, value: string | undefined): void {
  if (value !== undefined && !QUANTITY.test(value)) throw new TypeError(`${name} must be a Kubernetes quantity such as 500m, 2 or 4Gi, got '${value}'`)
}

function checkPort(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new RangeError(`${name} must be a port 1-65535, got ${value}`)
}

/**
 * The Kubernetes objects of a Weft fabric: a Secret with pod 0's identity key, a ConfigMap with the node config, a
 * headless Service (stable DNS names `<name>-<i>.<name>-peers.<ns>.svc.cluster.local`), a ClusterIP Service for the
 * API and metrics, a StatefulSet of `replicas` nodes with a data volume each, and a PodDisruptionBudget.
 * @param init - what to deploy; `seed` is required, the rest defaults to `kubernetesManifestDefaults`
 * @returns the objects, in apply order
 * @throws TypeError, RangeError naming the option that is out of range
 */
export function kubernetesManifests(init: KubernetesManifestsInit): KubernetesObject[] {
  const d = kubernetesManifestDefaults
  const name = init.name ?? d.name
  const namespace = init.namespace ?? d.namespace
  const replicas = init.replicas ?? d.replicas
  const p2pPort = init.p2pPort ?? d.p2pPort
  const apiPort = init.apiPort ?? d.apiPort
  if (!DNS_LABEL.test(name)) throw new TypeError(`name must be 1-40 characters of a-z, 0-9 and -, got '${name}'`)
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(namespace)) throw new TypeError(`namespace must be a DNS label, got '${namespace}'`)
  if (!Number.isSafeInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be a positive integer, got ${replicas}`)
  checkPort('p2pPort', p2pPort)
  checkPort('apiPort', apiPort)
  if (p2pPort === apiPort) throw new RangeError('p2pPort and apiPort must differ')
  for (const [k, v] of Object.entries({ cpu: init.cpu, memory: init.memory, cpuLimit: init.cpuLimit, memoryLimit: init.memoryLimit, storage: init.storage })) {
    checkQuantity(k, v)
  }
  const minAvailable = init.minAvailable
  if (minAvailable !== undefined && (!Number.isSafeInteger(minAvailable) || minAvailable < 0 || minAvailable > replicas)) {
    throw new RangeError(`minAvailable must be an integer 0-${replicas}, got ${minAvailable}`)
  }

  for (const key of Object.keys(init.labels ?? {})) {
    if (key.startsWith('app.kubernetes.io/')) throw new TypeError(`labels: ${key} is set by the manifests themselves; choose another key`)
  }
  const selector = { 'app.kubernetes.io/name': 'weft', 'app.kubernetes.io/instance': name }
  const labels = { ...init.labels, ...selector, 'app.kubernetes.io/component': 'node', 'app.kubernetes.io/version': '0.1.0' }
  const metadata = (suffix: string) => ({ name: `${name}${suffix}`, namespace, labels })
  const peers = `${name}-peers`
  const seedAddr = `/dns4/${name}-0.${peers}.${namespace}.svc.cluster.local/tcp/${p2pPort}/p2p/${init.seed.peerId}`
  const config = {
    dataDir: '/data',
    listen: [`/ip4/0.0.0.0/tcp/${p2pPort}`],
    bootstrap: [seedAddr],
    labels: { ...init.nodeLabels },
    api: { host: '0.0.0.0', port: apiPort },
  }
  const cpuLimit = init.cpuLimit
  const memoryLimit = init.memoryLimit ?? init.memory ?? d.memory
  const resources = {
    requests: { cpu: init.cpu ?? d.cpu, memory: init.memory ?? d.memory },
    limits: { ...(cpuLimit === undefined ? {} : { cpu: cpuLimit }), memory: memoryLimit },
  }

  const secret: Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata('-seed'),
    type: 'Opaque',
    data: { 'identity.key': Buffer.from(init.seed.privateKey).toString('base64') },
  }
  const configMap: ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata('-config'),
    data: { 'node.yaml': stringify(config) },
  }
  const headless: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata('-peers'),
    spec: {
      clusterIP: 'None',
      // Peers find each other before they are ready: a node is ready only once it listens, and pod 0 must be dialable.
      publishNotReadyAddresses: true,
      selector,
      ports: [{ name: 'p2p', port: p2pPort, targetPort: 'p2p', protocol: 'TCP' }],
    },
  }
  const api: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata('-api'),
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [{ name: 'api', port: apiPort, targetPort: 'api', protocol: 'TCP' }],
    },
  }
  const statefulSet: StatefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: metadata(''),
    spec: {
      serviceName: peers,
      replicas,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selector },
      template: {
        metadata: { labels },
        spec: {
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selector } } },
              ],
            },
          },
          initContainers: [
            {
              name: 'seed-identity',
              image: init.image ?? d.image,
              imagePullPolicy: init.imagePullPolicy ?? d.imagePullPolicy,
              // Pod 0 starts with the seed key (once: a key already on its volume is kept); the others make their own.
              command: ['sh', '-c', COPY_SEED],
              volumeMounts: [
                { name: 'data', mountPath: '/data' },
                { name: 'seed', mountPath: '/seed', readOnly: true },
              ],
            },
          ],
          containers: [
            {
              name: 'weft',
              image: init.image ?? d.image,
              imagePullPolicy: init.imagePullPolicy ?? d.imagePullPolicy,
              command: ['weft'],
              args: ['node', 'start', '--config', '/etc/weft/node.yaml'],
              ports: [
                { name: 'p2p', containerPort: p2pPort, protocol: 'TCP' },
                { name: 'api', containerPort: apiPort, protocol: 'TCP' },
              ],
              resources,
              // The API has no unauthenticated health route: a node is live while its API accepts connections and
              // ready once it listens on the mesh.
              readinessProbe: { tcpSocket: { port: 'p2p' }, initialDelaySeconds: 5, periodSeconds: 10 },
              livenessProbe: { tcpSocket: { port: 'api' }, initialDelaySeconds: 30, periodSeconds: 20, failureThreshold: 3 },
              volumeMounts: [
                { name: 'data', mountPath: '/data' },
                { name: 'config', mountPath: '/etc/weft', readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config` } },
            { name: 'seed', secret: { secretName: `${name}-seed`, defaultMode: 0o400 } },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', labels },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(init.storageClassName === undefined ? {} : { storageClassName: init.storageClassName }),
            resources: { requests: { storage: init.storage ?? d.storage } },
          },
        },
      ],
    },
  }
  const budget: PodDisruptionBudget = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(''),
    spec: { ...(minAvailable === undefined ? { maxUnavailable: 1 } : { minAvailable }), selector: { matchLabels: selector } },
  }
  return [secret, configMap, headless, api, statefulSet, budget]
}

/** Renders objects as one multi-document YAML stream (`kubectl apply -f -` reads it). */
export function toYaml(objects: readonly object[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n')
}
