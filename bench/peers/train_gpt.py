#!/usr/bin/env python3
"""PyTorch peer for the nanoGPT training-step workloads of `make bench`.

A GPT written from the math, matching our Swift model (and nanoGPT with bias=False,
dropout 0): token + position embeddings, pre-LN blocks (LayerNorm without bias, causal
self-attention through F.scaled_dot_product_attention, a 4x GELU MLP), final LayerNorm,
LM head tied to the token embedding; init N(0, 0.02), residual projections
N(0, 0.02/sqrt(2L)). One step = forward + cross-entropy, backward, clip_grad_norm_(1.0),
AdamW(lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on >= 2-D params, fused=False, foreach
default), on fresh random tokens (targets = inputs, as in the Swift side), float32.

--variant picks Hilsenbek's generative function (papers/hilsenbek), written the plain way:
  min      attention replaced by c_proj(min(h_t, h_{t-1})), h = ln_1(x), h_{-1} = h_0 (no c_attn)
  mlp_min  the MLP's GELU replaced by min(u_t, u_{t-1}) along time, u = c_fc(ln_2(x))

One-shot:  train_gpt.py --n-layer 4 --n-head 4 --n-embd 128 --block 64 --batch 12 --steps 20
Serve:     train_gpt.py ... --serve   then one JSON object per stdin line, e.g. {"steps": 10};
           each answer is one JSON line. The model and optimizer persist between requests.
Output:    {"peer": "train_gpt", "torch": ..., "threads": ..., "params": N, "times": [s, ...]}
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def causal_min(h):
    """min(h_t, h_{t-1}) along time (dim 1), position 0 compared with itself."""
    return torch.minimum(h, torch.cat([h[:, :1], h[:, :-1]], dim=1))


class Block(nn.Module):
    def __init__(self, c, h, n_layer, variant="attention"):
        super().__init__()
        self.h = h
        self.variant = variant
        self.ln_1 = nn.LayerNorm(c, bias=False)
        self.c_attn = nn.Linear(c, 3 * c, bias=False) if variant != "min" else None
        self.c_proj = nn.Linear(c, c, bias=False)
        self.ln_2 = nn.LayerNorm(c, bias=False)
        self.c_fc = nn.Linear(c, 4 * c, bias=False)
        self.mlp_proj = nn.Linear(4 * c, c, bias=False)
        for w in (self.c_fc.weight,) + ((self.c_attn.weight,) if self.c_attn is not None else ()):
            nn.init.normal_(w, std=0.02)
        for w in (self.c_proj.weight, self.mlp_proj.weight):
            nn.init.normal_(w, std=0.02 / math.sqrt(2 * n_layer))

    def forward(self, x):
        b, t, c = x.shape
        if self.variant == "min":
            x = x + self.c_proj(causal_min(self.ln_1(x)))
        else:
            q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))
        u = self.c_fc(self.ln_2(x))
        return x + self.mlp_proj(causal_min(u) if self.variant == "mlp_min" else F.gelu(u))


class GPT(nn.Module):
    def __init__(self, vocab, block, n_layer, n_head, n_embd, variant="attention"):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block, n_embd)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, n_layer, variant) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        logits = F.linear(self.ln_f(x), self.wte.weight)       # tied LM head
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--steps", type=int, default=20, help="timed steps (one-shot mode)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before any timing")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", choices=["attention", "min", "mlp_min"], default="attention")
    ap.add_argument("--serve", action="store_true", help="answer JSON requests on stdin")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = GPT(args.vocab, args.block, args.n_layer, args.n_head, args.n_embd, args.variant)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99), fused=False)
    gen = torch.Generator().manual_seed(args.seed + 1)

    def step():
        x = torch.randint(args.vocab, (args.batch, args.block), generator=gen)
        t0 = time.perf_counter()
        loss = model(x, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return time.perf_counter() - t0, loss.item()

    for _ in range(args.warmup):
        step()
    params = sum(p.numel() for p in model.parameters())
    header = {"peer": "train_gpt", "torch": torch.__version__, "threads": torch.get_num_threads(), "params": params}

    def answer(steps):
        times, losses = zip(*(step() for _ in range(steps)))
        print(json.dumps({**header, "times": list(times), "loss": losses[-1]}), flush=True)

    if not args.serve:
        answer(args.steps)
        return
    print(json.dumps({**header, "ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            answer(int(json.loads(line).get("steps", args.steps)))


if __name__ == "__main__":
    main()
