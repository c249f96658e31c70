/** Absolute path of kjv-lm.safetensors (weights, Hugging Face config.json and tokenizer.json in its metadata). */
export declare const KJV_LM_PATH: string
