"""Training a whole Llama-style transformer in Weft's PyTorch worker: next-token cross-entropy, hand-written AdamW.

Mirrors `TransformerTrainer` in `packages/runtime/src/transformer.ts` and the tfjs trainer
(`packages/runtime-tfjs/src/transformer-train.ts`) step for step: the forward is the span's inference math (RMSNorm,
rotate_half rotary positions, causal grouped-query attention, SwiGLU, tied or untied head) over a batch of sequences;
gradients come from autograd; the optimizer is written out in float32 ops rather than taken from torch.optim, so each
formula is the contract's: global-norm clipping, Adam moments with bias correction, decoupled weight decay of
matrices only (rank > 1, the embedding included, the norms not).

Every value read from the wire is checked before it sizes an allocation; bad input raises `SpanError`.
"""

import math

from weft_transformer import MAX_NAME, PieceWeights, SpanError, tensor_shapes

# Most ids one step or evaluation takes (the logits alone are ids × vocab floats).
MAX_TRAIN_TOKENS = 1 << 22
# Most values one `weights` request returns (as many as one upload request carries).
MAX_READ_VALUES = 1 << 24
MAX_READ_PIECES = 1024


def _number(v, what, low, high=math.inf, high_open=False):
    """A finite number in [low, high] (or [low, high) when high_open)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < low or v > high or (high_open and v == high):
        bound = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise SpanError("RangeError", f"{what} must be a finite number in {bound}, got {str(v)[:40]}")
    return float(v)


def parse_train_options(o):
    """A checked copy of resolved training options: learningRate, weightDecay, beta1, beta2, clipNorm."""
    if not isinstance(o, dict):
        raise SpanError("RangeError", "options must be an object")
    return {
        "learningRate": _number(o.get("learningRate"), "learningRate", 0),
        "weightDecay": _number(o.get("weightDecay"), "weightDecay", 0),
        "beta1": _number(o.get("beta1"), "beta1", 0, 1, high_open=True),
        "beta2": _number(o.get("beta2"), "beta2", 0, 1, high_open=True),
        "clipNorm": _number(o.get("clipNorm"), "clipNorm", 0),
    }


class TransformerTrainer(PieceWeights):
    """A whole model's weights (leaf tensors once complete), Adam's moments and the step count."""

    def __init__(self, torch, cfg, options, device):
        super().__init__(torch, tensor_shapes(cfg, {"embed": True, "blocks": (0, cfg["numLayers"]), "head": True}), device, "model")
        self.cfg = cfg
        self.options = options
        self.steps = 0
        self.m = {}
        self.v = {}

    def finish(self):
        super().finish()
        for name, t in self.weights.items():
            t.requires_grad_(True)
            # Replaced weights (`reset`) keep the moments they had.
            if name not in self.m:
                self.m[name] = self.torch.zeros_like(t)
                self.v[name] = self.torch.zeros_like(t)

    def reset(self):
        """Takes new weights in pieces, as at loading, keeping Adam's moments and the step count."""
        self.ready = False
        for name in self.filled:
            self.filled[name] = 0

    def batch(self, batch, bufs):
        """Inputs and targets [batch, length - 1] (int64 on the device) of `batch` sequences laid end to end."""
        torch = self.torch
        cfg = self.cfg
        if not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0:
            raise SpanError("RangeError", f"batch must be a positive integer, got {str(batch)[:40]}")
        if len(bufs) != 1 or bufs[0].dtype.name != "int32" or bufs[0].ndim != 1:
            raise SpanError("RangeError", "expected one int32 buffer of token ids")
        ids = bufs[0]
        n = ids.shape[0]
        if n > MAX_TRAIN_TOKENS:
            raise SpanError("RangeError", f"{n} ids are more than the {MAX_TRAIN_TOKENS} one request may train on")
        if n % batch != 0:
            raise SpanError("RangeError", f"{n} ids do not split into {batch} sequences of equal length")
        length = n // batch
        if length < 2 or length > cfg["maxPositions"] + 1:
            raise SpanError("RangeError", f"sequences of {length} ids; 2 to {cfg['maxPositions'] + 1} (maxPositions + 1) are trainable")
        if int(ids.min()) < 0 or int(ids.max()) >= cfg["vocabSize"]:
            raise SpanError("RangeError", f"token ids must be in [0, {cfg['vocabSize']})")
        seqs = torch.from_numpy(ids.astype("int64")).to(self.device).view(batch, length)
        return seqs[:, :-1], seqs[:, 1:]

    def loss(self, inputs, targets):
        """Mean cross-entropy of predicting `targets` from `inputs` ([batch, T] each), a float32 scalar."""
        torch = self.torch
        F = torch.nn.functional
        cfg = self.cfg
        w = self.weights
        batch, T = inputs.shape
        heads, kv_heads = cfg["numHeads"], cfg["numKvHeads"]
        d = cfg["hiddenSize"] // heads
        group = heads // kv_heads
        cos, sin = self._rotary(T, d)

        def rope(t):
            rotated = torch.cat((-t[..., d // 2 :], t[..., : d // 2]), dim=-1)
            return t * cos + rotated * sin

        # Position i sees positions <= i.
        causal_mask = torch.arange(T, device=self.device)[None, :] > torch.arange(T, device=self.device)[:, None]
        x = F.embedding(inputs, w["model.embed_tokens.weight"])
        for layer in range(cfg["numLayers"]):
            p = f"model.layers.{layer}."
            h = self._rms_norm(x, w[p + "input_layernorm.weight"])
            # [batch, T, heads, d] for the rotation, then [batch, kvHeads, group, T, d]: query head j reads KV head j // group.
            q = rope(F.linear(h, w[p + "self_attn.q_proj.weight"]).view(batch, T, heads, d))
            k = rope(F.linear(h, w[p + "self_attn.k_proj.weight"]).view(batch, T, kv_heads, d))
            v = F.linear(h, w[p + "self_attn.v_proj.weight"]).view(batch, T, kv_heads, d)
            q = q.view(batch, T, kv_heads, group, d).permute(0, 2, 3, 1, 4)
            k = k.permute(0, 2, 1, 3).unsqueeze(2)
            v = v.permute(0, 2, 1, 3).unsqueeze(2)
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
            probs = torch.softmax(scores.masked_fill(causal_mask, float("-inf")), dim=-1)
            attn = torch.matmul(probs, v).permute(0, 3, 1, 2, 4).reshape(batch, T, heads * d)
            x = x + F.linear(attn, w[p + "self_attn.o_proj.weight"])
            h = self._rms_norm(x, w[p + "post_attention_layernorm.weight"])
            gated = F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"])
            x = x + F.linear(gated, w[p + "mlp.down_proj.weight"])
        head = w["model.embed_tokens.weight" if cfg["tieEmbeddings"] else "lm_head.weight"]
        logits = F.linear(self._rms_norm(x, w["model.norm.weight"]), head)
        return F.cross_entropy(logits.reshape(batch * T, cfg["vocabSize"]), targets.reshape(-1))

    def evaluate(self, batch, bufs):
        inputs, targets = self.batch(batch, bufs)
        with self.torch.no_grad():
            return self.loss(inputs, targets).item()

    def step(self, batch, bufs, learning_rate):
        """One AdamW step; returns the loss before it. A learning rate of None is the options' own."""
        torch = self.torch
        o = self.options
        lr = o["learningRate"] if learning_rate is None else _number(learning_rate, "learningRate", 0)
        inputs, targets = self.batch(batch, bufs)
        names = list(self.weights)
        params = [self.weights[n] for n in names]
        loss = self.loss(inputs, targets)
        grads = torch.autograd.grad(loss, params)
        b1, b2, wd, clip = o["beta1"], o["beta2"], o["weightDecay"], o["clipNorm"]
        t = self.steps + 1
        c1 = 1 - b1**t
        c2 = 1 - b2**t
        with torch.no_grad():
            scale = None
            if clip > 0:
                norm = torch.stack([g.square().sum() for g in grads]).sum().sqrt()
                scale = torch.clamp(clip / (norm + 1e-6), max=1.0)
            for name, p, g in zip(names, params, grads):
                if scale is not None:
                    g = g * scale
                m, v = self.m[name], self.v[name]
                m.mul_(b1).add_(g * (1 - b1))
                v.mul_(b2).add_(g.square() * (1 - b2))
                update = (m / c1) / ((v / c2).sqrt() + 1e-8)
                if p.dim() > 1 and wd > 0:
                    p.mul_(1 - lr * wd)
                p.sub_(update * lr)
        self.steps = t
        return loss.item()

    def read(self, pieces):
        """Flat float32 copies of runs of the weights: `pieces` lists {name, offset, count}."""
        if not self.ready:
            raise SpanError("Error", "the trainer's weights are not complete")
        if not isinstance(pieces, list) or not 0 < len(pieces) <= MAX_READ_PIECES:
            raise SpanError("RangeError", f"pieces must list 1 to {MAX_READ_PIECES} {{name, offset, count}}")
        total = 0
        out = []
        for piece in pieces:
            name = piece.get("name") if isinstance(piece, dict) else None
            offset = piece.get("offset") if isinstance(piece, dict) else None
            count = piece.get("count") if isinstance(piece, dict) else None
            if not isinstance(name, str) or len(name) > MAX_NAME or name not in self.shapes:
                raise SpanError("RangeError", f"tensor {str(name)[:MAX_NAME]!r} is not part of this model")
            if not all(isinstance(k, int) and not isinstance(k, bool) for k in (offset, count)) or offset < 0 or count <= 0 or offset + count > self.numel[name]:
                raise SpanError("RangeError", f"piece of {name} at {str(offset)[:40]} of {str(count)[:40]} values is not within its {self.numel[name]}")
            total += count
            if total > MAX_READ_VALUES:
                raise SpanError("RangeError", f"pieces of more than {MAX_READ_VALUES} values in one request")
            flat = self.weights[name].detach().view(-1)[offset : offset + count]
            out.append(flat.to("cpu").numpy().astype("float32", copy=True))
        return out

    def _rms_norm(self, x, w):
        return x * self.torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["rmsNormEps"]) * w

    def _rotary(self, count, d):
        """cos and sin [count, 1, d] of positions 0.. (angles in float64, then float32), as the span computes them."""
        torch = self.torch
        inv_freq = self.cfg["ropeTheta"] ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        angles = torch.outer(torch.arange(0, count, dtype=torch.float64), inv_freq)
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos().float().to(self.device)[:, None, :], emb.sin().float().to(self.device)[:, None, :]
