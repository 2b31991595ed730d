#!/usr/bin/env python3
"""Load Replicate's Hilsenbek checkpoints into an independent PyTorch model and compare numbers.

    python papers/hilsenbek/reference/check_pytorch.py runs/hilsenbek/<run>/seed-1            # every variant
    python papers/hilsenbek/reference/check_pytorch.py runs/hilsenbek/<run>/seed-1/min        # one variant

For each variant folder: reads checkpoint.h5 (parameters under nanoGPT's state_dict names, the
config as JSON) and activations.h5 (the input window, the variant's name and every activation our
forward pass produced), runs the window through the PyTorch model below (written here from the
math in ../shared/papers/hilsenbek.md, float64), and prints the largest difference per tensor.
Exit status 1 when one exceeds the tolerance or a variant is unknown.

The generative function R along time, with h_{-1} := h_0 (position 0 compared with itself):
  attention replaced:  y = c_proj(R(ln_1(x)))      R = min / max / mean of h_t, h_{t-1} [, g]
  activation replaced: mlp(x) = c_proj(min(u_t, u_{t-1})), u = c_fc(ln_2(x))
  g = mean over the whole sequence (as published, not causal) or over positions <= t (causal).
"""
import json
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 2e-5   # max |ours - torch| / (1 + max |torch|), float32 vs float64

# variant name -> (where R sits, reduction, context)
VARIANTS = {
    "attention": (None, None, None),
    "min": ("attention", "min", None),
    "max": ("attention", "max", None),
    "mean": ("attention", "mean", None),
    "max_context": ("attention", "max", "sequence"),
    "max_prefix_context": ("attention", "max", "prefix"),
    "mlp_min": ("activation", "min", None),
}


def reduce_along_time(h, kind, context):
    """R(h_t, h_{t-1}[, g_t]) for h (B, T, C)."""
    previous = torch.cat([h[:, :1], h[:, :-1]], dim=1)
    operands = [h, previous]
    if context == "sequence":
        operands.append(h.mean(dim=1, keepdim=True).expand_as(h))
    elif context == "prefix":
        counts = torch.arange(1, h.shape[1] + 1, dtype=h.dtype).view(1, -1, 1)
        operands.append(h.cumsum(dim=1) / counts)
    stacked = torch.stack(operands, dim=0)
    if kind == "min":
        return stacked.min(dim=0).values
    if kind == "max":
        return stacked.max(dim=0).values
    return stacked.mean(dim=0)


class Model(torch.nn.Module):
    def __init__(self, vocab, block, n_layer, n_head, n_embd, placement, kind, context):
        super().__init__()
        self.n_head, self.placement, self.kind, self.context = n_head, placement, kind, context
        def attn():
            parts = dict(c_proj=torch.nn.Linear(n_embd, n_embd, bias=False))
            if placement != "attention":
                parts["c_attn"] = torch.nn.Linear(n_embd, 3 * n_embd, bias=False)
            return torch.nn.ModuleDict(parts)
        self.transformer = torch.nn.ModuleDict(dict(
            wte=torch.nn.Embedding(vocab, n_embd),
            wpe=torch.nn.Embedding(block, n_embd),
            h=torch.nn.ModuleList([torch.nn.ModuleDict(dict(
                ln_1=torch.nn.LayerNorm(n_embd, bias=False),
                attn=attn(),
                ln_2=torch.nn.LayerNorm(n_embd, bias=False),
                mlp=torch.nn.ModuleDict(dict(c_fc=torch.nn.Linear(n_embd, 4 * n_embd, bias=False),
                                             c_proj=torch.nn.Linear(4 * n_embd, n_embd, bias=False))),
            )) for _ in range(n_layer)]),
            ln_f=torch.nn.LayerNorm(n_embd, bias=False),
        ))
        self.lm_head = torch.nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def mixer(self, block, a):
        if self.placement == "attention":
            return block.attn.c_proj(reduce_along_time(a, self.kind, self.context))
        b, t, c = a.shape
        q, k, v = block.attn.c_attn(a).split(c, dim=2)
        heads = lambda z: z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        weights = scores.masked_fill(mask, float("-inf")).softmax(dim=-1)
        return block.attn.c_proj((weights @ v).transpose(1, 2).reshape(b, t, c))

    def mlp(self, block, x):
        u = block.mlp.c_fc(x)
        act = reduce_along_time(u, self.kind, None) if self.placement == "activation" else F.gelu(u)
        return block.mlp.c_proj(act)

    def forward(self, idx):
        out = {}
        t = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))
        out["embedding"] = x
        for i, block in enumerate(self.transformer.h):
            a = block.ln_1(x)
            if self.placement == "attention":
                out[f"transformer.h.{i}.attn.reduction_in"] = a
                out[f"transformer.h.{i}.attn.reduction_out"] = reduce_along_time(a, self.kind, self.context)
            x = x + self.mixer(block, a)
            if self.placement == "activation":
                u = block.mlp.c_fc(block.ln_2(x))
                out[f"transformer.h.{i}.mlp.reduction_in"] = u
                out[f"transformer.h.{i}.mlp.reduction_out"] = reduce_along_time(u, self.kind, None)
            x = x + self.mlp(block, block.ln_2(x))
            out[f"transformer.h.{i}"] = x
        x = self.transformer.ln_f(x)
        out["transformer.ln_f"] = x
        out["logits"] = self.lm_head(x)
        return out


