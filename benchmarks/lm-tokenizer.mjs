// Benchmark: the byte-level BPE tokenizer of @weft/lm on the whole King James Bible (@weft/corpus-kjv): training
// time for 4,096 and 8,192 tokens, and encode throughput against Hugging Face's tokenizers.js loading the same
// tokenizer.json, with the pre-tokenizer's regex pass alone and UTF-8 encoding as floors. Same run, same text.
// Run: npx tsc -b && node benchmarks/lm-tokenizer.mjs [--runs 3] [--vocab 4096,8192]
import { parseArgs } from 'node:util'
import { Tokenizer } from '@huggingface/tokenizers'
import { fromTokenizerJson, PRE_TOKENIZE_PATTERN, toTokenizerJson, trainBpe } from '@weft/lm'
import { readKjvVerses } from '@weft/lm/node'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, vocab: { type: 'string', default: '4096,8192' } } })
const runs = Number(values.runs)
const sizes = values.vocab.split(',').map(Number)

const verses = await readKjvVerses()
const lines = verses.map((v) => `${v.text}\n`)
const text = lines.join('')
const bytes = new TextEncoder().encode(text).length
const mb = bytes / 1e6

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
/** Median wall time in ms of `fn` over `runs` runs, and its last result. */
function time(fn, n = runs) {
  const ms = []
  let result
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    result = fn()
    ms.push(performance.now() - t)
  }
  return { ms: median(ms), result }
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])

console.log(`King James Bible: ${verses.length} verses, ${bytes} bytes of text; median of ${runs} runs (Node ${process.version})`)
const floorUtf8 = time(() => new TextEncoder().encode(text).length)
const floorSplit = time(() => {
  let n = 0
  for (const _ of text.matchAll(PRE_TOKENIZE_PATTERN)) n++
  return n
})
console.log(`floor: UTF-8 encode ${(mb / (floorUtf8.ms / 1e3)).toFixed(0)} MB/s; pre-tokenizer regex alone ${floorSplit.ms.toFixed(0)} ms (${(mb / (floorSplit.ms / 1e3)).toFixed(1)} MB/s, ${floorSplit.result} pre-tokens)`)

for (const vocabSize of sizes) {
  const train = time(() => trainBpe(lines, { vocabSize }))
  const ours = train.result
  const json = toTokenizerJson(ours)
  console.log(`\nvocab ${vocabSize}: training ${train.ms.toFixed(0)} ms (${(train.ms / floorSplit.ms).toFixed(1)}x the regex pass); tokenizer.json ${(json.length / 1024).toFixed(0)} KiB`)
  // Cold: a tokenizer fresh from its tokenizer.json, so no word is cached yet; warm: the same one again.
  const cold = time(() => fromTokenizerJson(json).encode(text))
  const loaded = fromTokenizerJson(json)
  loaded.encode(text)
  const warm = time(() => loaded.encode(text))
  const perVerse = time(() => {
    let n = 0
    for (const l of lines) n += loaded.encode(l).length
    return n
  })
  const ids = warm.result
  console.log(`  weft encode, whole text, cold   ${(mb / (cold.ms / 1e3)).toFixed(1).padStart(6)} MB/s  (${cold.ms.toFixed(0)} ms; includes loading tokenizer.json)`)
  console.log(`  weft encode, whole text, warm   ${(mb / (warm.ms / 1e3)).toFixed(1).padStart(6)} MB/s`)
  console.log(`  weft encode, verse by verse     ${(mb / (perVerse.ms / 1e3)).toFixed(1).padStart(6)} MB/s`)
  console.log(`  compression: ${ids.length} tokens, ${(ids.length / bytes).toFixed(4)} tokens per byte (training text)`)
  let hf
  try {
    hf = new Tokenizer(JSON.parse(json), {})
  } catch (err) {
    console.log(`  @huggingface/tokenizers could not load it: ${err.message}`)
    continue
  }
  const hfWhole = time(() => hf.encode(text, { add_special_tokens: false }).ids)
  const hfPerVerse = time(() => {
    let n = 0
    for (const l of lines) n += hf.encode(l, { add_special_tokens: false }).ids.length
    return n
  })
  console.log(`  @huggingface/tokenizers, whole  ${(mb / (hfWhole.ms / 1e3)).toFixed(1).padStart(6)} MB/s  (weft warm is ${(hfWhole.ms / warm.ms).toFixed(1)}x as fast)`)
  console.log(`  @huggingface/tokenizers, verses ${(mb / (hfPerVerse.ms / 1e3)).toFixed(1).padStart(6)} MB/s  (weft is ${(hfPerVerse.ms / perVerse.ms).toFixed(1)}x as fast)`)
  console.log(`  same ids as @huggingface/tokenizers on the whole text: ${same(hfWhole.result, ids)}`)
}
