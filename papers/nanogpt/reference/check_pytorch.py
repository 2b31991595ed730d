#!/usr/bin/env python3
"""Load a Replicate nanoGPT checkpoint into an independent PyTorch GPT and compare numbers.

    python papers/nanogpt/reference/check_pytorch.py runs/nanogpt/<run>/seed-1

Reads <dir>/checkpoint.h5 (parameters under their state_dict names, config as JSON) and
<dir>/activations.h5 (input window and every activation our forward pass produced), runs the
same window through the PyTorch model below (written from the GPT-2/nanoGPT math, float64 so
that the comparison measures our float32 error, not PyTorch's), and prints the largest
difference per tensor. Exit status 1 when one exceeds the tolerance.
"""
import json
import math
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 2e-5   # max |ours - torch| / (1 + max |torch|), float32 vs float64 (measured ~1e-6)


class GPT(torch.nn.Module):
    def __init__(self, vocab, block, n_layer, n_head, n_embd):
        super().__init__()
        self.n_head = n_head
        self.transformer = torch.nn.ModuleDict(dict(
            wte=torch.nn.Embedding(vocab, n_embd),
            wpe=torch.nn.Embedding(block, n_embd),
            h=torch.nn.ModuleList([torch.nn.ModuleDict(dict(
                ln_1=torch.nn.LayerNorm(n_embd, bias=False),
                attn=torch.nn.ModuleDict(dict(c_attn=torch.nn.Linear(n_embd, 3 * n_embd, bias=False),
                                              c_proj=torch.nn.Linear(n_embd, n_embd, bias=False))),
                ln_2=torch.nn.LayerNorm(n_embd, bias=False),
                mlp=torch.nn.ModuleDict(dict(c_fc=torch.nn.Linear(n_embd, 4 * n_embd, bias=False),
                                             c_proj=torch.nn.Linear(4 * n_embd, n_embd, bias=False))),
            )) for _ in range(n_layer)]),
            ln_f=torch.nn.LayerNorm(n_embd, bias=False),
        ))
        self.lm_head = torch.nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.transformer.wte.weight   # tied, as the checkpoint stores it twice

    def attention(self, block, x):
        b, t, c = x.shape
        q, k, v = block.attn.c_attn(x).split(c, dim=2)
        heads = lambda z: z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        weights = scores.masked_fill(mask, float("-inf")).softmax(dim=-1)
        return block.attn.c_proj((weights @ v).transpose(1, 2).reshape(b, t, c)), weights

    def forward(self, idx):
        out = {}
        t = idx.shape[1]
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(t))
        out["embedding"] = x
        for i, block in enumerate(self.transformer.h):
            a, w = self.attention(block, block.ln_1(x))
            out[f"transformer.h.{i}.attn.weights"] = w
            x = x + a
            x = x + block.mlp.c_proj(F.gelu(block.mlp.c_fc(block.ln_2(x))))
            out[f"transformer.h.{i}"] = x
        x = self.transformer.ln_f(x)
        out["transformer.ln_f"] = x
        out["logits"] = self.lm_head(x)
        return out


def main(seed_dir):
    with h5py.File(f"{seed_dir}/checkpoint.h5", "r") as f:
        config = json.loads(f.attrs["config"])["model"]   # nanoGPT's model keys: n_layer, n_head, n_embd, block_size
        state = {k: torch.from_numpy(f["params"][k][()].astype(np.float64)) for k in f["params"]}
    with h5py.File(f"{seed_dir}/activations.h5", "r") as f:
        idx = torch.from_numpy(f["input_ids"][()].astype(np.int64))
        ours = {k: f[k][()] for k in f.keys() if k != "input_ids" and isinstance(f[k], h5py.Dataset)}
        targets = f["target_ids"][()] if "target_ids" in f else None
        our_loss = float(f["loss"][()]) if "loss" in f else None
    vocab = state["transformer.wte.weight"].shape[0]
    model = GPT(vocab, config["block_size"], config["n_layer"], config["n_head"], config["n_embd"]).double()
    missing, unexpected = model.load_state_dict(state, strict=True), None
    model.eval()
    with torch.no_grad():
        theirs = model(idx)
    worst = 0.0
    print(f"{'tensor':34s} {'shape':18s} {'max |diff|':>11s} {'scaled':>9s}")
    for name, ref in theirs.items():
        if name not in ours:
            continue
        ref = ref.numpy()
        got = ours[name].astype(np.float64)
        assert got.shape == ref.shape, f"{name}: shape {got.shape} vs torch {ref.shape}"
        diff = np.abs(got - ref).max()
        scaled = diff / (1 + np.abs(ref).max())
        worst = max(worst, scaled)
        print(f"{name:34s} {str(ref.shape):18s} {diff:11.3e} {scaled:9.2e}")
    compared = [n for n in theirs if n in ours]
    if len(compared) < 3:
        print(f"only {compared} found in activations.h5; nothing to compare", file=sys.stderr)
        return 1
    if targets is not None and our_loss is not None:
        loss = F.cross_entropy(theirs["logits"].view(-1, vocab), torch.from_numpy(targets.astype(np.int64)).view(-1)).item()
        print(f"loss: ours {our_loss:.7f}  torch {loss:.7f}  |diff| {abs(our_loss - loss):.2e}")
        worst = max(worst, abs(our_loss - loss) / (1 + abs(loss)))
    ok = worst <= TOLERANCE
    print(f"worst scaled difference {worst:.2e} (tolerance {TOLERANCE:.0e}): {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
