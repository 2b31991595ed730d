#!/usr/bin/env python3
"""Load a Replicate Aaren-paper classifier into an independent PyTorch model and compare numbers.

    python papers/aaren/reference/check_pytorch.py runs/aaren/<run>/seed-1/vowels-aaren
    python papers/aaren/reference/check_pytorch.py runs/aaren/<run>/seed-1/vowels-transformer

Reads checkpoint.h5 (parameters under their state_dict names, strict; the config as JSON) and
activations.h5 (standardised inputs, lengths, every layer's output, Aaren's scores and values,
the logits), runs the inputs through the model below in float64 and prints the largest difference
per tensor. The model is written from the math of ../shared/papers/aaren.md §1 and the layer
layout of papers/aaren/Aaren/Layers.swift's doc comments (post-norm encoder layer, GELU FFN,
sinusoidal positions): Aaren's outputs are the prefix softmax o_k = Σ_{i≤k} softmax(s)_i v_i
computed directly (O(N²) masked softmax), not by a scan. Exit status 1 beyond the tolerance.
"""
import json
import math
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 2e-5   # max |ours - torch| / (1 + max |torch|): float32 against float64


def positions(n, c):
    p = torch.zeros(n, c, dtype=torch.float64)
    t = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(0, c, 2, dtype=torch.float64)
    angle = t / torch.pow(10000.0, i / c)
    p[:, 0::2] = torch.sin(angle)
    p[:, 1::2] = torch.cos(angle)[:, : p[:, 1::2].shape[1]]
    return p


class Layer(torch.nn.Module):
    def __init__(self, kind, c, heads, f):
        super().__init__()
        self.kind, self.heads = kind, heads
        if kind == "aaren":
            self.query_token = torch.nn.Parameter(torch.zeros(c))
        self.qkv = torch.nn.Linear(c, 3 * c)
        self.out_proj = torch.nn.Linear(c, c)
        self.norm1 = torch.nn.LayerNorm(c)
        self.ff1 = torch.nn.Linear(c, f)
        self.ff2 = torch.nn.Linear(f, c)
        self.norm2 = torch.nn.LayerNorm(c)

    def mix(self, x, out):
        b, n, c = x.shape
        h, d = self.heads, c // self.heads
        q, k, v = self.qkv(x).split(c, dim=2)
        k = k.view(b, n, h, d).transpose(1, 2)                       # (B, H, N, D)
        v = v.view(b, n, h, d).transpose(1, 2)
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        if self.kind == "transformer":
            q = q.view(b, n, h, d).transpose(1, 2)
            scores = q @ k.transpose(-2, -1) / math.sqrt(d)           # (B, H, N, N): a query per position
        else:
            wq, bq = self.qkv.weight[:c], self.qkv.bias[:c]
            qh = (wq @ self.query_token + bq).view(h, d)               # one learned query per head
            s = (k * qh[None, :, None, :]).sum(-1) / math.sqrt(d)      # (B, H, N)
            out["scores"] = s.reshape(b * h, n)
            out["values"] = v.reshape(b * h, n, d)
            scores = s[:, :, None, :].expand(b, h, n, n)               # row k weighs token i by s_i alone
        weights = scores.masked_fill(mask, float("-inf")).softmax(dim=-1)
        return (weights @ v).transpose(1, 2).reshape(b, n, c)

    def forward(self, x, out):
        hdn = self.norm1(x + self.out_proj(self.mix(x, out)))
        return self.norm2(hdn + self.ff2(F.gelu(self.ff1(hdn))))


class Model(torch.nn.Module):
    def __init__(self, kind, channels, classes, c, heads, f, layers):
        super().__init__()
        self.input = torch.nn.Linear(channels, c)
        self.layers = torch.nn.ModuleList([Layer(kind, c, heads, f) for _ in range(layers)])
        self.head = torch.nn.Linear(c, classes)

    def forward(self, x, lengths):
        out = {}
        h = self.input(x) + positions(x.shape[1], self.input.weight.shape[0])
        out["embedding"] = h
        for i, layer in enumerate(self.layers):
            extra = {}
            h = layer(h, extra)
            for k, v in extra.items():
                out[f"layers.{i}.{k}"] = v
            out[f"layers.{i}"] = h
        last = h[torch.arange(h.shape[0]), lengths - 1]
        out["logits"] = self.head(last)
        return out


def main(part_dir):
    with h5py.File(f"{part_dir}/checkpoint.h5", "r") as f:
        config = json.loads(f.attrs["config"])
        state = {k: torch.from_numpy(f["params"][k][()].astype(np.float64)) for k in f["params"]}
    names = []
    with h5py.File(f"{part_dir}/activations.h5", "r") as f:
        kind = f.attrs["layer_kind"]
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        x = torch.from_numpy(f["input"][()].astype(np.float64))
        lengths = torch.from_numpy(f["lengths"][()].astype(np.int64))
        f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
        ours = {n: f[n][()] for n in names if n not in ("input", "lengths", "labels")}
    classes = state["head.weight"].shape[0]
    model = Model(kind, x.shape[2], classes, config["d_model"], config["heads"], config["ff_width"], config["layers"]).double()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        theirs = model(x, lengths)
    worst = 0.0
    print(f"{kind}: {len(state)} tensors loaded (strict), {x.shape[0]} cases of length {x.shape[1]}")
    for name in sorted(ours):
        t = theirs[name].numpy()
        if t.shape != ours[name].shape:
            sys.exit(f"{name}: shape {ours[name].shape} vs torch {t.shape}")
        err = float(np.max(np.abs(ours[name] - t)) / (1 + np.max(np.abs(t))))
        worst = max(worst, err)
        print(f"  {name} {tuple(t.shape)}: max scaled |ours - torch| {err:.2e}")
    agree = (np.argmax(ours["logits"], 1) == theirs["logits"].numpy().argmax(1)).mean()
    print(f"predictions agree on {agree:.0%} of cases; worst {worst:.2e} (tolerance {TOLERANCE:.0e})")
    if worst > TOLERANCE:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
