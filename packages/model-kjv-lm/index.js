// Where the shipped checkpoint lies, for `weft demo inference` and anyone who wants to serve it.
import { fileURLToPath } from 'node:url'

/** Absolute path of kjv-lm.safetensors (weights, Hugging Face config.json and tokenizer.json in its metadata). */
export const KJV_LM_PATH = fileURLToPath(new URL('./kjv-lm.safetensors', import.meta.url))
