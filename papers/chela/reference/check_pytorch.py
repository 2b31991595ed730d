#!/usr/bin/env python3
"""Load a Replicate CHELA-paper classifier into an independent PyTorch model and compare numbers.

    python papers/chela/reference/check_pytorch.py runs/chela/<run>/seed-1/listops-chela
    (also listops-transformer, listops-linear, listops-longconv)

Reads checkpoint.h5 (parameters under their state_dict names, loaded strict; the run config as
JSON) and activations.h5 (tokens, lengths, every block's output, the CHELA streams u, q, k, v,
the logits, the reparameterised model's logits), runs the tokens through the model below in
float64 and prints the largest difference per tensor. The model is written from the math of
../shared/papers/chela.md §2 and the doc comments of papers/chela/Chela/Layers.swift, with
torch's own operations: depthwise `conv1d` for the short convolutions (weights flipped: torch
correlates), `torch.fft.rfft` zero-padded to 2L for the long one, `(q @ k.mT).tril() @ v` for
linear attention (the quadratic form, not chunks), `scaled_dot_product_attention` for softmax.
The merged (inference) model is built here from the trained tensors by its own rule and must
give the same logits. Exit status 1 beyond the tolerance.
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


class FFN(torch.nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.norm, self.up, self.down = torch.nn.LayerNorm(d), torch.nn.Linear(d, f), torch.nn.Linear(f, d)

    def forward(self, x):
        return x + self.down(F.silu(self.up(self.norm(x))))


def feature(x, name):
    return x if name == "identity" else F.silu(x)


def linear_attention(q, k, v):
    """Causal linear attention as the masked quadratic form: (q kᵀ, diagonal included) v."""
    return (q @ k.transpose(-2, -1)).tril() @ v


class AttentionBlock(torch.nn.Module):
    def __init__(self, kind, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.kind, self.heads, self.phi = kind, cfg["heads"], cfg["feature_map"]
        self.norm, self.qkv, self.out = torch.nn.LayerNorm(d), torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        if kind == "linear" and cfg["attention_norm"]:
            self.attention_norm = torch.nn.LayerNorm(d)
        else:
            self.attention_norm = None
        self.ffn = FFN(d, cfg["ff_width"])

    def forward(self, x, out, i):
        b, n, c = x.shape
        h = self.heads
        q, k, v = (t.view(b, n, h, c // h).transpose(1, 2) for t in self.qkv(self.norm(x)).split(c, dim=2))
        if self.kind == "transformer":
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            o = linear_attention(feature(q, self.phi), feature(k, self.phi), v)
        o = o.transpose(1, 2).reshape(b, n, c)
        if self.attention_norm is not None:
            o = self.attention_norm(o)
        return self.ffn(x + self.out(o))


class Short(torch.nn.Module):
    def __init__(self, d, k):
        super().__init__()
        self.kernel = torch.nn.Parameter(torch.zeros(d, k))   # lag-indexed: kernel[:, j] weighs x[t - j]


class Long(torch.nn.Module):
    def __init__(self, d, n):
        super().__init__()
        self.kernel = torch.nn.Parameter(torch.zeros(d, n))
        self.skip = torch.nn.Parameter(torch.zeros(d))


def causal_conv(x, kernel, bias=None):
    """y[b, t, d] = bias[d] + sum_j kernel[d, j] x[b, t - j, d], by torch's depthwise conv1d."""
    d, k = kernel.shape
    y = F.conv1d(x.transpose(1, 2), kernel.flip(-1).unsqueeze(1), bias, padding=k - 1, groups=d)
    return y[..., : x.shape[1]].transpose(1, 2)


def fft_conv(x, kernel):
    """y = irfft(rfft(x, 2L) rfft(k, 2L))[:L] per channel: the long convolution."""
    n = x.shape[1]
    u = x.transpose(1, 2)
    y = torch.fft.irfft(torch.fft.rfft(u, n=2 * n) * torch.fft.rfft(kernel[:, :n], n=2 * n), n=2 * n)[..., :n]
    return y.transpose(1, 2)


