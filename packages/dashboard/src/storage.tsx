// Storage view: the node's block store: usage against the quota, and its roots (pinned, sizes, announced or not).
import { api } from './api'
import { formatAgo, formatBytes, formatCount, formatPercent, shortId } from './format'
import { useLoader, useNow, useOnReconnect } from './hooks'
import { Badge, Card, ErrorNote, Loading, Stat } from './ui'

type StoreList = Awaited<ReturnType<typeof api.storeList>>

export function StoragePage() {
  const list = useLoader(api.storeList, [])
  useOnReconnect(list.reload)
  return (
    <div class="page">
      <Card
        title="Block store"
        actions={
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
        }
      >
        <ErrorNote error={list.error} />
        {list.data ? <Usage usage={list.data.usage} /> : !list.error && <Loading what="the block store" />}
      </Card>
      <Card title="Roots">{list.data && <RootsTable roots={list.data.roots} />}</Card>
    </div>
  )
}

function Usage({ usage }: { usage: StoreList['usage'] }) {
  return (
    <div class="stats">
      <Stat label="Stored" value={formatBytes(usage.usedBytes)} detail={`${formatCount(usage.blocks)} blocks`} />
      <Stat
        label="Quota"
        value={usage.maxBytes === null ? 'none' : formatBytes(usage.maxBytes)}
        detail={usage.maxBytes === null ? undefined : `${formatPercent(usage.usedBytes / usage.maxBytes)} used`}
      />
      <Stat label="Roots" value={formatCount(usage.roots)} detail={`${formatCount(usage.pinned)} pinned`} />
    </div>
  )
}

function RootsTable({ roots }: { roots: StoreList['roots'] }) {
  const now = useNow(10_000)
  if (roots.length === 0) return <p class="muted">The store holds no roots: add one with weft store put.</p>
  const newestFirst = [...roots].sort((a, b) => b.addedAt - a.addedAt)
  return (
    <div class="table-scroll">
      <table class="table" data-testid="store-roots">
        <thead>
          <tr>
            <th>Root</th>
            <th>Kind</th>
            <th class="num">Size</th>
            <th class="num">Blocks</th>
            <th>Pinned</th>
            <th>Announced</th>
            <th>Added</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((r) => (
            <tr key={r.cid} data-cid={r.cid}>
              <td>
                {r.name ?? <span class="muted">(no name)</span>}
                <div class="mono small muted" title={r.cid}>
                  {shortId(r.cid)}
                </div>
              </td>
              <td>{r.kind}</td>
              <td class="num" title={`${r.size} bytes`}>
                {formatBytes(r.size)}
              </td>
              <td class="num">{formatCount(r.blocks)}</td>
              <td>{r.pinned ? <Badge tone="green">pinned</Badge> : <Badge tone="grey">no</Badge>}</td>
              <td>{r.announced === true ? <Badge tone="blue">served</Badge> : <Badge tone="grey">private</Badge>}</td>
              <td>{formatAgo(r.addedAt, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
