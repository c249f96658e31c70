"""Baseline for benchmarks/runtime-torch.mjs: a plain PyTorch training loop (nn.Module, DataLoader-free indexing,
torch.optim.SGD) over the same Fashion-MNIST examples, with no Weft in the way.

Usage: python3 benchmarks/torch_plain.py --model mlp --examples 60000 --epochs 1 --batch-size 32 --threads 2 --dir DIR
Prints one JSON line: {"model", "examples", "seconds", "examplesPerSecond"}.

runtime-torch.mjs runs it with the glibc malloc settings the Weft worker starts with (MALLOC_MMAP_THRESHOLD_ 64 MiB,
MALLOC_TRIM_THRESHOLD_ 256 MiB). With glibc's defaults a fresh process serves every large tensor with mmap and
returns it on free, and the CNNs train 2-3x slower here (page faults on every step's activations and gradients).
"""

import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    # The .gz file, or the same file decompressed (as the Weft loader accepts both).
    if os.path.exists(path):
        with gzip.open(path, "rb") as f:
            data = f.read()
    else:
        with open(path[: -len(".gz")], "rb") as f:
            data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def build(name):
    if name == "logreg":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))
    if name == "cnn-lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
        )
    if name == "cnn-mcmahan":
        return nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 512), nn.ReLU(), nn.Linear(512, 10),
        )
    raise SystemExit(f"unknown model {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--examples", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of training before the timed run")
    ap.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    device = torch.device(a.device)
    if device.type == "cuda":
        # The precision the Weft worker keeps on CUDA (full float32, no TF32), so both do the same arithmetic.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    images = read_idx(os.path.join(a.dir, "train-images-idx3-ubyte.gz"))[: a.examples]
    labels = read_idx(os.path.join(a.dir, "train-labels-idx1-ubyte.gz"))[: a.examples]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28).to(device)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)
    model = build(a.model)
    # Weft's initialization (He-uniform for ReLU layers, Glorot-uniform for the output layer, zero biases), so both
    # sides train from weights of the same scale.
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        for i, m in enumerate(layers):
            fan_in = m.weight[0].numel()
            fan_out = m.weight.shape[0] * (m.weight[0, 0].numel() if m.weight.dim() == 4 else 1)
            limit = (6 / (fan_in + fan_out)) ** 0.5 if i == len(layers) - 1 else (6 / fan_in) ** 0.5
            m.weight.uniform_(-limit, limit)
            m.bias.zero_()
    model = model.to(device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def epoch(n_examples, seed):
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(n_examples, generator=g).to(device)
        for s in range(0, n_examples, a.batch_size):
            idx = order[s : s + a.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx))
            loss.backward()
            opt.step()

    # Warm-up for about two seconds (oneDNN primitives, allocator), as the Weft side gets: a fresh process trains
    # convolutions several times slower for its first thousands of examples.
    w0 = time.perf_counter()
    while time.perf_counter() - w0 < a.warmup:
        epoch(min(a.examples, 64 * a.batch_size), 0)
    # A fresh optimizer for the timed run, as the Weft engine makes one per train() call.
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for e in range(a.epochs):
        epoch(a.examples, e + 1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    n = a.examples * a.epochs
    print(json.dumps({"model": a.model, "examples": n, "seconds": seconds, "examplesPerSecond": n / seconds}))


if __name__ == "__main__":
    main()