def check_variant(folder):
    with h5py.File(f"{folder}/checkpoint.h5", "r") as f:
        config = json.loads(f.attrs["config"])["model"]   # nanoGPT's model keys: n_layer, n_head, n_embd, block_size
        state = {k: torch.from_numpy(f["params"][k][()].astype(np.float64)) for k in f["params"]}
    with h5py.File(f"{folder}/activations.h5", "r") as f:
        variant = f.attrs["variant"]
        variant = variant.decode() if isinstance(variant, bytes) else str(variant)
        idx = torch.from_numpy(f["input_ids"][()].astype(np.int64))
        ours = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    if variant not in VARIANTS:
        print(f"{folder}: unknown variant {variant!r}", file=sys.stderr)
        return math.inf
    vocab = state["transformer.wte.weight"].shape[0]
    model = Model(vocab, config["block_size"], config["n_layer"], config["n_head"], config["n_embd"],
                  *VARIANTS[variant]).double()
    model.load_state_dict(state, strict=True)   # the keys must be exactly nanoGPT's for this variant
    model.eval()
    with torch.no_grad():
        theirs = model(idx)
    print(f"== {variant} ({folder})")
    worst, compared = 0.0, 0
    for name, ref in theirs.items():
        if name not in ours:
            continue
        ref = ref.numpy()
        got = ours[name].astype(np.float64)
        assert got.shape == ref.shape, f"{name}: shape {got.shape} vs torch {ref.shape}"
        diff = np.abs(got - ref).max()
        scaled = diff / (1 + np.abs(ref).max())
        worst, compared = max(worst, scaled), compared + 1
        print(f"  {name:38s} {str(ref.shape):16s} {diff:11.3e} {scaled:9.2e}")
    if compared < 3 or "logits" not in ours:
        print(f"  too few tensors compared ({compared})", file=sys.stderr)
        return math.inf
    if "target_ids" in ours and "loss" in ours:
        targets = torch.from_numpy(ours["target_ids"].astype(np.int64)).view(-1)
        loss = F.cross_entropy(theirs["logits"].view(-1, vocab), targets).item()
        our_loss = float(ours["loss"])
        print(f"  loss: ours {our_loss:.7f}  torch {loss:.7f}  |diff| {abs(our_loss - loss):.2e}")
        worst = max(worst, abs(our_loss - loss) / (1 + abs(loss)))
    return worst


def main(path):
    if os.path.exists(f"{path}/checkpoint.h5"):
        folders = [path]
    else:
        folders = sorted(f"{path}/{d}" for d in os.listdir(path) if os.path.exists(f"{path}/{d}/checkpoint.h5"))
    if not folders:
        print(f"no <variant>/checkpoint.h5 under {path}", file=sys.stderr)
        return 2
    results = {folder: check_variant(folder) for folder in folders}
    worst = max(results.values())
    ok = worst <= TOLERANCE
    print(f"{len(folders)} variant(s); worst scaled difference {worst:.2e} (tolerance {TOLERANCE:.0e}): "
          f"{'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
