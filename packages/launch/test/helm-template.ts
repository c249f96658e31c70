// A small, strict evaluator of exactly the Go-template subset deploy/helm/weft uses, so the chart can be rendered and
// checked here, where helm itself cannot be installed. Anything outside the subset throws, as does a value path that
// values.yaml does not define: the chart cannot quietly grow past what this evaluator checks.
// Subset: text; {{/* comments */}}; {{- and -}} trimming; define/include; if/else/end; pipelines whose terms are
// `.`, `.Values.a.b`, `.Release.Namespace`, `.Chart.AppVersion`, "strings" and integers; functions include, required,
// default, quote, toYaml, nindent.
import { stringify } from 'yaml'

type Node = { kind: 'text'; text: string } | { kind: 'out'; pipe: string } | { kind: 'if'; cond: string; yes: Node[]; no: Node[] }

interface Token {
  readonly kind: 'text' | 'action'
  readonly text: string
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  const re = /\{\{(-?)(\s*)(.*?)(\s*)(-?)\}\}/gs
  let last = 0
  let trimNext = false
  for (const m of source.matchAll(re)) {
    let text = source.slice(last, m.index)
    if (trimNext) text = text.replace(/^\s+/, '')
    if (m[1] === '-') {
      if (m[2] === '') throw new Error(`template: "{{-" must be followed by a space in ${JSON.stringify(m[0])}`)
      text = text.replace(/\s+$/, '')
    }
    if (m[5] === '-' && m[4] === '') throw new Error(`template: "-}}" must follow a space in ${JSON.stringify(m[0])}`)
    tokens.push({ kind: 'text', text })
    tokens.push({ kind: 'action', text: m[3] ?? '' })
    trimNext = m[5] === '-'
    last = (m.index ?? 0) + m[0].length
  }
  let rest = source.slice(last)
  if (trimNext) rest = rest.replace(/^\s+/, '')
  tokens.push({ kind: 'text', text: rest })
  return tokens
}

/** Parses one file into its body, collecting `define`d templates into `defines`. */
function parse(source: string, defines: Map<string, Node[]>): Node[] {
  const tokens = tokenize(source)
  let i = 0
  const block = (inside: 'top' | 'if' | 'define'): { nodes: Node[]; end: 'end' | 'else' | 'eof' } => {
    const nodes: Node[] = []
    while (i < tokens.length) {
      const t = tokens[i++] as Token
      if (t.kind === 'text') {
        if (t.text !== '') nodes.push({ kind: 'text', text: t.text })
        continue
      }
      const a = t.text
      if (/^\/\*.*\*\/$/s.test(a)) continue
      if (a === 'end') {
        if (inside === 'top') throw new Error('template: {{ end }} without a block')
        return { nodes, end: 'end' }
      }
      if (a === 'else') {
        if (inside !== 'if') throw new Error('template: {{ else }} outside if')
        return { nodes, end: 'else' }
      }
      const define = /^define "([^"]+)"$/.exec(a)
      if (define !== null) {
        if (inside !== 'top') throw new Error('template: define must be at the top level')
        const body = block('define')
        if (body.end !== 'end') throw new Error(`template: define "${define[1]}" has no end`)
        defines.set(define[1] as string, body.nodes)
        continue
      }
      const cond = /^if (.+)$/s.exec(a)
      if (cond !== null) {
        const then = block('if')
        let otherwise: Node[] = []
        if (then.end === 'else') {
          const e = block('if')
          if (e.end !== 'end') throw new Error('template: if … else has no end')
          otherwise = e.nodes
        } else if (then.end !== 'end') throw new Error('template: if has no end')
        nodes.push({ kind: 'if', cond: cond[1] as string, yes: then.nodes, no: otherwise })
        continue
      }
      if (/^(range|with|template|block|else if|tpl)\b/.test(a)) throw new Error(`template: {{ ${a} }} is outside the supported subset`)
      nodes.push({ kind: 'out', pipe: a })
    }
    if (inside !== 'top') throw new Error(`template: ${inside} block has no end`)
    return { nodes, end: 'eof' }
  }
  return block('top').nodes
}

function empty(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    v === false ||
    v === 0 ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && v !== null && Object.keys(v).length === 0)
  )
}

/** Splits a command into its words, keeping "quoted strings" whole. */
function words(command: string): string[] {
  const out = command.match(/"(?:[^"\\]|\\.)*"|[^\s]+/g)
  if (out === null) throw new Error(`template: empty command in a pipeline`)
  return out
}

