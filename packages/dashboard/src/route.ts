// Hash routes: #/mesh (default), #/node, #/jobs, #/jobs/<id>, #/compute, #/compute/<job id>, #/storage, #/inference,
// #/swarms.
import { useEffect, useState } from 'preact/hooks'

export type Route =
  | { readonly page: 'mesh' }
  | { readonly page: 'node' }
  | { readonly page: 'jobs' }
  | { readonly page: 'job'; readonly id: string }
  | { readonly page: 'storage' }
  | { readonly page: 'inference' }
  | { readonly page: 'swarms' }
  /** Orchestrated jobs and this node's work and ledger; `id` is the job selected. */
  | { readonly page: 'compute'; readonly id: string | undefined }

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/')
  switch (parts[0]) {
    case 'node':
      return { page: 'node' }
    case 'storage':
      return { page: 'storage' }
    case 'inference':
      return { page: 'inference' }
    case 'swarms':
      return { page: 'swarms' }
    case 'compute':
      return { page: 'compute', id: parts[1] ? decodeURIComponent(parts[1]) : undefined }
    case 'jobs':
      return parts[1] ? { page: 'job', id: decodeURIComponent(parts[1]) } : { page: 'jobs' }
    default:
      return { page: 'mesh' }
  }
}

export function jobHref(id: string): string {
  return `#/jobs/${encodeURIComponent(id)}`
}

export function computeJobHref(id: string): string {
  return `#/compute/${encodeURIComponent(id)}`
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash))
    window.addEventListener('hashchange', update)
    return () => window.removeEventListener('hashchange', update)
  }, [])
  return route
}