class Conv(torch.nn.Module):
    def __init__(self, d, n, cfg, stage):
        super().__init__()
        self.stage, self.lam, self.window = stage, cfg["squash_lambda"], cfg["smooth_window"]
        if stage == "short_long":
            self.short = torch.nn.ModuleList([Short(d, k) for k in cfg["short_kernels"]])
            self.short_bias = torch.nn.Parameter(torch.zeros(d))
        self.long = Long(d, n)

    def long_kernel(self):
        k = self.long.kernel
        if self.stage == "long_regularised":
            k = torch.sign(k) * F.relu(k.abs() - self.lam)                         # squash
            if self.window > 1:                                                       # smooth (avg_pool1d, zero padding counted)
                k = F.avg_pool1d(k[None], self.window, stride=1, padding=self.window // 2, count_include_pad=True)[0]
        return k

    def forward(self, x):
        h = x
        if self.stage == "short_long":
            h = sum(causal_conv(x, s.kernel) for s in self.short) + self.short_bias
            h = F.silu(h)
        return fft_conv(h, self.long_kernel()) + h * self.long.skip

    def merged(self, x):
        """The inference form built here: one short kernel (zero-padded sum), the skip at lag 0."""
        h = x
        if self.stage == "short_long":
            width = max(s.kernel.shape[1] for s in self.short)
            k = sum(F.pad(s.kernel, (0, width - s.kernel.shape[1])) for s in self.short)
            h = F.silu(causal_conv(x, k, self.short_bias))
        long = self.long_kernel().clone()
        long[:, 0] += self.long.skip
        return fft_conv(h, long)


class GatedBlock(torch.nn.Module):
    def __init__(self, attention, cfg, n, stage):
        super().__init__()
        d, s, e = cfg["d_model"], cfg["z_dim"], cfg["h_dim"]
        self.d, self.s, self.e, self.phi = d, s, e, cfg["feature_map"]
        self.norm = torch.nn.LayerNorm(d)
        self.conv = Conv(d, n, cfg, stage)
        if attention:
            self.value = torch.nn.Linear(d, e)
            self.mx = torch.nn.Linear(d, 2 * d + s + e)
            self.gamma = torch.nn.Parameter(torch.zeros(2, s))
            self.beta = torch.nn.Parameter(torch.zeros(2, s))
            self.h_proj = torch.nn.Linear(e, d)
            self.attention_norm = torch.nn.LayerNorm(e) if cfg["attention_norm"] else None
        else:
            self.mx = torch.nn.Linear(d, 2 * d)
        self.attention = attention
        self.ffn = FFN(d, cfg["ff_width"])

    def forward(self, x, out, i, merged=False):
        d, s, e = self.d, self.s, self.e
        xn = self.norm(x)
        m = self.mx(self.conv.merged(xn) if merged else self.conv(xn))
        u = torch.sigmoid(m[..., :d])
        if out is not None:
            out[f"blocks.{i}.u"] = u
        if self.attention:
            z, r, hx = F.silu(m[..., d:d + s]), F.silu(m[..., d + s:d + s + e]), m[..., d + s + e:]
            q = feature(z * self.gamma[0] + self.beta[0], self.phi)
            k = feature(z * self.gamma[1] + self.beta[1], self.phi)
            v = F.silu(self.value(xn))
            if out is not None:
                out[f"blocks.{i}.q"], out[f"blocks.{i}.k"], out[f"blocks.{i}.v"] = q, k, v
            a = linear_attention(q, k, v)
            if self.attention_norm is not None:
                a = self.attention_norm(a)
            pre = hx + self.h_proj(a * r)
        else:
            pre = m[..., d:]
        y = x + u * (F.silu(pre) - x)
        return self.ffn(y)


class Model(torch.nn.Module):
    def __init__(self, kind, cfg, vocab, outputs, n, stage):
        super().__init__()
        self.kind = kind
        self.embedding = torch.nn.Embedding(vocab, cfg["d_model"])
        if kind in ("transformer", "linear"):
            self.blocks = torch.nn.ModuleList([AttentionBlock(kind, cfg) for _ in range(cfg["layers"])])
        else:
            self.blocks = torch.nn.ModuleList([GatedBlock(kind == "chela", cfg, n, stage) for _ in range(cfg["layers"])])
        self.final_norm = torch.nn.LayerNorm(cfg["d_model"])
        self.head = torch.nn.Linear(cfg["d_model"], outputs)

    def forward(self, tokens, lengths, merged=False):
        out = {}
        h = self.embedding(tokens)
        if self.kind in ("transformer", "linear"):
            h = h + positions(tokens.shape[1], h.shape[2])
        out["embedding"] = h
        for i, block in enumerate(self.blocks):
            if merged:
                h = block(h, None, i, merged=True)
            else:
                h = block(h, out, i)
                out[f"blocks.{i}"] = h
        h = self.final_norm(h)
        mask = (torch.arange(tokens.shape[1])[None, :] < lengths[:, None]).to(h.dtype)
        pooled = (h * mask[..., None]).sum(1) / lengths[:, None].to(h.dtype)   # mean over real tokens
        out["logits"] = self.head(pooled)
        return out


def main(part_dir):
    with h5py.File(f"{part_dir}/checkpoint.h5", "r") as f:
        config = json.loads(f.attrs["config"])
        state = {k: torch.from_numpy(f["params"][k][()].astype(np.float64)) for k in f["params"]}
    with h5py.File(f"{part_dir}/activations.h5", "r") as f:
        attr = lambda k: f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else str(f.attrs[k])
        kind, stage = attr("model_kind"), attr("conv_stage")
        tokens = torch.from_numpy(f["tokens"][()].astype(np.int64))
        lengths = torch.from_numpy(f["lengths"][()].astype(np.int64))
        names = []
        f.visit(lambda name: names.append(name) if isinstance(f[name], h5py.Dataset) else None)
        ours = {n: f[n][()] for n in names if n not in ("tokens", "lengths", "labels")}
    cfg = config["model"]
    vocab, outputs = state["embedding.weight"].shape[0], state["head.weight"].shape[0]
    n = config["listops"]["max_length"]
    model = Model(kind, cfg, vocab, outputs, n, stage).double()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        theirs = model(tokens, lengths)
        if "logits_merged" in ours:
            theirs["logits_merged"] = model(tokens, lengths, merged=True)["logits"]
    worst = 0.0
    print(f"{kind} ({stage}): {len(state)} tensors loaded (strict), {tokens.shape[0]} sequences of width {tokens.shape[1]}")
    for name in sorted(ours):
        if name not in theirs:
            sys.exit(f"{name}: not computed by the reference")
        t = theirs[name].numpy()
        if t.shape != ours[name].shape:
            sys.exit(f"{name}: shape {ours[name].shape} vs torch {t.shape}")
        err = float(np.max(np.abs(ours[name] - t)) / (1 + np.max(np.abs(t))))
        worst = max(worst, err)
        print(f"  {name} {tuple(t.shape)}: max scaled |ours - torch| {err:.2e}")
    if "logits_merged" in theirs:
        gap = float((theirs["logits_merged"] - theirs["logits"]).abs().max())
        print(f"  torch merged vs trained form: max |Δ logit| {gap:.2e}")
        worst = max(worst, gap / (1 + float(theirs["logits"].abs().max())))
    agree = (np.argmax(ours["logits"], 1) == theirs["logits"].numpy().argmax(1)).mean()
    print(f"predictions agree on {agree:.0%} of sequences; worst {worst:.2e} (tolerance {TOLERANCE:.0e})")
    if worst > TOLERANCE:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