function splitPipe(pipe: string): string[] {
  return (pipe.match(/(?:"(?:[^"\\]|\\.)*"|[^|"])+/g) ?? []).map((s) => s.trim())
}

export interface HelmContext {
  readonly Values: Record<string, unknown>
  readonly Release: { readonly Namespace: string; readonly Name: string }
  readonly Chart: Record<string, unknown>
}

/** A chart's templates, ready to render. */
export class HelmTemplates {
  readonly #defines = new Map<string, Node[]>()
  readonly #files = new Map<string, Node[]>()

  /** @param files - file name → text; `_*.tpl` files only define. */
  constructor(files: ReadonlyMap<string, string>) {
    for (const [name, text] of files) {
      const body = parse(text, this.#defines)
      if (name.startsWith('_')) {
        if (body.some((n) => n.kind !== 'text' || n.text.trim() !== '')) throw new Error(`${name}: a helpers file may only define templates`)
      } else this.#files.set(name, body)
    }
  }

  render(file: string, context: HelmContext): string {
    const body = this.#files.get(file)
    if (body === undefined) throw new Error(`no template ${file}`)
    return this.#nodes(body, context)
  }

  #nodes(nodes: readonly Node[], dot: unknown): string {
    let out = ''
    for (const n of nodes) {
      if (n.kind === 'text') out += n.text
      else if (n.kind === 'if') out += empty(this.#pipe(n.cond, dot)) ? this.#nodes(n.no, dot) : this.#nodes(n.yes, dot)
      else {
        const v = this.#pipe(n.pipe, dot)
        if (typeof v === 'string') out += v
        else if (typeof v === 'number' && Number.isInteger(v)) out += String(v)
        else if (typeof v === 'boolean') out += String(v)
        else throw new Error(`template: {{ ${n.pipe} }} gives ${JSON.stringify(v)}; render maps and lists with toYaml`)
      }
    }
    return out
  }

  #term(word: string, dot: unknown): unknown {
    if (word === '.') return dot
    if (/^"(?:[^"\\]|\\.)*"$/.test(word)) return JSON.parse(word)
    if (/^-?\d+$/.test(word)) return Number(word)
    if (/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(word)) {
      let v: unknown = dot
      for (const key of word.slice(1).split('.')) {
        if (typeof v !== 'object' || v === null || !Object.hasOwn(v, key)) throw new Error(`template: ${word} is not defined (values.yaml must define every value the chart reads)`)
        v = (v as Record<string, unknown>)[key]
      }
      return v
    }
    throw new Error(`template: '${word}' is outside the supported subset`)
  }

  #call(fn: string, args: unknown[]): unknown {
    const arity = (n: number) => {
      if (args.length !== n) throw new Error(`template: ${fn} takes ${n} arguments, got ${args.length}`)
    }
    switch (fn) {
      case 'include': {
        arity(2)
        const body = this.#defines.get(args[0] as string)
        if (body === undefined) throw new Error(`template: no template "${String(args[0])}" defined`)
        return this.#nodes(body, args[1])
      }
      case 'required':
        arity(2)
        if (empty(args[1])) throw new Error(`template: ${String(args[0])}`)
        return args[1]
      case 'default':
        arity(2)
        return empty(args[1]) ? args[0] : args[1]
      case 'quote':
        arity(1)
        return JSON.stringify(typeof args[0] === 'string' ? args[0] : String(args[0]))
      case 'toYaml':
        arity(1)
        return stringify(args[0], { lineWidth: 0 }).replace(/\n$/, '')
      case 'nindent': {
        arity(2)
        const pad = ' '.repeat(args[0] as number)
        return `\n${String(args[1])
          .split('\n')
          .map((line) => pad + line)
          .join('\n')}`
      }
      default:
        throw new Error(`template: function ${fn} is outside the supported subset`)
    }
  }

  #pipe(pipe: string, dot: unknown): unknown {
    let value: unknown
    let first = true
    for (const command of splitPipe(pipe)) {
      const [head, ...rest] = words(command) as [string, ...string[]]
      const args = rest.map((w) => this.#term(w, dot))
      if (!first) args.push(value)
      if (/^[a-zA-Z]+$/.test(head)) value = this.#call(head, args)
      else {
        if (!first || args.length > 0) throw new Error(`template: '${command}' is not a function call`)
        value = this.#term(head, dot)
      }
      first = false
    }
    return value
  }
}
