// Public API of @weft/inference (hand-written list of exports).
export { type GenerateOptions, generate, type InferenceClientComponents, InferenceSession, type InferenceSessionInit, NoRouteError, type SessionEvent } from './client.js'
export { askSpans, type PeerSpan } from './offers.js'
export { chooseSpan, planRoute, rebalancedSpan, type RouteCosts, type RouteHop, type SpanOffer } from './route.js'
export { type SamplingOptions, sampleToken } from './sampling.js'
export { createSpanServer, type HostedSpan, type SpanServer, type SpanServerComponents, type SpanServerInit } from './server.js'
export { continueText, type TextTokenizer } from './local.js'
