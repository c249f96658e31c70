"""Weft's PyTorch worker: one long-lived process that builds, trains and evaluates Weft models for the Node side.

It speaks the framed binary protocol of `src/frames.ts` on its standard input and output:

    frame  = u32 LE body length, body
    body   = u32 LE header length, header (UTF-8 JSON, control fields only), zero padding to 8 bytes,
             then each buffer the header lists in `buffers` ({dtype, shape}), raw little-endian, padded to 8 bytes

Tensors never travel as JSON. Parameters are flat float32 vectors in Weft's registry order and layout
(dense kernels [in, out], convolution kernels [kh, kw, in, out], features flattened as height, width, channels),
converted to PyTorch's layout once when they are set and back when they are read, so a model trained here
continues on any other Weft engine. Only `torch` and `numpy` are needed. Diagnostics go to standard error.
"""

import json
import math
import os
import struct
import sys
import time
import traceback

from weft_transformer import MAX_NAME, SpanError, TransformerSpan, parse_config, parse_span
from weft_transformer_train import TransformerTrainer, parse_train_options

PROTOCOL = 1
MAX_HEADER = 1 << 20
MAX_FRAME = (1 << 31) - 1
DTYPES = {"float32": 4, "int32": 4, "uint8": 1, "float64": 8}
# Most buffers in one frame, and most dimensions of one buffer.
MAX_BUFFERS = 4096
MAX_RANK = 8


class WorkerError(Exception):
    """An error reported back to the caller as a failed request (the worker keeps running)."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name


def _pad8(n):
    return (8 - n % 8) % 8


class Channel:
    """Frames over two file descriptors."""

    def __init__(self, rfd, wfd):
        self.rfd = rfd
        self.wfd = wfd

    def _read_exact(self, n):
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = os.readv(self.rfd, [view[got:]])
            if k == 0:
                return None
            got += k
        return buf

    def read(self):
        """The next request as (header, arrays), or None at the end of input.

        Raises WorkerError when the length prefix is out of range (the stream is out of step: fatal), and BadRequest
        when a body of the stated length is malformed (answered with an error; the next frame is read as usual).
        """
        head = self._read_exact(4)
        if head is None:
            return None
        (length,) = struct.unpack("<I", head)
        if length < 4 or length > MAX_FRAME:
            raise WorkerError("FrameError", f"frame length {length} is out of range")
        body = self._read_exact(length)
        if body is None:
            return None
        return _parse_body(body, length)

    def write(self, header, arrays=()):
        import numpy as np

        specs = []
        parts = []
        for a in arrays:
            a = np.ascontiguousarray(a)
            name = {np.dtype("float32"): "float32", np.dtype("int32"): "int32", np.dtype("uint8"): "uint8", np.dtype("float64"): "float64"}[a.dtype]
            specs.append({"dtype": name, "shape": list(a.shape)})
            parts.append(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
        if specs:
            header = dict(header, buffers=specs)
        hbytes = json.dumps(_finite_json(header), separators=(",", ":"), allow_nan=False).encode("utf-8")
        chunks = [struct.pack("<I", len(hbytes)), hbytes, b"\0" * _pad8(4 + len(hbytes))]
        for p in parts:
            chunks.append(p)
            chunks.append(b"\0" * _pad8(len(p)))
        body_len = sum(len(c) for c in chunks)
        data = b"".join([struct.pack("<I", body_len)] + chunks)
        view = memoryview(data)
        while view:
            k = os.write(self.wfd, view)
            view = view[k:]


class BadRequest(WorkerError):
    """A frame body that is malformed; `rid` is its request id when the header could be read."""

    def __init__(self, message, rid=0):
        super().__init__("FrameError", message)
        self.rid = rid


def _parse_body(body, length):
    """Header and arrays of one frame body; every size it reads is checked against the bytes received."""
    import numpy as np

    (hlen,) = struct.unpack_from("<I", body, 0)
    if hlen > MAX_HEADER or 4 + hlen > length:
        raise BadRequest(f"header length {hlen} is out of range")
    try:
        header = json.loads(bytes(body[4 : 4 + hlen]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(f"frame header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise BadRequest("frame header is not an object")
    rid = header.get("id", 0)
    specs = header.get("buffers", [])
    if not isinstance(specs, list) or len(specs) > MAX_BUFFERS:
        raise BadRequest(f"buffers must be a list of at most {MAX_BUFFERS}", rid)
    offset = 4 + hlen
    offset += _pad8(offset)
    arrays = []
    for spec in specs:
        dtype = spec.get("dtype") if isinstance(spec, dict) else None
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if dtype not in DTYPES:
            raise BadRequest(f"unknown dtype {dtype!r}", rid)
        if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_FRAME for d in shape):
            raise BadRequest(f"bad buffer shape {str(shape)[:80]}", rid)
        count = 1
        for d in shape:
            count *= d
        nbytes = count * DTYPES[dtype]
        if offset + nbytes > length:
            raise BadRequest("buffers run past the end of the frame", rid)
        arr = np.frombuffer(body, dtype="<" + {"float32": "f4", "int32": "i4", "uint8": "u1", "float64": "f8"}[dtype], count=count, offset=offset)
        arrays.append(arr.reshape(shape))
        offset += nbytes + _pad8(nbytes)
    return header, arrays


def _finite_json(v):
    """JSON has no NaN or infinities: they travel as the strings JavaScript's Number() reads back."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: _finite_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite_json(x) for x in v]
    return v


