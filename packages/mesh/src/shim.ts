// Fills the two Node 20 gaps Weft relies on (Promise.withResolvers, global WebSocket); load it before anything else.
// On Node 22+ and in browsers both exist already and this module does nothing.
import { WebSocket as WsWebSocket } from 'ws'

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const promiseCtor = Promise as PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> }
if (typeof promiseCtor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value<T>(): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

const g = globalThis as { WebSocket?: unknown }
if (typeof g.WebSocket === 'undefined') {
  g.WebSocket = WsWebSocket
}

