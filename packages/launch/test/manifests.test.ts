// The Kubernetes manifests and the Helm chart: every object is valid against the Kubernetes OpenAPI schemas (the
// kubernetes-models validators) and names no field the API does not know; the StatefulSet asks for what the options
// say; and the chart, rendered for the same values by a strict evaluator of its template subset (helm itself is not
// installable here), gives exactly the objects kubernetesManifests() gives.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as k8s from '@kubernetes/client-node'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { describe, expect, it } from 'vitest'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { generateSeedIdentity, type KubernetesManifestsInit, kubernetesJob, kubernetesManifests, seedIdentityFromKey, toYaml } from '../src/index.js'
import { HelmTemplates } from './helm-template.js'

const chartDir = join(import.meta.dirname, '..', '..', '..', 'deploy', 'helm', 'weft')
const seed = generateSeedIdentity()

/** Validates one object with the official schemas (kubernetes-models); throws naming the failing field. */
function validateSchema(o: { kind?: string }): void {
  const models: Record<string, new (data: never) => { validate(): void }> = { ConfigMap, Secret, Service, StatefulSet, PodDisruptionBudget }
  const Model = models[o.kind ?? '']
  if (Model === undefined) throw new Error(`no schema for kind ${o.kind}`)
  new Model(o as never).validate()
}

/** Fields the API does not know (the schemas allow them; the API server drops them, or refuses them under strict field validation). */
function unknownFields(value: unknown, type: string, at: string): string[] {
  if (value === undefined || value === null) return []
  const array = /^Array<(.+)>$/.exec(type)
  if (array !== null) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1] as string, `${at}[${i}]`)) : [`${at}: not a list`]
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map !== null) return Object.entries(value as object).flatMap(([k, v]) => unknownFields(v, map[1] as string, `${at}.${k}`))
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; type: string }[] }>)[type]
  if (model?.getAttributeTypeMap === undefined) return []
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]))
  return Object.entries(value as object).flatMap(([k, v]) => {
    const t = fields.get(k)
    return t === undefined ? [`${at}.${k}: not a field of ${type}`] : unknownFields(v, t, `${at}.${k}`)
  })
}

function checkObject(o: { kind?: string }): void {
  validateSchema(o)
  expect(unknownFields(o, `V1${o.kind}`, o.kind ?? '?')).toEqual([])
}

