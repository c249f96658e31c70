"""Spans of a Llama-style transformer for Weft's PyTorch worker: weights received in pieces, KV-cached sessions.

Mirrors the contract in `packages/runtime/src/transformer.ts` (config names, Hugging Face tensor names and shapes,
spans of embedding, blocks [start, end) and head). The math is Hugging Face Llama's: RMSNorm in float32, rotary
positions with rotate_half, causal grouped-query attention written out by hand (torch 1.13 has no
scaled_dot_product_attention), SwiGLU MLP, linear weights stored [out, in].

Everything here reads values that came over the wire, so every field is checked before it sizes an allocation;
a bad value raises `SpanError`, which the worker reports as a failed request.
"""

import math

MAX_DIM = 1 << 20
MAX_NAME = 256
# Most sessions one batched step (`forward_many`) runs.
MAX_STEPS = 256
INT_FIELDS = ("vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "maxPositions")


class SpanError(Exception):
    """Bad input for a transformer request; `name` is the error name reported to the Node side."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name


def _positive_int(v, what, limit=MAX_DIM):
    # bool is an int in Python; JSON true must not pass as 1.
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0 or v > limit:
        raise SpanError("InvalidModelSpecError", f"{what} must be a positive integer up to {limit}, got {v!r}")
    return v


def _positive_float(v, what):
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise SpanError("InvalidModelSpecError", f"{what} must be a positive finite number, got {v!r}")
    return float(v)


def parse_config(c):
    """A checked copy of a transformer config in Weft's names (the Node side sends the parsed config)."""
    if not isinstance(c, dict):
        raise SpanError("InvalidModelSpecError", "config must be an object")
    out = {k: _positive_int(c.get(k), k) for k in INT_FIELDS}
    out["ropeTheta"] = _positive_float(c.get("ropeTheta"), "ropeTheta")
    out["rmsNormEps"] = _positive_float(c.get("rmsNormEps"), "rmsNormEps")
    tie = c.get("tieEmbeddings")
    if not isinstance(tie, bool):
        raise SpanError("InvalidModelSpecError", f"tieEmbeddings must be a boolean, got {tie!r}")
    out["tieEmbeddings"] = tie
    if out["hiddenSize"] % out["numHeads"] != 0:
        raise SpanError("InvalidModelSpecError", "hiddenSize must be a multiple of numHeads")
    if out["numHeads"] % out["numKvHeads"] != 0:
        raise SpanError("InvalidModelSpecError", "numHeads must be a multiple of numKvHeads")
    if (out["hiddenSize"] // out["numHeads"]) % 2 != 0:
        raise SpanError("InvalidModelSpecError", "the head size must be even")
    return out


def parse_span(s, cfg):
    """A checked copy of a span: {embed, blocks: [start, end], head} within the config's blocks."""
    if not isinstance(s, dict):
        raise SpanError("InvalidModelSpecError", "span must be an object")
    embed, head, blocks = s.get("embed"), s.get("head"), s.get("blocks")
    if not isinstance(embed, bool) or not isinstance(head, bool):
        raise SpanError("InvalidModelSpecError", "span.embed and span.head must be booleans")
    if not isinstance(blocks, list) or len(blocks) != 2 or not all(isinstance(b, int) and not isinstance(b, bool) for b in blocks):
        raise SpanError("InvalidModelSpecError", "span.blocks must be [start, end]")
    start, end = blocks
    if start < 0 or end < start or end > cfg["numLayers"]:
        raise SpanError("InvalidModelSpecError", f"blocks [{start}, {end}) are not within the model's {cfg['numLayers']} blocks")
    if not embed and not head and start == end:
        raise SpanError("InvalidModelSpecError", "an empty span runs nothing")
    return {"embed": embed, "blocks": (start, end), "head": head}


def tensor_shapes(cfg, span):
    """Name -> shape of every tensor a span needs, as `transformerTensorShapes` gives them."""
    h = cfg["hiddenSize"]
    kv_width = cfg["numKvHeads"] * (h // cfg["numHeads"])
    inter = cfg["intermediateSize"]
    shapes = {}
    if span["embed"] or (span["head"] and cfg["tieEmbeddings"]):
        shapes["model.embed_tokens.weight"] = (cfg["vocabSize"], h)
    for i in range(*span["blocks"]):
        p = f"model.layers.{i}"
        shapes[f"{p}.input_layernorm.weight"] = (h,)
        shapes[f"{p}.self_attn.q_proj.weight"] = (h, h)
        shapes[f"{p}.self_attn.k_proj.weight"] = (kv_width, h)
        shapes[f"{p}.self_attn.v_proj.weight"] = (kv_width, h)
        shapes[f"{p}.self_attn.o_proj.weight"] = (h, h)
        shapes[f"{p}.post_attention_layernorm.weight"] = (h,)
        shapes[f"{p}.mlp.gate_proj.weight"] = (inter, h)
        shapes[f"{p}.mlp.up_proj.weight"] = (inter, h)
        shapes[f"{p}.mlp.down_proj.weight"] = (h, inter)
    if span["head"]:
        shapes["model.norm.weight"] = (h,)
        if not cfg["tieEmbeddings"]:
            shapes["lm_head.weight"] = (cfg["vocabSize"], h)
    return shapes


class KvCache:
    """One session: per block the keys and values (after rotary), each [maxTokens, kvHeads, d], allocated at its first
    forward; positions [0, length) are valid. A step writes its positions in place (no copy of the cache per token);
    one that fails leaves `length` as it was, so what it wrote past it is never read."""

    def __init__(self, max_tokens):
        self.max_tokens = max_tokens
        self.length = 0
        self.keys = None
        self.values = None


class PieceWeights:
    """Float32 tensors of known names and shapes on a device, filled piece by piece in order, then marked ready."""

    def __init__(self, torch, shapes, device, what):
        self.torch = torch
        self.device = device
        self.shapes = shapes
        self.numel = {n: math.prod(s) for n, s in shapes.items()}
        self.what = what
        # Allocated when its first piece arrives, so memory grows only with the bytes received.
        self.weights = {}
        self.filled = {n: 0 for n in shapes}
        self.ready = False

    def put(self, name, offset, values):
        """Copies `values` (a flat float32 array) into tensor `name` at element `offset`; pieces come in order."""
        torch = self.torch
        if not isinstance(name, str) or len(name) > MAX_NAME or name not in self.shapes:
            raise SpanError("InvalidModelSpecError", f"tensor {str(name)[:MAX_NAME]!r} is not part of this {self.what}")
        if offset != self.filled[name]:
            raise SpanError("InvalidModelSpecError", f"piece of {name} at {offset!r}; expected the next at {self.filled[name]}")
        n = values.shape[0] if values.ndim == 1 else -1
        if n <= 0 or offset + n > self.numel[name]:
            raise SpanError("InvalidModelSpecError", f"piece of {name} with shape {list(values.shape)} runs past its {self.numel[name]} values")
        t = self.weights.get(name)
        if t is None:
            t = torch.empty(self.shapes[name], dtype=torch.float32, device=self.device)
            self.weights[name] = t
        with torch.no_grad():  # a trainer's weights are leaves that require grad when replaced
            t.view(-1)[offset : offset + n].copy_(torch.from_numpy(values))
        self.filled[name] = offset + n

    def finish(self):
        missing = [n for n, k in self.filled.items() if k != self.numel[n]]
        if missing:
            raise SpanError("InvalidModelSpecError", f"tensor {missing[0]} holds {self.filled[missing[0]]} of its {self.numel[missing[0]]} values")
        self.ready = True


class TransformerSpan(PieceWeights):
    """A span's weights on the engine's device, filled piece by piece, then its sessions."""

    def __init__(self, torch, cfg, span, device):
        super().__init__(torch, tensor_shapes(cfg, span), device, "span")
        self.cfg = cfg
        self.span = span
        self.sessions = {}

    def forward(self, session_id, start, max_tokens, inputs):
        """Runs `inputs` (int32 ids [count] or float32 hidden [count, hiddenSize]) at positions start, start+1, ...

        The session is created by its first forward (start 0). A start below the cached length drops the positions
        from there on first (the Node side's truncate). Returns float32 hidden states or logits, on the CPU.
        """
        if not self.ready:
            raise SpanError("Error", "the span's weights are not complete")
        if len(inputs) != 1:
            raise SpanError("RangeError", f"expected one input buffer, got {len(inputs)}")
        return self._run([self._check_step(session_id, start, max_tokens, inputs[0])])[0]

    def forward_many(self, steps, inputs):
        """One step of several sessions as one batch: `steps` lists {session, start, maxTokens}, one input buffer each,
        as `forward` takes them. Every step is checked before anything runs (a session may appear once), so a bad
        step changes no session; then all rows share each projection and MLP product, and each session attends over
        its own cache. Returns each step's output, in order."""
        if not self.ready:
            raise SpanError("Error", "the span's weights are not complete")
        if not isinstance(steps, list) or not 0 < len(steps) <= MAX_STEPS:
            raise SpanError("RangeError", f"steps must be a list of 1 to {MAX_STEPS} steps")
        if len(inputs) != len(steps):
            raise SpanError("RangeError", f"expected one input buffer per step ({len(steps)}), got {len(inputs)}")
        checked = []
        seen = set()
        for step, a in zip(steps, inputs):
            if not isinstance(step, dict):
                raise SpanError("RangeError", "each step must be {session, start, maxTokens}")
            session_id = step.get("session")
            if isinstance(session_id, str) and session_id in seen:
                raise SpanError("RangeError", f"session {session_id[:MAX_NAME]} appears twice in one batch")
            checked.append(self._check_step(session_id, step.get("start"), step.get("maxTokens"), a))
            seen.add(session_id)
        return self._run(checked)

    def _check_step(self, session_id, start, max_tokens, a):
        """(id, session, start, input) of a checked step; a new session's cache is not registered yet."""
        cfg = self.cfg
        if not isinstance(session_id, str) or len(session_id) > MAX_NAME:
            raise SpanError("RangeError", "session must be a string")
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise SpanError("RangeError", f"start must be an integer >= 0, got {start!r}")
        session = self.sessions.get(session_id)
        if session is None:
            if start != 0:
                raise SpanError("RangeError", f"no session {session_id} in this worker")
            session = KvCache(_positive_int(max_tokens, "maxTokens", cfg["maxPositions"]))
        if start > session.length:
            raise SpanError("RangeError", f"start {start} is past the session's {session.length} positions")
        if self.span["embed"] and (a.dtype.name != "int32" or a.ndim != 1):
            raise SpanError("RangeError", "a span with the embedding takes int32 token ids [count]")
        if not self.span["embed"] and (a.dtype.name != "float32" or a.ndim != 2 or a.shape[1] != cfg["hiddenSize"]):
            raise SpanError("RangeError", f"a span without the embedding takes float32 hidden states [count, {cfg['hiddenSize']}]")
        count = a.shape[0]
        if count <= 0 or start + count > session.max_tokens:
            raise SpanError("RangeError", f"{count} positions from {start} do not fit the session's {session.max_tokens}")
        if self.span["embed"] and (int(a.min()) < 0 or int(a.max()) >= cfg["vocabSize"]):
            raise SpanError("RangeError", f"token ids must be in [0, {cfg['vocabSize']})")
        return session_id, session, start, a

    def _run(self, steps):
        """Runs checked steps as one batch; commits each session's new length only once all of them ran."""
        torch = self.torch
        cfg = self.cfg
        counts = [a.shape[0] for _, _, _, a in steps]
        with torch.inference_mode():
            if self.span["embed"]:
                ids = torch.cat([torch.from_numpy(a.astype("int64")) for _, _, _, a in steps]).to(self.device)
                x = torch.nn.functional.embedding(ids, self.weights["model.embed_tokens.weight"])
            else:
                # A copy: torch must not share a frame's read-only memory.
                x = torch.cat([torch.from_numpy(a.copy()) for _, _, _, a in steps]).to(self.device)
            x = self._blocks(x, [(session, start, n) for (_, session, start, _), n in zip(steps, counts)])
            if self.span["head"]:
                x = self._rms_norm(x, self.weights["model.norm.weight"])
                head = self.weights["model.embed_tokens.weight" if cfg["tieEmbeddings"] else "lm_head.weight"]
                x = torch.nn.functional.linear(x, head)
            out = x.to("cpu").numpy().astype("float32", copy=False)
        # Only a pass that ran to the end changes the caches.
        outputs = []
        at = 0
        for (session_id, session, start, _), n in zip(steps, counts):
            session.length = start + n
            self.sessions[session_id] = session
            outputs.append(out[at : at + n])
            at += n
        return outputs

    def close(self, session_id):
        self.sessions.pop(session_id, None)

    def _rms_norm(self, x, w):
        return x * self.torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["rmsNormEps"]) * w

    def _rotary(self, positions, d):
        """cos and sin [rows, 1, d] of the given positions (a long tensor; angles in float64, then float32), from
        tables of every position built at the first call."""
        if getattr(self, "_cos", None) is None:
            torch = self.torch
            inv_freq = self.cfg["ropeTheta"] ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
            angles = torch.outer(torch.arange(0, self.cfg["maxPositions"], dtype=torch.float64), inv_freq)
            emb = torch.cat((angles, angles), dim=-1)
            self._cos = emb.cos().float().to(self.device)[:, None, :]
            self._sin = emb.sin().float().to(self.device)[:, None, :]
        return self._cos[positions], self._sin[positions]

    def _blocks(self, x, runs):
        """The blocks over `x` [rows, hidden]: the rows of each (session, start, count) of `runs`, in order. Norms,
        projections and the MLP take all rows at once; each session writes its keys and values into its cache and
        attends over it."""
        torch = self.torch
        F = torch.nn.functional
        cfg = self.cfg
        rows = x.shape[0]
        heads, kv_heads = cfg["numHeads"], cfg["numKvHeads"]
        d = cfg["hiddenSize"] // heads
        group = heads // kv_heads
        first, end = self.span["blocks"]
        if first == end:
            return x
        positions = torch.cat([torch.arange(start, start + count) for _, start, count in runs]).to(self.device)
        cos, sin = self._rotary(positions, d)

        def rope(t):
            rotated = torch.cat((-t[..., d // 2 :], t[..., : d // 2]), dim=-1)
            return t * cos + rotated * sin

        # Query i of a session (position start + i) sees keys at positions <= start + i; a single new position sees
        # them all.
        def causal_mask(start, count):
            keys = torch.arange(start + count, device=self.device)
            return None if count == 1 else keys[None, :] > keys[start:, None]

        masks = [causal_mask(start, count) for _, start, count in runs]
        for session, _, _ in runs:
            if session.keys is None:
                shape = (session.max_tokens, kv_heads, d)
                session.keys = [torch.empty(shape, device=self.device) for _ in range(first, end)]
                session.values = [torch.empty(shape, device=self.device) for _ in range(first, end)]
        for layer in range(first, end):
            prefix = f"model.layers.{layer}."

            def w(name):
                return self.weights[prefix + name + ".weight"]

            h = self._rms_norm(x, w("input_layernorm"))
            q = rope(F.linear(h, w("self_attn.q_proj")).view(rows, heads, d))
            k = rope(F.linear(h, w("self_attn.k_proj")).view(rows, kv_heads, d))
            v = F.linear(h, w("self_attn.v_proj")).view(rows, kv_heads, d)
            i = layer - first
            outs = []
            row = 0
            for (session, start, count), mask in zip(runs, masks):
                total = start + count
                session.keys[i][start:total] = k[row : row + count]
                session.values[i][start:total] = v[row : row + count]
                ks = session.keys[i][:total]
                vs = session.values[i][:total]
                # Query head j reads KV head j // group.
                kh = ks.repeat_interleave(group, dim=1) if group > 1 else ks
                vh = vs.repeat_interleave(group, dim=1) if group > 1 else vs
                scores = torch.einsum("qhd,khd->hqk", q[row : row + count], kh) / math.sqrt(d)
                if mask is not None:
                    scores = scores.masked_fill(mask, float("-inf"))
                outs.append(torch.einsum("hqk,khd->qhd", torch.softmax(scores, dim=-1), vh).reshape(count, heads * d))
                row += count
            attn = outs[0] if len(outs) == 1 else torch.cat(outs)
            x = x + F.linear(attn, w("self_attn.o_proj"))
            h = self._rms_norm(x, w("post_attention_layernorm"))
            x = x + F.linear(F.silu(F.linear(h, w("mlp.gate_proj"))) * F.linear(h, w("mlp.up_proj")), w("mlp.down_proj"))
        return x
