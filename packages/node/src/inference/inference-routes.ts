// Inference on the control API: Weft's own routes (/v1/inference: what is served, serve a span) and the
// OpenAI-compatible ones every LLM client speaks (/v1/models, /v1/completions, /v1/chat/completions, with SSE
// streaming), whose errors take OpenAI's shape: {error: {message, type, param, code}}.
import { randomInt } from 'node:crypto'
import type { Context, Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { z } from 'zod'
import { type Completion, type CompletionRequest, InferenceRequestError, type NodeInference } from './inference-role.js'

const stop = z.union([z.string().max(256), z.array(z.string().max(256)).max(4)]).optional()
const sampling = {
  model: z.string().min(1).max(256),
  max_tokens: z.number().int().min(1).max(1_000_000).optional(),
  max_completion_tokens: z.number().int().min(1).max(1_000_000).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  stop,
  stream: z.boolean().optional(),
  n: z.literal(1).optional(),
  user: z.string().optional(),
}
const CompletionBody = z.object({ ...sampling, prompt: z.union([z.string().max(1_000_000), z.array(z.string().max(1_000_000)).length(1)]) })
const ChatBody = z.object({
  ...sampling,
  messages: z
    .array(z.object({ role: z.enum(['system', 'user', 'assistant', 'developer']), content: z.union([z.string(), z.array(z.object({ type: z.literal('text'), text: z.string() }))]) }))
    .min(1)
    .max(1024),
})
const ServeBody = z.object({
  model: z.string().min(1).max(256),
  blocks: z.union([z.tuple([z.number().int().min(0), z.number().int().min(1)]), z.literal('auto')]).optional(),
  count: z.number().int().min(1).optional(),
  engine: z.enum(['tfjs', 'torch']).optional(),
})
const UnserveBody = z.object({ model: z.string().min(1).max(256), start: z.number().int().min(0), end: z.number().int().min(1) })

type OpenAiStatus = 400 | 404 | 503

/** An OpenAI-shaped error answer. */
function openAiError(c: Context, status: OpenAiStatus, message: string, param: string | null = null, code: string | null = null): Response {
  return c.json({ error: { message, type: status === 503 ? 'server_error' : 'invalid_request_error', param, code } }, status)
}

function fromError(c: Context, err: unknown): Response {
  if (err instanceof InferenceRequestError) {
    switch (err.kind) {
      case 'not-found':
        return openAiError(c, 404, err.message, err.param ?? 'model', 'model_not_found')
      case 'context-length':
        return openAiError(c, 400, err.message, err.param ?? 'messages', 'context_length_exceeded')
      case 'unavailable':
        return openAiError(c, 503, err.message, err.param ?? null, 'model_unavailable')
      default:
        return openAiError(c, 400, err.message, err.param ?? null)
    }
  }
  if (err instanceof RangeError) return openAiError(c, 400, err.message)
  return openAiError(c, 503, `inference failed: ${(err as Error).message}`)
}

async function parseBody<T extends z.ZodTypeAny>(c: Context, schema: T): Promise<{ ok: true; value: z.infer<T> } | { ok: false; response: Response }> {
  let raw: unknown
  try {
    raw = await c.req.json()
  } catch {
    return { ok: false, response: openAiError(c, 400, 'the body must be JSON') }
  }
  const parsed = schema.safeParse(raw)
  if (parsed.success) return { ok: true, value: parsed.data }
  const issue = parsed.error.issues[0] as z.ZodIssue
  const param = issue.path.join('.')
  return { ok: false, response: openAiError(c, 400, `${param === '' ? 'body' : param}: ${issue.message}`, param === '' ? null : param) }
}

/** A chat as the text a model trained by `weft lm train` continues: each message's text on its own line. */
export function chatPrompt(messages: z.infer<typeof ChatBody>['messages']): string {
  return `${messages.map((m) => (typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join(''))).join('\n')}\n`
}

/** Mounts /v1/inference, /v1/models, /v1/completions and /v1/chat/completions. */
export function mountInference(app: Hono, inference: () => NodeInference | undefined): void {
  const withInference =
    (handler: (c: Context, inf: NodeInference) => Promise<Response>) =>
    async (c: Context): Promise<Response> => {
      const inf = inference()
      if (inf === undefined) return openAiError(c, 503, 'inference is not running on this node')
      try {
        return await handler(c, inf)
      } catch (err) {
        return fromError(c, err)
      }
    }

  app.get(
    '/v1/inference',
    withInference(async (c, inf) => c.json({ serving: inf.local().map(({ $typeName: _, ...s }) => s), mesh: await inf.mesh() })),
  )
  app.post(
    '/v1/inference/serve',
    withInference(async (c, inf) => {
      const body = await parseBody(c, ServeBody)
      if (!body.ok) return body.response
      const { model, blocks, count, engine } = body.value
      return c.json(await inf.serve({ model, ...(blocks === undefined ? {} : { blocks }), ...(count === undefined ? {} : { count }), ...(engine === undefined ? {} : { engine }) }))
    }),
  )
  app.post(
    '/v1/inference/unserve',
    withInference(async (c, inf) => {
      const body = await parseBody(c, UnserveBody)
      if (!body.ok) return body.response
      const { model, start, end } = body.value
      if (!(await inf.unserve(model, start, end))) return openAiError(c, 404, `blocks [${start}, ${end}) of ${model} are not served here`, 'model')
      return c.json({ model, start, end, served: false })
    }),
  )
  app.get(
    '/v1/models',
    withInference(async (c, inf) => {
      const byModel = new Map<string, { servers: Set<string>; blocks: number }>()
      for (const s of await inf.mesh()) {
        const m = byModel.get(s.model) ?? { servers: new Set<string>(), blocks: (JSON.parse(s.configJson) as { numLayers: number }).numLayers }
        m.servers.add(s.peer)
        byModel.set(s.model, m)
      }
      return c.json({
        object: 'list',
        data: [...byModel].map(([id, m]) => ({ id, object: 'model', created: 0, owned_by: 'weft', servers: m.servers.size, blocks: m.blocks })),
      })
    }),
  )
  app.post(
    '/v1/completions',
    withInference(async (c, inf) => {
      const body = await parseBody(c, CompletionBody)
      if (!body.ok) return body.response
      const b = body.value
      const prompt = typeof b.prompt === 'string' ? b.prompt : (b.prompt[0] as string)
      return answer(c, inf, requestOf(b, prompt, 16, c.req.raw.signal), 'text_completion', b.stream === true)
    }),
  )
  app.post(
    '/v1/chat/completions',
    withInference(async (c, inf) => {
      const body = await parseBody(c, ChatBody)
      if (!body.ok) return body.response
      return answer(c, inf, requestOf(body.value, chatPrompt(body.value.messages), 256, c.req.raw.signal), 'chat.completion', body.value.stream === true)
    }),
  )
}

function requestOf(b: z.infer<typeof CompletionBody> | z.infer<typeof ChatBody>, prompt: string, defaultMax: number, signal: AbortSignal): CompletionRequest {
  return {
    model: b.model,
    prompt,
    maxTokens: b.max_completion_tokens ?? b.max_tokens ?? defaultMax,
    temperature: b.temperature ?? 1,
    topP: b.top_p ?? 1,
    seed: b.seed ?? randomInt(0, 0xffffffff),
    stop: b.stop === undefined ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop,
    signal,
  }
}

/** Runs a completion and answers it whole, or streams it as server-sent events when the caller asked. */
async function answer(c: Context, inf: NodeInference, request: CompletionRequest, kind: 'text_completion' | 'chat.completion', stream: boolean): Promise<Response> {
  const id = `${kind === 'chat.completion' ? 'chatcmpl' : 'cmpl'}-${randomInt(0, 2 ** 47).toString(36)}`
  const created = Math.floor(Date.now() / 1000)
  const usage = (r: Completion) => ({ prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens })
  const weft = (r: Completion) => ({ route: r.route, events: r.events.filter((e) => e.type !== 'routed') })
  if (!stream) {
    const r = await inf.complete(request)
    const choice =
      kind === 'chat.completion'
        ? { index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finishReason, logprobs: null }
        : { index: 0, text: r.text, finish_reason: r.finishReason, logprobs: null }
    return c.json({ id, object: kind, created, model: request.model, choices: [choice], usage: usage(r), weft: weft(r) })
  }
  const object = kind === 'chat.completion' ? 'chat.completion.chunk' : 'text_completion'
  const chunk = (delta: string | undefined, finish: string | null, first = false) =>
    JSON.stringify({
      id,
      object,
      created,
      model: request.model,
      choices: [
        kind === 'chat.completion'
          ? { index: 0, delta: delta === undefined ? {} : { ...(first ? { role: 'assistant' } : {}), content: delta }, finish_reason: finish, logprobs: null }
          : { index: 0, text: delta ?? '', finish_reason: finish, logprobs: null },
      ],
    })
  // Errors before the first token (unknown model, context too long, no route) are plain OpenAI errors, not a stream.
  const pieces: string[] = []
  let wake: (() => void) | undefined
  let settled: { ok: true; r: Completion } | { ok: false; err: unknown } | undefined
  // Resolves at once when there is something to send or the completion has ended; else when the next piece comes.
  const next = () =>
    new Promise<void>((resolve) => {
      wake = resolve
      if (pieces.length > 0 || settled !== undefined) resolve()
    })
  const started = next()
  void inf
    .complete(request, (text) => {
      pieces.push(text)
      wake?.()
    })
    .then(
      (r) => {
        settled = { ok: true, r }
        wake?.()
      },
      (err: unknown) => {
        settled = { ok: false, err }
        wake?.()
      },
    )
  await started
  if (settled?.ok === false && pieces.length === 0) return fromError(c, settled.err)
  return streamSSE(c, async (sse) => {
    let first = true
    for (;;) {
      while (pieces.length > 0) {
        await sse.writeSSE({ data: chunk(pieces.shift(), null, first) })
        first = false
      }
      if (settled !== undefined) break
      await next()
    }
    while (pieces.length > 0) await sse.writeSSE({ data: chunk(pieces.shift(), null, first) })
    if (settled.ok) await sse.writeSSE({ data: JSON.stringify({ ...JSON.parse(chunk(undefined, settled.r.finishReason)), usage: usage(settled.r), weft: weft(settled.r) }) })
    else await sse.writeSSE({ data: JSON.stringify({ error: { message: (settled.err as Error).message, type: 'server_error', param: null, code: null } }) })
    await sse.writeSSE({ data: '[DONE]' })
  })
}