/** Renders the chart for `values` (over values.yaml) with the strict evaluator, as helm template would. */
function renderChart(values: Record<string, unknown>, namespace: string): object[] {
  const files = new Map<string, string>()
  for (const name of readdirSync(join(chartDir, 'templates'))) files.set(name, readFileSync(join(chartDir, 'templates', name), 'utf8'))
  const templates = new HelmTemplates(files)
  const defaults = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>
  const chart = parseYaml(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Record<string, unknown>
  const context = {
    Values: { ...defaults, ...values },
    Release: { Namespace: namespace, Name: 'weft' },
    Chart: { ...chart, AppVersion: chart['appVersion'] },
  }
  const objects: object[] = []
  for (const name of [...files.keys()].filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(templates.render(name, context))) {
      if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors[0]?.message}`)
      const o = doc.toJS({ maxAliasCount: 0 }) as object | null
      if (o !== null) objects.push(o)
    }
  }
  expect(templates.render('NOTES.txt', context)).toContain(`/p2p/${seed.peerId}`)
  return objects
}

/** Objects keyed by kind/name, with node.yaml parsed (two YAML writers may lay out the same config differently). */
function normalize(objects: readonly object[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const o of objects as { kind: string; metadata: { name: string }; data?: Record<string, string> }[]) {
    const copy = structuredClone(o)
    if (copy.kind === 'ConfigMap' && copy.data !== undefined) copy.data = Object.fromEntries(Object.entries(copy.data).map(([k, v]) => [k, parseYaml(v)]))
    out[`${o.kind}/${o.metadata.name}`] = copy
  }
  return out
}

const tenNodes: KubernetesManifestsInit = {
  replicas: 10,
  namespace: 'weft',
  image: 'registry.example/weft:0.1.0',
  cpu: '2',
  memory: '4Gi',
  storage: '20Gi',
  nodeLabels: { site: 'dc1', tier: 'dc' },
  labels: { team: 'ml' },
  seed,
}

describe('kubernetesManifests', () => {
  it('gives a schema-valid fabric of 10 nodes whose StatefulSet asks for what the options say', () => {
    const objects = kubernetesManifests(tenNodes)
    expect(objects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      'Secret/weft-seed',
      'ConfigMap/weft-config',
      'Service/weft-peers',
      'Service/weft-api',
      'StatefulSet/weft',
      'PodDisruptionBudget/weft',
    ])
    for (const o of objects) checkObject(o)
    const set = objects.find((o) => o.kind === 'StatefulSet') as import('kubernetes-types/apps/v1.js').StatefulSet
    expect(set.spec?.replicas).toBe(10)
    const container = set.spec?.template.spec?.containers[0]
    expect(container?.image).toBe('registry.example/weft:0.1.0')
    expect(container?.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '4Gi' } })
    expect(container?.args).toEqual(['node', 'start', '--config', '/etc/weft/node.yaml'])
    expect(set.spec?.volumeClaimTemplates?.[0]?.spec?.resources?.requests).toEqual({ storage: '20Gi' })
    expect(set.spec?.template.metadata?.labels).toMatchObject({ team: 'ml', 'app.kubernetes.io/name': 'weft' })
    const config = parseYaml((objects[1] as { data: Record<string, string> }).data['node.yaml'] as string)
    expect(config).toEqual({
      dataDir: '/data',
      listen: ['/ip4/0.0.0.0/tcp/4001'],
      bootstrap: [`/dns4/weft-0.weft-peers.weft.svc.cluster.local/tcp/4001/p2p/${seed.peerId}`],
      labels: { site: 'dc1', tier: 'dc' },
      api: { host: '0.0.0.0', port: 8080 },
    })
  })

  it('renders to multi-document YAML that parses back to the same objects', () => {
    const objects = kubernetesManifests(tenNodes)
    const docs = parseAllDocuments(toYaml(objects)).map((d) => d.toJS())
    expect(docs).toEqual(JSON.parse(JSON.stringify(objects)))
  })

  it('refuses options out of range, naming them', () => {
    expect(() => kubernetesManifests({ seed, replicas: 0 })).toThrow(/replicas/)
    expect(() => kubernetesManifests({ seed, cpu: 'lots' })).toThrow(/cpu/)
    expect(() => kubernetesManifests({ seed, name: 'Weft_1' })).toThrow(/name/)
    expect(() => kubernetesManifests({ seed, apiPort: 4001 })).toThrow(/differ/)
    expect(() => kubernetesManifests({ seed, labels: { 'app.kubernetes.io/name': 'x' } })).toThrow(/labels/)
  })

  it('the schema checks catch a wrong type and an unknown field', () => {
    const [, , , , set] = kubernetesManifests({ seed }) as [unknown, unknown, unknown, unknown, { kind: string; spec: Record<string, unknown> }]
    expect(() => validateSchema({ ...set, spec: { ...set.spec, replicas: '3' } } as { kind: string })).toThrow(/replicas/)
    expect(unknownFields({ ...set, spec: { ...set.spec, replica: 3 } }, 'V1StatefulSet', 'StatefulSet')).toEqual(['StatefulSet.spec.replica: not a field of V1StatefulSetSpec'])
  })

  it("the seed's peer id is the one libp2p derives from its identity.key", () => {
    const key = privateKeyFromProtobuf(seed.privateKey)
    expect(peerIdFromPrivateKey(key).toString()).toBe(seed.peerId)
    expect(seedIdentityFromKey(seed.privateKey).peerId).toBe(seed.peerId)
    expect(() => seedIdentityFromKey(new Uint8Array(68))).toThrow(TypeError)
  })

  it('the launcher’s Job is schema-valid too', () => {
    const job = kubernetesJob({ name: 'train', nodes: 4, coresPerNode: 1, memoryBytesPerNode: 2 ** 30, nodeArgs: ['--label', 'site=k8s'] }, 'default', 'weft:0.1.0')
    expect(unknownFields(job, 'V1Job', 'Job')).toEqual([])
  })
})

describe('the Helm chart (deploy/helm/weft), rendered without helm', () => {
  const seedValues = { seed: { identityKey: Buffer.from(seed.privateKey).toString('base64'), peerId: seed.peerId } }

  it('gives the same objects as kubernetesManifests() for the default values', () => {
    const rendered = renderChart(seedValues, 'default')
    for (const o of rendered) checkObject(o as { kind: string })
    expect(normalize(rendered)).toEqual(normalize(JSON.parse(JSON.stringify(kubernetesManifests({ seed })))))
  })

  it('gives the same objects for 10 nodes with resources, storage, ports and labels set', () => {
    const rendered = renderChart(
      {
        ...seedValues,
        replicas: 10,
        image: 'registry.example/weft:0.1.0',
        resources: { requests: { cpu: '2', memory: '4Gi' }, limits: { cpu: '4', memory: '8Gi' } },
        storage: { size: '20Gi', storageClassName: 'fast' },
        ports: { p2p: 4101, api: 9090 },
        nodeLabels: { site: 'dc1' },
        labels: { team: 'ml' },
        minAvailable: 7,
      },
      'weft',
    )
    for (const o of rendered) checkObject(o as { kind: string })
    const expected = kubernetesManifests({
      seed,
      replicas: 10,
      namespace: 'weft',
      image: 'registry.example/weft:0.1.0',
      cpu: '2',
      memory: '4Gi',
      cpuLimit: '4',
      memoryLimit: '8Gi',
      storage: '20Gi',
      storageClassName: 'fast',
      p2pPort: 4101,
      apiPort: 9090,
      nodeLabels: { site: 'dc1' },
      labels: { team: 'ml' },
      minAvailable: 7,
    })
    expect(normalize(rendered)).toEqual(normalize(JSON.parse(JSON.stringify(expected))))
  })

  it('refuses to render without a seed, and the evaluator refuses what is outside its subset', () => {
    expect(() => renderChart({}, 'default')).toThrow(/seed\.(peerId|identityKey) is required/)
    expect(() => new HelmTemplates(new Map([['a.yaml', '{{ range .Values.x }}{{ end }}']]))).toThrow(/subset/)
    expect(() => new HelmTemplates(new Map([['b.yaml', '{{ .Values.missing }}']])).render('b.yaml', { Values: {}, Release: { Namespace: 'd', Name: 'w' }, Chart: {} })).toThrow(/not defined/)
    expect(() => new HelmTemplates(new Map([['c.yaml', '{{ .Values.x | upper }}']])).render('c.yaml', { Values: { x: 'a' }, Release: { Namespace: 'd', Name: 'w' }, Chart: {} })).toThrow(/subset/)
  })
})
