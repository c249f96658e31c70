// Preact hooks over api.ts: loading API resources, following the event stream, throttling refetches.
import type { Inputs } from 'preact/hooks'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api, type StreamEventType, type StreamStatus, subscribe, watchStreamStatus } from './api'
import type { MeshView, StreamEvents } from './types'

export interface Loaded<T> {
  /** The latest data; kept while a reload runs so the page does not flicker. */
  readonly data: T | undefined
  /** The latest failure, cleared by the next success. */
  readonly error: Error | undefined
  readonly reload: () => void
}

/**
 * Runs `load` when `inputs` change and on `reload()`. An answer is shown unless a later request's answer is
 * shown already, so the view never goes back in time, yet a steady stream of reloads cannot starve it.
 */
export function useLoader<T>(load: () => Promise<T>, inputs: Inputs): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<Error | undefined>(undefined)
  const issued = useRef(0)
  const shown = useRef(0)
  const reload = useCallback(() => {
    const ticket = ++issued.current
    const settle = (apply: () => void) => {
      if (ticket <= shown.current) return
      shown.current = ticket
      apply()
    }
    load().then(
      (value) =>
        settle(() => {
          setData(value)
          setError(undefined)
        }),
      (cause: unknown) => settle(() => setError(cause instanceof Error ? cause : new Error(String(cause)))),
    )
  }, inputs)
  useEffect(() => {
    setData(undefined)
    setError(undefined)
    reload()
    // Answers to requests made so far belong to an unmounted component or to older inputs.
    return () => {
      shown.current = issued.current
    }
  }, [reload])
  return { data, error, reload }
}

/** Calls `handler` with each `type` event of the shared stream while the component is mounted. */
export function useStream<K extends StreamEventType>(type: K, handler: (data: StreamEvents[K]) => void): void {
  const latest = useRef(handler)
  latest.current = handler
  useEffect(() => subscribe(type, (data) => latest.current(data)), [type])
}

export function useStreamStatus(): StreamStatus {
  const [status, setStatus] = useState<StreamStatus>('connecting')
  useEffect(() => watchStreamStatus(setStatus), [])
  return status
}

/**
 * Returns a function that runs `fn` at most once per `intervalMs`: the first call runs at once,
 * calls during the interval fold into one run at its end, so the last change is never missed.
 */
export function useThrottled(fn: () => void, intervalMs: number): () => void {
  const latest = useRef(fn)
  latest.current = fn
  const state = useRef({ lastRun: 0, timer: undefined as ReturnType<typeof setTimeout> | undefined })
  useEffect(() => () => clearTimeout(state.current.timer), [])
  return useCallback(() => {
    const s = state.current
    if (s.timer !== undefined) return
    const run = () => {
      s.timer = undefined
      s.lastRun = Date.now()
      latest.current()
    }
    const wait = s.lastRun + intervalMs - Date.now()
    if (wait <= 0) run()
    else s.timer = setTimeout(run, wait)
  }, [intervalMs])
}

/** The current time, refreshed every `intervalMs`, for ages and uptimes. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now)
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs)
    return () => clearInterval(timer)
  }, [intervalMs])
  return now
}

/** Calls `fn` each time the stream comes back after a break, to catch up on the events missed meanwhile. */
export function useOnReconnect(fn: () => void): void {
  const latest = useRef(fn)
  latest.current = fn
  useEffect(() => {
    let broken = false
    return watchStreamStatus((status) => {
      if (status === 'reconnecting') broken = true
      else if (status === 'live' && broken) {
        broken = false
        latest.current()
      }
    })
  }, [])
}

/** GET /v1/mesh, refetched at most once a second when peers or connections change. */
export function useMesh(): Loaded<MeshView> {
  const mesh = useLoader(api.mesh, [])
  const refetch = useThrottled(mesh.reload, 1000)
  useStream('peer', refetch)
  useStream('connection', refetch)
  useOnReconnect(refetch)
  return mesh
}
