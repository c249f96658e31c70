// The /join page: joins the fabric of the node that served it, lets the user add data (kept in IndexedDB, never
// sent), and shows each job's progress, the local loss, and what leaves the tab.
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url'
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url'
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url'
import { type DatasetSummary, datasetFromCsv, datasetFromImages, type Fabric, type FabricEvent, joinFabric, labelledImages, type StoredDataset } from '@weft/browser'

const WASM_PATHS = {
  'tfjs-backend-wasm.wasm': new URL(wasmPlain, location.href).href,
  'tfjs-backend-wasm-simd.wasm': new URL(wasmSimd, location.href).href,
  'tfjs-backend-wasm-threaded-simd.wasm': new URL(wasmThreaded, location.href).href,
}
const POLICY_KEY = 'weft-join-policy'

interface Policy {
  requireSecureAggregation: boolean
  maxEpsilon?: number
  minBatchSize: number
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`the page has no #${id}`)
  return el as T
}
const text = (id: string, value: string): void => {
  $(id).textContent = value
}
const kib = (bytes: number): string => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`)

function log(message: string): void {
  const li = document.createElement('li')
  li.textContent = `${new Date().toLocaleTimeString()} ${message}`
  $('log').append(li)
  while ($('log').childElementCount > 200) $('log').firstElementChild?.remove()
}

function loadPolicy(): Policy {
  try {
    const p = JSON.parse(localStorage.getItem(POLICY_KEY) ?? '{}') as Partial<Policy>
    return { requireSecureAggregation: p.requireSecureAggregation === true, minBatchSize: p.minBatchSize ?? 4, ...(p.maxEpsilon === undefined ? {} : { maxEpsilon: p.maxEpsilon }) }
  } catch {
    return { requireSecureAggregation: false, minBatchSize: 4 }
  }
}

/** One job's card: name, rounds, privacy, the local loss, updates sent. */
interface JobView {
  readonly card: HTMLElement
  updates: number
  bytes: number
}
const jobs = new Map<string, JobView>()

function jobView(id: string): JobView {
  let view = jobs.get(id)
  if (view === undefined) {
    const card = document.createElement('article')
    card.className = 'job'
    card.dataset['jobId'] = id
    card.setAttribute('aria-label', `job ${id}`)
    card.innerHTML = `<h3 class="job-name"></h3>
<dl class="facts">
  <dt>Data set</dt><dd class="job-dataset"></dd>
  <dt>Privacy</dt><dd class="job-privacy"></dd>
  <dt>State</dt><dd class="job-state" role="status" aria-live="polite"></dd>
  <dt>Local loss</dt><dd class="job-loss">–</dd>
  <dt>Sent</dt><dd class="job-sent">nothing yet</dd>
