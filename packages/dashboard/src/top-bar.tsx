// The bar above every page: this node's identity, the event stream's state, navigation.
import { api } from './api'
import { shortId } from './format'
import { useLoader, useOnReconnect, useStreamStatus } from './hooks'
import type { Route } from './route'

const NAV: readonly { readonly href: string; readonly label: string; readonly pages: readonly Route['page'][] }[] = [
  { href: '#/mesh', label: 'Mesh', pages: ['mesh'] },
  { href: '#/node', label: 'Node', pages: ['node'] },
  { href: '#/jobs', label: 'Jobs', pages: ['jobs', 'job'] },
  { href: '#/compute', label: 'Compute', pages: ['compute'] },
  { href: '#/storage', label: 'Storage', pages: ['storage'] },
  { href: '#/inference', label: 'Inference', pages: ['inference'] },
  { href: '#/swarms', label: 'Swarms', pages: ['swarms'] },
]

export function TopBar({ route }: { route: Route }) {
  const node = useLoader(api.node, [])
  // A node restarted behind the stream may have a new version.
  useOnReconnect(node.reload)
  return (
    <header class="top-bar">
      <a class="brand" href="#/mesh">
        Weft
      </a>
      <nav>
        {NAV.map((item) => (
          <a key={item.href} href={item.href} class={item.pages.includes(route.page) ? 'active' : undefined}>
            {item.label}
          </a>
        ))}
      </nav>
      <div class="identity">
        {node.data && (
          <>
            <span class="mono" title={node.data.peerId}>
              {shortId(node.data.peerId)}
            </span>
            <span class="muted">v{node.data.version}</span>
          </>
        )}
        <StreamIndicator />
      </div>
    </header>
  )
}

function StreamIndicator() {
  const status = useStreamStatus()
  const live = status === 'live'
  return (
    <span class={`stream ${live ? 'stream-live' : 'stream-down'}`} data-testid="stream-status" title="Server-sent events from /v1/stream">
      <span class="dot" />
      {live ? 'live' : status === 'connecting' ? 'connecting' : 'reconnecting'}
    </span>
  )
}
