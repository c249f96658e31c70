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

/**
 * The `ws` WebSocket is an EventEmitter: an 'error' with no listener throws and kills the process. A WHATWG
 * WebSocket never does that (the error is an event like any other), and libp2p removes its listeners when it aborts
 * a dial, e.g. while the node stops; so every socket here keeps one listener of its own.
 */
class WhatwgLikeWebSocket extends WsWebSocket {
  constructor(...args: ConstructorParameters<typeof WsWebSocket>) {
    super(...args)
    this.on('error', () => {})
  }
}

const g = globalThis as { WebSocket?: unknown }
if (typeof g.WebSocket === 'undefined') {
  g.WebSocket = WhatwgLikeWebSocket
}