</dl>
<label>Local training <progress class="job-progress" max="1" value="0"></progress></label>`
    const list = $('jobs')
    if (jobs.size === 0) list.textContent = ''
    list.append(card)
    view = { card, updates: 0, bytes: 0 }
    jobs.set(id, view)
  }
  return view
}
const set = (view: JobView, cls: string, value: string): void => {
  const el = view.card.querySelector(`.${cls}`)
  if (el !== null) el.textContent = value
}

let activeJob: string | undefined

function onEvent(e: FabricEvent): void {
  switch (e.type) {
    case 'engine':
      text('engine', `tfjs ${e.backend}${e.threads > 1 ? `, ${e.threads} threads` : ', 1 thread'}${e.fallbackReason === undefined ? '' : ` (${e.fallbackReason})`}`)
      return
    case 'connection':
      text('connection', e.connected ? `connected to ${e.peers.length} peer${e.peers.length === 1 ? '' : 's'}` : 'disconnected: reconnecting…')
      log(e.connected ? `connected (${e.peers.length} peers)` : 'connection lost; reconnecting')
      renderConnections()
      return
    case 'datasets':
      renderDatasets(e.datasets)
      return
    case 'progress': {
      const view = activeJob === undefined ? undefined : jobs.get(activeJob)
      if (view === undefined) return
      const bar = view.card.querySelector<HTMLProgressElement>('.job-progress')
      if (bar !== null) bar.value = e.progress.step / Math.max(1, e.progress.totalSteps)
      set(view, 'job-loss', e.progress.loss.toFixed(4))
      return
    }
    case 'joined': {
      const view = jobView(e.jobId)
      set(view, 'job-name', `${e.name} (${e.rounds} rounds)`)
      set(view, 'job-dataset', `${e.dataset}: ${e.examples} examples`)
      const dp = e.dp === undefined ? 'no differential privacy' : `differential privacy (${e.dp.mode}${e.dp.targetEpsilon === undefined ? '' : `, ε ≤ ${e.dp.targetEpsilon}`}, δ ${e.dp.delta})`
      set(view, 'job-privacy', `${e.secureAggregation ? 'secure aggregation' : 'no secure aggregation'}; ${dp}`)
      set(view, 'job-state', 'joined; waiting for a round')
      log(`joined job ${e.name} (${e.jobId.slice(0, 8)}) from coordinator ${e.coordinator.slice(-8)}`)
      return
    }
    case 'refused':
      log(`refused job ${e.jobId.slice(0, 8)}: ${e.reason}`)
      return
    case 'training': {
      activeJob = e.jobId
      const view = jobView(e.jobId)
      set(view, 'job-state', `training round ${e.round}`)
      log(`training round ${e.round} of job ${e.jobId.slice(0, 8)}`)
      return
    }
    case 'update': {
      const view = jobView(e.jobId)
      if (e.ok) {
        view.updates++
        view.bytes += e.bytes
        view.card.dataset['updates'] = String(view.updates)
      }
      set(view, 'job-loss', e.trainLoss.toFixed(4))
      const how = [e.masked ? 'masked' : 'not masked', e.noised ? 'clipped and noised' : 'not noised'].join(', ')
      set(view, 'job-sent', `${view.updates} update${view.updates === 1 ? '' : 's'}, ${kib(view.bytes)} in all; the last ${kib(e.bytes)} (${how})`)
      set(view, 'job-state', e.ok ? `round ${e.round} sent` : `round ${e.round} not delivered: ${e.reason ?? ''}`)
      log(`round ${e.round}: ${e.ok ? 'sent' : 'not sent'} an update of ${kib(e.bytes)} (${how}), local loss ${e.trainLoss.toFixed(4)} over ${e.examples} examples in ${e.trainSeconds.toFixed(1)} s`)
      return
    }
    case 'failed':
      set(jobView(e.jobId), 'job-state', `round ${e.round} failed: ${e.reason}`)
      log(`round ${e.round} failed: ${e.reason}`)
      return
    case 'left': {
      const view = jobs.get(e.jobId)
      if (view !== undefined) {
        set(view, 'job-state', `finished: ${e.reason}`)
        view.card.dataset['state'] = 'left'
      }
      log(`left job ${e.jobId.slice(0, 8)}: ${e.reason}`)
      return
    }
  }
}

let fabric: Fabric | undefined

function renderDatasets(list: readonly DatasetSummary[]): void {
  const body = $('datasets').querySelector('tbody') as HTMLTableSectionElement
  body.textContent = ''
  for (const d of list) {
    const row = body.insertRow()
    row.dataset['dataset'] = d.name
    for (const value of [d.name, String(d.examples), `${d.featureShape.join('×')} (${d.scaling === 'pixels' ? 'pixels scaled to [0, 1]' : 'as written'})`, String(d.numClasses), d.source]) {
      row.insertCell().textContent = value
    }
    const remove = document.createElement('button')
    remove.type = 'button'
    remove.textContent = 'Remove'
    remove.setAttribute('aria-label', `Remove data set ${d.name}`)
    remove.addEventListener('click', () => void fabric?.removeDataset(d.name))
    row.insertCell().append(remove)
  }
}

async function addDataset(make: () => Promise<StoredDataset>): Promise<void> {
  text('data-message', '')
  try {
    if (fabric === undefined) throw new Error('not connected yet')
    const summary = await fabric.addDataset(await make())
    log(`added data set ${summary.name}: ${summary.examples} examples, ${summary.numClasses} classes (kept in this browser only)`)
  } catch (err) {
    text('data-message', (err as Error).message)
  }
}

/** The open connections with their transports, and the address other tabs dial (once a relay slot is reserved). */
function renderConnections(): void {
  if (fabric === undefined) return
  const status = fabric.status()
  const direct = status.addresses.find((a) => a.endsWith(`/webrtc/p2p/${status.peerId}`) || a.endsWith('/webrtc'))
  text('webrtc-address', direct === undefined ? 'waiting for a relay slot…' : direct.endsWith('/webrtc') ? `${direct}/p2p/${status.peerId}` : direct)
  const body = $('connections').querySelector('tbody') as HTMLElement
  body.replaceChildren(
    ...status.connections.map((c) => {
      const tr = document.createElement('tr')
      tr.dataset['peer'] = c.peerId
      tr.dataset['transport'] = c.transport
      for (const value of [c.peerId, c.transport]) {
        const td = document.createElement('td')
        td.textContent = value
        tr.append(td)
      }
      return tr
    }),
  )
}

async function connectPeer(address: string): Promise<void> {
  if (fabric === undefined) return
  try {
    const peer = await fabric.connect(address)
    log(`connected to ${peer.peerId.slice(-8)} over ${peer.transport}: a ${peer.ad.tier || 'peer'} holding ${peer.ad.datasets.length === 0 ? 'no data set' : peer.ad.datasets.join(', ')} (its signed ad verified)`)
  } catch (err) {
    log(`could not connect to ${address}: ${(err as Error).message}`)
  }
  renderConnections()
}

async function join(policy: Policy): Promise<void> {
  // `?bootstrap=<multiaddr>` (repeatable) joins through other nodes than the one that served the page.
  const given = new URLSearchParams(location.search).getAll('bootstrap')
  const info = given.length > 0 ? { bootstrap: given } : ((await (await fetch('./info')).json()) as { peerId: string; bootstrap: string[] })
  // The address on the host this page came from first (the others may not be reachable from this browser).
  const here = (a: string) => (a.includes(`/${location.hostname}/`) ? 0 : 1)
  const bootstrap = [...info.bootstrap].sort((a, b) => here(a) - here(b))
  if (bootstrap.length === 0) throw new Error('the node offers no WebSocket address')
  // `?engine=webgpu` trains on the GPU where the browser offers WebGPU (wasm otherwise; the engine line says why).
  const engine = new URLSearchParams(location.search).get('engine')
  fabric = await joinFabric({
    bootstrap: bootstrap.slice(0, 1),
    wasmPaths: WASM_PATHS,
    ...(engine === 'webgpu' || engine === 'cpu' || engine === 'wasm' ? { backend: engine } : {}),
    privacy: { requireSecureAggregation: policy.requireSecureAggregation, minBatchSize: policy.minBatchSize, ...(policy.maxEpsilon === undefined ? {} : { maxEpsilon: policy.maxEpsilon }) },
  })
  fabric.on(onEvent)
  text('peer-id', fabric.peerId)
  const status = fabric.status()
  renderDatasets(status.datasets)
  text('connection', status.connected.length > 0 ? `connected to ${status.connected.length} peer${status.connected.length === 1 ? '' : 's'}` : 'connecting…')
  renderConnections()
  onEvent({ type: 'engine', ...(await fabric.engine) })
  document.body.dataset['ready'] = 'true'
}

function wireForms(): void {
  const policy = loadPolicy()
  $<HTMLInputElement>('policy-secagg').checked = policy.requireSecureAggregation
  $<HTMLInputElement>('policy-batch').value = String(policy.minBatchSize)
  $<HTMLInputElement>('policy-epsilon').value = policy.maxEpsilon === undefined ? '' : String(policy.maxEpsilon)
  $('csv-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const file = $<HTMLInputElement>('csv-file').files?.[0]
    if (file === undefined) return
    void addDataset(async () => datasetFromCsv(await file.text(), { name: $<HTMLInputElement>('csv-name').value.trim(), label: $<HTMLInputElement>('csv-label').value.trim(), pixels: $<HTMLInputElement>('csv-pixels').checked ? 'pixels' : 'none', source: file.name }))
  })
  $('images-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const files = $<HTMLInputElement>('images-dir').files
    if (files === null) return
    const name = $<HTMLInputElement>('images-name').value.trim()
    void addDataset(() => datasetFromImages(labelledImages(files), { name, source: `${files.length} files`, onProgress: (done, total) => text('data-message', `decoding ${done}/${total}`) }))
  })
  $('policy-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    const eps = $<HTMLInputElement>('policy-epsilon').value.trim()
    const next: Policy = {
      requireSecureAggregation: $<HTMLInputElement>('policy-secagg').checked,
      minBatchSize: Math.max(1, Number($<HTMLInputElement>('policy-batch').value) || 4),
      ...(eps === '' ? {} : { maxEpsilon: Number(eps) }),
    }
    localStorage.setItem(POLICY_KEY, JSON.stringify(next))
    document.body.dataset['ready'] = 'false'
    void (async () => {
      await fabric?.leave()
      fabric = undefined
      await join(next)
      log(`policy applied: ${next.requireSecureAggregation ? 'secure aggregation required' : 'secure aggregation optional'}${next.maxEpsilon === undefined ? '' : `, ε ≤ ${next.maxEpsilon}`}, batches ≥ ${next.minBatchSize}`)
    })().catch((err: Error) => log(`could not rejoin: ${err.message}`))
  })
  $('peer-form').addEventListener('submit', (ev) => {
    ev.preventDefault()
    void connectPeer($<HTMLInputElement>('peer-address').value.trim())
  })
  // The relay slot (and with it the direct address) and WebRTC connections come and go without an event here.
  setInterval(renderConnections, 2_000)
  void join(policy).catch((err: Error) => {
    text('connection', `could not join: ${err.message}`)
    log(`could not join: ${err.message}`)
  })
}

wireForms()
