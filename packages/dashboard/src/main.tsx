// The dashboard's entry: top bar, the login notice, and the page the hash route names.
import './zod-config'
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { onUnauthorized } from './api'
import { ComputePage } from './compute'
import { InferencePage } from './inference'
import { JobPage } from './job'
import { JobsPage } from './jobs'
import { MeshPage } from './mesh'
import { NodePage } from './node'
import { type Route, useRoute } from './route'
import { StoragePage } from './storage'
import { SwarmsPage } from './swarms'
import './styles.css'
import { TopBar } from './top-bar'

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'mesh':
      return <MeshPage />
    case 'node':
      return <NodePage />
    case 'jobs':
      return <JobsPage />
    case 'job':
      return <JobPage key={route.id} id={route.id} />
    case 'storage':
      return <StoragePage />
    case 'inference':
      return <InferencePage />
    case 'swarms':
      return <SwarmsPage />
    case 'compute':
      return <ComputePage selected={route.id} />
    default: {
      const unknown: never = route
      throw new Error(`unknown route ${JSON.stringify(unknown)}`)
    }
  }
}

function LoginNotice() {
  const [needed, setNeeded] = useState(false)
  useEffect(() => onUnauthorized(() => setNeeded(true)), [])
  if (!needed) return null
  return (
    <p class="login-notice" role="alert">
      This node needs its API token: open <a href="/login">/login</a>
    </p>
  )
}

function App() {
  const route = useRoute()
  return (
    <>
      <TopBar route={route} />
      <main>
        <LoginNotice />
        <Page route={route} />
      </main>
    </>
  )
}

render(<App />, document.getElementById('app')!)