# ---------------------------------------------------------------------------------------------------------------
# Models: the built-in architectures over parameters held in PyTorch layout.


def _shape_size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class WeftModel:
    """One model: the spec, the parameter list (name, Weft shape) and leaf tensors in PyTorch layout."""

    def __init__(self, torch, spec, info, device):
        self.torch = torch
        self.spec = spec
        self.info = [(p["name"], tuple(p["shape"])) for p in info]
        self.device = device
        arch = spec["architecture"]
        self.arch = arch
        shape = spec["inputShape"]
        if arch in ("cnn-lenet", "cnn-mcmahan"):
            self.image = tuple(shape)  # (h, w, c)
        else:
            self.image = None
        # The first dense layer after the convolutions reads features flattened as (h, w, c) in Weft, (c, h, w) here.
        self.flat_conv = None
        if arch == "cnn-lenet":
            h, w, _ = shape
            fh = ((h - 4) // 2 - 4) // 2
            fw = ((w - 4) // 2 - 4) // 2
            self.flat_conv = (4, fh, fw, 16)
        elif arch == "cnn-mcmahan":
            h, w, _ = shape
            fh = (((h + 1) // 2) + 1) // 2
            fw = (((w + 1) // 2) + 1) // 2
            self.flat_conv = (4, fh, fw, 64)
        self.params = [torch.zeros(self._torch_shape(i), dtype=torch.float32, device=device, requires_grad=True) for i in range(len(self.info))]
        self.count = sum(_shape_size(s) for _, s in self.info)

    def _torch_shape(self, i):
        name, shape = self.info[i]
        if len(shape) == 4:  # [kh, kw, in, out] -> [out, in, kh, kw]
            return (shape[3], shape[2], shape[0], shape[1])
        return shape

    def _to_torch(self, i, t):
        """A Weft-layout tensor of parameter i in PyTorch layout."""
        name, shape = self.info[i]
        t = t.reshape(shape)
        if len(shape) == 4:
            return t.permute(3, 2, 0, 1).contiguous()
        if self.flat_conv is not None and i == self.flat_conv[0]:
            _, fh, fw, c = self.flat_conv
            return t.reshape(fh, fw, c, shape[1]).permute(2, 0, 1, 3).reshape(shape).contiguous()
        return t

    def _to_weft(self, i, t):
        name, shape = self.info[i]
        if len(shape) == 4:
            return t.permute(2, 3, 1, 0).contiguous()
        if self.flat_conv is not None and i == self.flat_conv[0]:
            _, fh, fw, c = self.flat_conv
            return t.reshape(c, fh, fw, shape[1]).permute(1, 2, 0, 3).reshape(shape).contiguous()
        return t

    def set_flat(self, flat):
        torch = self.torch
        if flat.shape[0] != self.count:
            raise WorkerError("ParamsLengthError", f"expected {self.count} parameters, got {flat.shape[0]}")
        src = torch.from_numpy(flat.copy())
        offset = 0
        with torch.no_grad():
            for i, (_, shape) in enumerate(self.info):
                n = _shape_size(shape)
                self.params[i].copy_(self._to_torch(i, src[offset : offset + n]).to(self.device))
                offset += n

    def flat(self, tensors=None):
        torch = self.torch
        tensors = self.params if tensors is None else tensors
        with torch.no_grad():
            parts = [self._to_weft(i, t.detach()).reshape(-1).to("cpu") for i, t in enumerate(tensors)]
            return torch.cat(parts).numpy()

    def forward(self, x):
        """Logits for a batch x of shape [n, featureSize] (features in Weft's order)."""
        torch = self.torch
        F = torch.nn.functional
        p = self.params
        arch = self.arch
        if arch == "logreg":
            return torch.addmm(p[1], x, p[0])
        if arch == "mlp":
            h = x
            layers = len(p) // 2
            for l in range(layers):
                h = torch.addmm(p[2 * l + 1], h, p[2 * l])
                if l < layers - 1:
                    h = F.relu(h)
            return h
        hh, ww, cc = self.image
        if cc == 1:
            h = x.reshape(-1, 1, hh, ww)
        else:
            h = x.reshape(-1, hh, ww, cc).permute(0, 3, 1, 2)
        if arch == "cnn-lenet":
            h = F.max_pool2d(F.relu(F.conv2d(h, p[0], p[1])), 2, 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, p[2], p[3])), 2, 2)
            f = h.reshape(h.shape[0], -1)
            f = F.relu(torch.addmm(p[5], f, p[4]))
            f = F.relu(torch.addmm(p[7], f, p[6]))
            return torch.addmm(p[9], f, p[8])
        if arch == "cnn-mcmahan":
            # 'same' 5x5 convolutions; 2x2 pools with TensorFlow's 'same' padding (at the end), i.e. ceil mode.
            h = F.max_pool2d(F.relu(F.conv2d(h, p[0], p[1], padding=2)), 2, 2, ceil_mode=True)
            h = F.max_pool2d(F.relu(F.conv2d(h, p[2], p[3], padding=2)), 2, 2, ceil_mode=True)
            f = h.reshape(h.shape[0], -1)
            f = F.relu(torch.addmm(p[5], f, p[4]))
            return torch.addmm(p[7], f, p[6])
        raise WorkerError("UnknownArchitectureError", f"unknown architecture {arch!r}")


def make_optimizer(torch, params, cfg):
    kind = cfg["kind"]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weightDecay"], nesterov=cfg["nesterov"])
    if kind == "adam":
        return torch.optim.Adam(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"], weight_decay=cfg["weightDecay"])
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"], weight_decay=cfg["weightDecay"])
    raise WorkerError("InvalidTrainOptionsError", f"unknown optimizer {kind!r}")


class Session:
    """A training run: optimizer state and the proximal reference, kept across the chunks of one `train` call."""

    def __init__(self, model, optimizer, mu, reference):
        self.model = model
        self.optimizer = optimizer
        self.mu = mu
        self.reference = reference
        self.order = None
        self.kind = None


class Worker:
    def __init__(self, channel):
        import numpy as np
        import torch

        self.np = np
        self.torch = torch
        self.channel = channel
        self.models = {}
        self.arrays = {}
        self.sessions = {}
        self.transformers = {}
        self.trainers = {}
        self.device = torch.device("cpu")
        self.device_name = "cpu"
        self.device_memory = 0

    # -- requests ------------------------------------------------------------------------------------------------

    def op_hello(self, req, bufs):
        torch = self.torch
        want = req.get("device", "auto")
        threads = int(req.get("threads", 0))
        if threads > 0:
            torch.set_num_threads(threads)
        cuda = torch.cuda.is_available()
        if want == "cuda" and not cuda:
            raise WorkerError("DeviceUnavailableError", "device cuda was asked for but torch.cuda.is_available() is false")
        if want == "cuda" or (want == "auto" and cuda):
            index = int(req.get("cudaIndex", 0))
            self.device = torch.device("cuda", index)
            props = torch.cuda.get_device_properties(index)
            self.device_name = props.name
            self.device_memory = int(props.total_memory)
            torch.backends.cudnn.benchmark = True
            # Full float32 on the GPU: TF32 matrix units (PyTorch's default for cuDNN convolutions) round operands
            # to 10 mantissa bits, ~1e-3 relative error, and a federation that mixes engines needs the same weights
            # from the same steps on every engine.
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        else:
            self.device = torch.device("cpu")
            self.device_name = _cpu_name()
            self.device_memory = 0
        return {
            "protocol": PROTOCOL,
            "torch": torch.__version__,
            "numpy": self.np.__version__,
            "python": sys.version.split()[0],
            "device": self.device.type,
            "deviceName": self.device_name,
            "deviceMemory": self.device_memory,
            "threads": torch.get_num_threads(),
            "blas": _blas_info(torch),
            "pid": os.getpid(),
        }, []

    def op_model(self, req, bufs):
        model = WeftModel(self.torch, req["spec"], req["info"], self.device)
        model.set_flat(bufs[0])
        self.models[req["model"]] = model
        return {}, []

    def op_drop_model(self, req, bufs):
        self.models.pop(req["model"], None)
        return {}, []

    def op_set_params(self, req, bufs):
        self._model(req).set_flat(bufs[0])
        return {}, []

    def op_get_params(self, req, bufs):
        return {}, [self._model(req).flat()]

    def op_put_array(self, req, bufs):
        """Caches features (converted to float32 on the device) or labels under an id."""
        torch = self.torch
        np = self.np
        a = bufs[0]
        if a.dtype == np.uint8:
            scale = float(req.get("scale", 1.0))
            out = torch.empty(a.shape, dtype=torch.float32)
            flat_in = a.reshape(-1)
            flat_out = out.reshape(-1)
            step = 1 << 22
            for s in range(0, flat_in.shape[0], step):
                # In float64 then rounded, exactly as the Node side fills a batch (value * scale).
                flat_out[s : s + step] = torch.from_numpy((flat_in[s : s + step].astype(np.float64) * scale).astype(np.float32))
            t = out
        elif a.dtype == np.int32:
            t = torch.from_numpy(a.astype(np.int64))
        else:
            t = torch.from_numpy(a.copy())
        self.arrays[req["array"]] = t.to(self.device)
        return {}, []

    def op_drop_array(self, req, bufs):
        self.arrays.pop(req["array"], None)
        return {}, []

    def op_train_begin(self, req, bufs):
        torch = self.torch
        model = self._model(req)
        mu = float(req.get("mu", 0))
        reference = None
        if mu > 0:
            ref = WeftModel(torch, model.spec, [{"name": n, "shape": list(s)} for n, s in model.info], self.device)
            ref.set_flat(bufs[0])
            reference = [t.detach() for t in ref.params]
        optimizer = make_optimizer(torch, model.params, req["optimizer"])
        if req.get("stateStep") is not None:
            # The optimizer's state from an earlier call, in Weft's layout (see OptimizerState): after the proximal
            # reference when there is one.
            self._import_optimizer_state(model, optimizer, req["optimizer"], int(req["stateStep"]), bufs[1 if mu > 0 else 0])
        sess = Session(model, optimizer, mu, reference)
        sess.kind = req["optimizer"]["kind"]
        self.sessions[req["session"]] = sess
        return {}, []

    def _optimizer_tensors(self, model, flat, offset):
        """Per-parameter tensors in PyTorch layout from a Weft-layout flat array, starting at `offset`."""
        torch = self.torch
        src = torch.from_numpy(flat.copy())
        out = []
        for i, (_, shape) in enumerate(model.info):
            n = _shape_size(shape)
            out.append(model._to_torch(i, src[offset : offset + n]).to(model.device))
            offset += n
        return out

    def _import_optimizer_state(self, model, optimizer, cfg, step, flat):
        torch = self.torch
        if cfg["kind"] == "sgd":
            if flat.shape[0] == 0:
                return
            for p, b in zip(model.params, self._optimizer_tensors(model, flat, 0)):
                optimizer.state[p]["momentum_buffer"] = b.clone()
            return
        m = self._optimizer_tensors(model, flat, 0)
        v = self._optimizer_tensors(model, flat, model.count)
        for p, a, b in zip(model.params, m, v):
            optimizer.state[p]["step"] = torch.tensor(float(step))
            optimizer.state[p]["exp_avg"] = a.clone()
            optimizer.state[p]["exp_avg_sq"] = b.clone()

    def op_train_state(self, req, bufs):
        """The session's optimizer state in Weft's layout: Adam's moments (first, then second), SGD's velocity."""
        torch = self.torch
        sess = self.sessions.get(req["session"])
        if sess is None:
            raise WorkerError("Error", f"no training session {req['session']}")
        model = sess.model
        state = sess.optimizer.state

        def flat_of(key):
            return model.flat([state[p][key] if key in state[p] else torch.zeros_like(p) for p in model.params])

        if sess.kind == "sgd":
            if sess.optimizer.param_groups[0]["momentum"] == 0:
                return {}, [self.np.zeros(0, dtype=self.np.float32)]
            return {}, [flat_of("momentum_buffer")]
        return {}, [self.np.concatenate([flat_of("exp_avg"), flat_of("exp_avg_sq")])]

    def op_train_end(self, req, bufs):
        self.sessions.pop(req["session"], None)
        return {}, []

    def op_train_run(self, req, bufs):
        """Runs up to `maxSteps` steps, or until `budgetMs` has passed; returns each step's loss.

        Batches come either from cached arrays (`x`, `y` ids) in the order `order` (absolute example indices of the
        epoch, sent once per epoch) from position `from`, or inline as the frame's buffers (`inline`: x, y, sizes).
        """
        torch = self.torch
        np = self.np
        sess = self.sessions.get(req["session"])
        if sess is None:
            raise WorkerError("Error", f"no training session {req['session']}")
        model = sess.model
        batch_size = int(req["batchSize"])
        max_steps = int(req["maxSteps"])
        budget = float(req.get("budgetMs", 250)) / 1000.0
        losses = []
        stopped = None
        t_end = time.perf_counter() + budget
        if req.get("inline", False):
            x_all = torch.from_numpy(bufs[0].copy()).to(self.device)
            y_all = torch.from_numpy(bufs[1].astype(np.int64)).to(self.device)
            sizes = bufs[2]
            start = 0
            batches = []
            for s in sizes.tolist():
                batches.append((x_all[start : start + s], y_all[start : start + s]))
                start += s
        else:
            if len(bufs) > 0:
                sess.order = torch.from_numpy(bufs[0].astype(np.int64)).to(self.device)
            if sess.order is None:
                raise WorkerError("Error", "train_run without an epoch order")
            X = self.arrays[req["x"]]
            Y = self.arrays[req["y"]]
            end = int(req["end"])
            pos = int(req["from"])
            batches = None
        step = 0
        while step < max_steps:
            if batches is not None:
                if step >= len(batches):
                    break
                xb, yb = batches[step]
            else:
                if pos >= end:
                    break
                idx = sess.order[pos : min(pos + batch_size, end)]
                pos += idx.shape[0]
                xb = X.index_select(0, idx)
                yb = Y.index_select(0, idx)
            loss = self._loss(sess, xb, yb)
            sess.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            value = loss.item()
            if not math.isfinite(value):
                stopped = value
                break
            sess.optimizer.step()
            losses.append(value)
            step += 1
            if batches is None and time.perf_counter() > t_end:
                break
        out = {"steps": len(losses)}
        if stopped is not None:
            out["nonFinite"] = "nan" if math.isnan(stopped) else ("inf" if stopped > 0 else "-inf")
        return out, [np.asarray(losses, dtype=np.float64)]

    def _loss(self, sess, xb, yb):
        torch = self.torch
        loss = torch.nn.functional.cross_entropy(sess.model.forward(xb), yb)
        if sess.mu > 0:
            prox = sum(((w - r) ** 2).sum() for w, r in zip(sess.model.params, sess.reference))
            loss = loss + (sess.mu / 2) * prox
        return loss

    def op_evaluate(self, req, bufs):
        """Sum of cross-entropy and correct predictions over examples `indices` of cached arrays, or inline x, y."""
        torch = self.torch
        np = self.np
        model = self._model(req)
        batch_size = int(req.get("batchSize", 1024))
        loss_sum = 0.0
        correct = 0
        examples = 0
        with torch.no_grad():
            if req.get("inline", False):
                X = torch.from_numpy(bufs[0].copy()).to(self.device)
                Y = torch.from_numpy(bufs[1].astype(np.int64)).to(self.device)
                idx_all = None
                n = Y.shape[0]
            else:
                X = self.arrays[req["x"]]
                Y = self.arrays[req["y"]]
                idx_all = torch.from_numpy(bufs[0].astype(np.int64)).to(self.device) if len(bufs) > 0 else None
                n = idx_all.shape[0] if idx_all is not None else Y.shape[0]
            for s in range(0, n, batch_size):
                if idx_all is None:
                    xb, yb = X[s : s + batch_size], Y[s : s + batch_size]
                else:
                    idx = idx_all[s : s + batch_size]
                    xb, yb = X.index_select(0, idx), Y.index_select(0, idx)
                logits = model.forward(xb)
                loss_sum += torch.nn.functional.cross_entropy(logits, yb, reduction="sum").item()
                correct += int((logits.argmax(1) == yb).sum().item())
                examples += yb.shape[0]
        return {"lossSum": loss_sum, "correct": correct, "examples": examples}, []

    def op_predict(self, req, bufs):
        torch = self.torch
        model = self._model(req)
        with torch.no_grad():
            x = torch.from_numpy(bufs[0].copy()).to(self.device)
            return {}, [model.forward(x).to("cpu").numpy().astype(self.np.float32)]

    def op_gradients(self, req, bufs):
        """Mean cross-entropy of one batch and its gradient, flat in Weft's order; the parameters are unchanged."""
        torch = self.torch
        model = self._model(req)
        x = torch.from_numpy(bufs[0].copy()).to(self.device)
        y = torch.from_numpy(bufs[1].astype(self.np.int64)).to(self.device)
        loss = torch.nn.functional.cross_entropy(model.forward(x), y)
        grads = torch.autograd.grad(loss, model.params)
        return {"loss": loss.item()}, [model.flat(grads)]

    def op_matmul_probe(self, req, bufs):
        torch = self.torch
        size = int(req.get("size", 256))
        duration = float(req.get("durationMs", 1000)) / 1000.0
        g = torch.Generator(device="cpu").manual_seed(1)
        a = torch.rand(size, size, generator=g).to(self.device)
        b = torch.rand(size, size, generator=g).to(self.device)
        c = a @ b
        self._sync()
        iterations = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < duration:
            for _ in range(8):
                c = a @ b
            self._sync()
            iterations += 8
        seconds = time.perf_counter() - t0
        del c
        return {"gflops": 2 * size**3 * iterations / seconds / 1e9, "iterations": iterations, "seconds": seconds}, []

    # -- transformer spans: loaded in pieces (a frame holds at most 2 GiB), then forwarded through KV sessions ------

    def op_transformer_load(self, req, bufs):
        """Starts a span from its config and span; its tensors follow in `transformer_put` requests."""
        tid = req.get("transformer")
        if not isinstance(tid, str) or not 0 < len(tid) <= MAX_NAME or tid in self.transformers:
            raise WorkerError("Error", "transformer must be a new id")
        cfg = parse_config(req.get("config"))
        self.transformers[tid] = TransformerSpan(self.torch, cfg, parse_span(req.get("span"), cfg), self.device)
        return {}, []

    def _put_pieces(self, target, req, bufs):
        """Pieces of tensors into a span or trainer: `pieces` lists {name, offset} of each float32 buffer, in order."""
        pieces = req.get("pieces")
        if not isinstance(pieces, list) or len(pieces) != len(bufs):
            raise WorkerError("InvalidModelSpecError", f"pieces must list one {{name, offset}} per buffer ({len(bufs)})")
        for piece, values in zip(pieces, bufs):
            if not isinstance(piece, dict) or values.dtype != self.np.float32:
                raise WorkerError("InvalidModelSpecError", "each piece is {name, offset} with a float32 buffer")
            target.put(piece.get("name"), piece.get("offset"), values)
        return {}, []

    def op_transformer_put(self, req, bufs):
        return self._put_pieces(self._transformer(req, ready=False), req, bufs)

    def op_transformer_ready(self, req, bufs):
        self._transformer(req, ready=False).finish()
        return {}, []

    def op_transformer_forward(self, req, bufs):
        span = self._transformer(req, ready=True)
        return {}, [span.forward(req.get("session"), req.get("start"), req.get("maxTokens"), bufs)]

    def op_transformer_forward_many(self, req, bufs):
        """One batched step of several sessions: `steps` lists {session, start, maxTokens}, one input buffer each;
        the reply holds one output buffer per step, in order."""
        span = self._transformer(req, ready=True)
        return {}, span.forward_many(req.get("steps"), bufs)

    def op_transformer_close(self, req, bufs):
        self._transformer(req, ready=True).close(req.get("session"))
        return {}, []

    def op_transformer_drop(self, req, bufs):
        self.transformers.pop(req.get("transformer"), None)
        return {}, []

    # -- whole transformers in training: loaded in pieces as spans are, then stepped, evaluated and read back -------

    def op_trainer_load(self, req, bufs):
        """Starts a trainer from its config and resolved options; its tensors follow in `trainer_put` requests."""
        tid = req.get("trainer")
        if not isinstance(tid, str) or not 0 < len(tid) <= MAX_NAME or tid in self.trainers:
            raise WorkerError("Error", "trainer must be a new id")
        cfg = parse_config(req.get("config"))
        self.trainers[tid] = TransformerTrainer(self.torch, cfg, parse_train_options(req.get("options")), self.device)
        return {}, []

    def op_trainer_put(self, req, bufs):
        return self._put_pieces(self._trainer(req, ready=False), req, bufs)

    def op_trainer_reset(self, req, bufs):
        """New weights for a ready trainer follow in `trainer_put` requests, then `trainer_ready`; the moments stay."""
        self._trainer(req, ready=True).reset()
        return {}, []

    def op_trainer_ready(self, req, bufs):
        self._trainer(req, ready=False).finish()
        return {}, []

    def op_trainer_step(self, req, bufs):
        """One AdamW step on the int32 ids of the frame's buffer (`batch` sequences); `learningRate` may be absent."""
        trainer = self._trainer(req, ready=True)
        loss = trainer.step(req.get("batch"), bufs, req.get("learningRate"))
        return {"loss": loss, "steps": trainer.steps}, []

    def op_trainer_eval(self, req, bufs):
        return {"loss": self._trainer(req, ready=True).evaluate(req.get("batch"), bufs)}, []

    def op_trainer_weights(self, req, bufs):
        """Runs of the current weights: `pieces` lists {name, offset, count}; one float32 buffer each."""
        return {}, self._trainer(req, ready=True).read(req.get("pieces"))

    def op_trainer_drop(self, req, bufs):
        self.trainers.pop(req.get("trainer"), None)
        return {}, []

    def op_exit(self, req, bufs):
        raise SystemExit(0)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def _transformer(self, req, ready):
        tid = req.get("transformer")
        span = self.transformers.get(tid) if isinstance(tid, str) else None
        if span is None:
            raise WorkerError("Error", f"no transformer {str(tid)[:MAX_NAME]} in this worker")
        if span.ready != ready:
            raise WorkerError("Error", f"transformer {tid} is {'still loading' if ready else 'already loaded'}")
        return span

    def _trainer(self, req, ready):
        tid = req.get("trainer")
        trainer = self.trainers.get(tid) if isinstance(tid, str) else None
        if trainer is None:
            raise WorkerError("Error", f"no trainer {str(tid)[:MAX_NAME]} in this worker")
        if trainer.ready != ready:
            raise WorkerError("Error", f"trainer {tid} is {'still loading' if ready else 'already loaded'}")
        return trainer

    def _model(self, req):
        m = self.models.get(req["model"])
        if m is None:
            raise WorkerError("Error", f"no model {req['model']} in this worker")
        return m

    def serve(self):
        while True:
            try:
                got = self.channel.read()
            except BadRequest as e:
                self.channel.write({"id": e.rid, "ok": False, "error": {"name": e.name, "message": str(e)}})
                continue
            except WorkerError as e:
                # A malformed frame leaves the stream out of step: report it and stop.
                sys.stderr.write(f"weft-torch-worker: {e}\n")
                return 2
            if got is None:
                return 0
            req, bufs = got
            rid = req.get("id", 0)
            op = req.get("op", "")
            handler = getattr(self, "op_" + op, None)
            try:
                if handler is None:
                    raise WorkerError("Error", f"unknown op {op!r}")
                out, arrays = handler(req, bufs)
                self.channel.write(dict(out, id=rid, ok=True), arrays)
            except SystemExit:
                self.channel.write({"id": rid, "ok": True})
                return 0
            except (WorkerError, SpanError) as e:
                self.channel.write({"id": rid, "ok": False, "error": {"name": e.name, "message": str(e)}})
            except Exception as e:  # noqa: BLE001 (any failure of a request is reported, the worker stays up)
                traceback.print_exc(file=sys.stderr)
                self.channel.write({"id": rid, "ok": False, "error": {"name": type(e).__name__, "message": str(e)}})


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu"


def _blas_info(torch):
    """The BLAS library actually loaded (Debian's torch links the libblas.so.3 alternative: OpenBLAS or the reference)."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.lower() and "/" in line})
        if libs:
            return ", ".join(os.path.realpath(p) for p in libs)
    except OSError:
        pass
    return ""


def main():
    # The protocol owns the real standard output; anything printed by libraries goes to standard error.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except Exception as e:  # noqa: BLE001
        msg = json.dumps({"id": 0, "ok": False, "error": {"name": "ImportError", "message": f"{type(e).__name__}: {e}"}}).encode()
        body = struct.pack("<I", len(msg)) + msg + b"\0" * _pad8(4 + len(msg))
        os.write(out_fd, struct.pack("<I", len(body)) + body)
        return 3
    channel = Channel(0, out_fd)
    # Announce readiness so the Node side knows imports succeeded.
    import torch

    channel.write({"id": 0, "ok": True, "ready": True, "torch": torch.__version__})
    return Worker(channel).serve()


if __name__ == "__main__":
    sys.exit(main())
