"""Baseline for benchmarks/lm-engines.mjs: greedy generation with a KV cache in a plain PyTorch Llama loop, reading
the same safetensors checkpoint (parsed by hand), with no Weft in the way.

Usage: /usr/bin/python3 benchmarks/lm_plain.py --checkpoint kjv-lm.safetensors --prompt 1,2,3 --tokens 128 --threads 1
Prints one JSON line: {"tokens": [generated ids], "seconds": total, "prefillSeconds", "stepSeconds": [per token]}.
The prompt is run in one forward (prefill) that gives the first new token; each further token is one forward of one
position and an argmax ("stepSeconds", n - 1 of them). "seconds" covers the prefill and every step, as the Weft side
times it.
"""

import argparse
import json
import struct
import time

import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise ValueError(f"{name} is {t['dtype']}; F32 expected")
        begin, end = t["data_offsets"]
        flat = torch.frombuffer(bytearray(data[base + begin : base + end]), dtype=torch.float32)
        tensors[name] = flat.reshape(t["shape"])
    return meta, tensors


class Llama:
    def __init__(self, cfg, w):
        self.w = w
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.d = cfg["hidden_size"] // self.heads
        self.eps = cfg["rms_norm_eps"]
        theta = cfg.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / theta ** (torch.arange(0, self.d, 2, dtype=torch.float32) / self.d)
        self.head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]

    def norm(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    @staticmethod
    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def forward(self, ids, cache):
        """ids [T] at positions past, past+1, ...; cache is a list of (k, v) [kvHeads, past, d] per layer, or None."""
        w = self.w
        t = ids.shape[0]
        past = 0 if cache[0] is None else cache[0][0].shape[1]
        x = F.embedding(ids, w["model.embed_tokens.weight"])
        freqs = torch.outer(torch.arange(past, past + t, dtype=torch.float32), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = None
        if t > 1:
            mask = torch.full((t, past + t), float("-inf")).triu(past + 1)
        group = self.heads // self.kv_heads
        for i in range(self.layers):
            p = f"model.layers.{i}."
            h = self.norm(x, w[p + "input_layernorm.weight"])
            q = F.linear(h, w[p + "self_attn.q_proj.weight"]).view(t, self.heads, self.d).transpose(0, 1)
            k = F.linear(h, w[p + "self_attn.k_proj.weight"]).view(t, self.kv_heads, self.d).transpose(0, 1)
            v = F.linear(h, w[p + "self_attn.v_proj.weight"]).view(t, self.kv_heads, self.d).transpose(0, 1)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            if cache[i] is not None:
                k = torch.cat((cache[i][0], k), dim=1)
                v = torch.cat((cache[i][1], v), dim=1)
            cache[i] = (k, v)
            if group > 1:
                k = k.repeat_interleave(group, dim=0)
                v = v.repeat_interleave(group, dim=0)
            scores = torch.matmul(q, k.transpose(1, 2)) / (self.d**0.5)
            if mask is not None:
                scores = scores + mask
            attn = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(0, 1).reshape(t, -1)
            x = x + F.linear(attn, w[p + "self_attn.o_proj.weight"])
            h = self.norm(x, w[p + "post_attention_layernorm.weight"])
            gate = F.linear(h, w[p + "mlp.gate_proj.weight"])
            up = F.linear(h, w[p + "mlp.up_proj.weight"])
            x = x + F.linear(F.silu(gate) * up, w[p + "mlp.down_proj.weight"])
        x = self.norm(x, w["model.norm.weight"])
        return F.linear(x[-1:], self.head)[0]


def generate(model, prompt, n):
    cache = [None] * model.layers
    steps = []
    out = []
    t0 = time.perf_counter()
    logits = model.forward(torch.tensor(prompt, dtype=torch.int64), cache)
    prefill = time.perf_counter() - t0
    out.append(int(torch.argmax(logits)))
    while len(out) < n:
        s = time.perf_counter()
        logits = model.forward(torch.tensor(out[-1:], dtype=torch.int64), cache)
        out.append(int(torch.argmax(logits)))
        steps.append(time.perf_counter() - s)
    return out, time.perf_counter() - t0, prefill, steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--prompt", required=True, help="comma-separated token ids")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=1, help="untimed generations first")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    meta, weights = read_safetensors(args.checkpoint)
    model = Llama(json.loads(meta["weft.config"]), weights)
    prompt = [int(x) for x in args.prompt.split(",")]
    with torch.inference_mode():
        for _ in range(args.warmup):
            generate(model, prompt, args.tokens)
        tokens, seconds, prefill, steps = generate(model, prompt, args.tokens)
    print(json.dumps({"tokens": tokens, "seconds": seconds, "prefillSeconds": prefill, "stepSeconds": steps}))


if __name__ == "__main__":
    main()
