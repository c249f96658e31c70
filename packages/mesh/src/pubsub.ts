// Typed, size-bounded pub/sub over gossipsub for control events (never tensors: those go over `tensors`).
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from '@bufbuild/protobuf'
import { type GossipSub, type Message, TopicValidatorResult } from '@libp2p/gossipsub'
import type { MeshLogger } from './logger.js'
import type { MeshMetrics } from './metrics.js'

/**
 * A topic validator's verdict on a decoded message. A refused message is neither delivered nor forwarded; `penalize`
 * also lowers the score of the peer that forwarded it (a forgery), where an ordinary miss (an ad that expired on the
 * way) does not.
 */
export type TopicVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly penalize: boolean }

/** Per-topic options. */
export interface TopicInit<D extends DescMessage = DescMessage> {
  /** Messages larger than this are rejected by the validator (and never forwarded). Default 64 KiB. */
  maxBytes?: number
  /**
   * Checks a decoded message before it is delivered here or relayed to anyone (a signature, its freshness, who may
   * publish). `from` is the publisher's PeerId string (signed messages), or undefined.
   */
  validate?: (message: MessageShape<D>, from: string | undefined) => TopicVerdict | Promise<TopicVerdict>
}

/** Receives decoded messages; `from` is the publisher's PeerId string. */
export type TopicHandler<D extends DescMessage> = (message: MessageShape<D>, from: string) => void

/** One typed topic. */
export interface Topic<D extends DescMessage> {
  readonly name: string
  /** Publish to every subscribed peer; `recipients` is 0 when nobody is subscribed yet (not an error). */
  publish(message: MessageInitShape<D>): Promise<{ recipients: number }>
  /** Start receiving; returns the function that stops it. */
  subscribe(handler: TopicHandler<D>): () => void
  /** PeerId strings of peers known to subscribe. */
  subscribers(): string[]
  /** Messages dropped so far: oversized or not decodable as the topic's schema. */
  readonly dropped: number
}

/** Typed topics of one node. */
export interface PubSub {
  /** The typed topic `name` (e.g. 'weft/ads/1'); asking twice gives the same topic, with a different schema throws. */
  topic<D extends DescMessage>(name: string, schema: D, init?: TopicInit<D>): Topic<D>
}

/** What pubsub needs from the node. */
export interface PubSubComponents {
  gossipsub: GossipSub
  metrics: MeshMetrics
  logger: MeshLogger
}

const TOPIC = /^[A-Za-z0-9._/-]{1,128}$/

class TopicImpl<D extends DescMessage> implements Topic<D> {
  readonly name: string
  readonly schema: D
  readonly #c: PubSubComponents
  readonly #max: number
  readonly #handlers = new Set<TopicHandler<D>>()
  readonly #decoded = new WeakMap<Message, MessageShape<D>>()
  #dropped = 0

  constructor(c: PubSubComponents, name: string, schema: D, init: TopicInit<D>) {
    this.#c = c
    this.name = name
    this.schema = schema
    this.#max = init.maxBytes ?? 64 * 1024
    const validate = init.validate
    c.gossipsub.topicValidators.set(name, async (peer, msg) => {
      if (msg.data.byteLength > this.#max) {
        return this.#drop(peer.toString(), `oversized message (${msg.data.byteLength} > ${this.#max} bytes)`)
      }
      let decoded: MessageShape<D>
      try {
        decoded = fromBinary(schema, msg.data)
      } catch (err) {
        return this.#drop(peer.toString(), `not a ${schema.typeName}: ${(err as Error).message}`)
      }
      if (validate !== undefined) {
        let verdict: TopicVerdict
        try {
          verdict = await validate(decoded, msg.type === 'signed' ? msg.from.toString() : undefined)
        } catch (err) {
          verdict = { ok: false, reason: `validator threw: ${(err as Error)?.message}`, penalize: false }
        }
        if (!verdict.ok) return this.#drop(peer.toString(), verdict.reason, verdict.penalize)
      }
      this.#decoded.set(msg, decoded)
      return TopicValidatorResult.Accept
    })
  }

  get dropped(): number {
    return this.#dropped
  }

  #drop(peer: string, reason: string, penalize = true): TopicValidatorResult {
    this.#dropped++
    this.#c.metrics.onBadMessage(this.name, reason)
    this.#c.logger[penalize ? 'warn' : 'debug']({ topic: this.name, peer, reason }, 'dropped pubsub message')
    return penalize ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
  }

  deliver(msg: Message): void {
    const decoded = this.#decoded.get(msg) ?? fromBinary(this.schema, msg.data)
    const from = msg.type === 'signed' ? msg.from.toString() : 'unknown'
    this.#c.metrics.onBytes(this.name, 'in', msg.data.byteLength)
    for (const h of this.#handlers) {
      try {
        h(decoded, from)
      } catch (err) {
        this.#c.logger.warn({ topic: this.name, err: (err as Error)?.message }, 'pubsub handler threw')
      }
    }
  }

  async publish(message: MessageInitShape<D>): Promise<{ recipients: number }> {
    const data = toBinary(this.schema, create(this.schema, message))
    if (data.byteLength > this.#max) {
      throw new RangeError(`message of ${data.byteLength} bytes exceeds topic ${this.name}'s limit of ${this.#max} bytes`)
    }
    const result = await this.#c.gossipsub.publish(this.name, data)
    for (const to of result.recipients) this.#c.metrics.onBytes(this.name, 'out', data.byteLength, to.toString())
    return { recipients: result.recipients.length }
  }

  subscribe(handler: TopicHandler<D>): () => void {
    if (this.#handlers.size === 0) {
      this.#c.gossipsub.subscribe(this.name)
    }
    this.#handlers.add(handler)
    return () => {
      if (this.#handlers.delete(handler) && this.#handlers.size === 0) {
        this.#c.gossipsub.unsubscribe(this.name)
      }
    }
  }

  subscribers(): string[] {
    return this.#c.gossipsub.getSubscribers(this.name).map((p) => p.toString())
  }
}

class PubSubImpl implements PubSub {
  readonly #c: PubSubComponents
  readonly #topics = new Map<string, TopicImpl<DescMessage>>()

  constructor(c: PubSubComponents) {
    this.#c = c
    c.gossipsub.addEventListener('message', (evt) => {
      this.#topics.get(evt.detail.topic)?.deliver(evt.detail)
    })
  }

  topic<D extends DescMessage>(name: string, schema: D, init: TopicInit<D> = {}): Topic<D> {
    if (!TOPIC.test(name)) {
      throw new RangeError(`topic name must match ${TOPIC}, got ${JSON.stringify(name)}`)
    }
    const existing = this.#topics.get(name)
    if (existing !== undefined) {
      if (existing.schema.typeName !== schema.typeName) {
        throw new TypeError(`topic ${name} carries ${existing.schema.typeName}, not ${schema.typeName}`)
      }
      return existing as unknown as Topic<D>
    }
    const t = new TopicImpl(this.#c, name, schema, init)
    this.#topics.set(name, t as unknown as TopicImpl<DescMessage>)
    return t
  }
}

/** Create the typed pub/sub layer over a gossipsub service. */
export function createPubSub(components: PubSubComponents): PubSub {
  return new PubSubImpl(components)
}
