#!/usr/bin/env python3
"""Load a Replicate Block Transformer checkpoint into an independent PyTorch model and compare.

    python papers/blocktransformer/reference/check_pytorch.py runs/blocktransformer/<run>/seed-1/block

Reads <dir>/checkpoint.h5 (parameters under their state_dict names, loaded strict; the run's
config as JSON), <dir>/activations.h5 (one validation window, our context embeddings, logits and
loss) and <dir>/generation.h5 (a prompt that is not block-aligned and our greedy continuations).
The model below is written from the math of ../shared/papers/blocktransformer.md §1 (float64, so
the comparison measures our float32 error):

    embedder   a block's L_B lookups (width D/L_B, pad id V) concatenated: one block embedding (D)
    block dec  wpe over block positions + nanoGPT pre-LN blocks (no biases) + ln_f → context i
    expansion  Linear(D, p·D) with bias: context i → p prefix embeddings for block i + 1
    token dec  [prefix; wte of the block's first L_B − 1 tokens] + wpe (p + L_B − 1), blocks,
               ln_f; rows p − 1 … p + L_B − 2 → lm_head (untied) → the block's L_B logits

It checks (1) contexts, logits and loss against activations.h5; (2) its own KV-cached greedy
generation (block decoder cached per block, token decoder cache reset per block, the prompt
left-padded to whole blocks) against generation.h5's greedy_block, and the same tokens from a
cache-free forward pass per token; (3) when <dir>/../vanilla holds the vanilla GPT, its
KV-cached greedy tokens against greedy_vanilla. A generated token may differ from ours only at
a near tie of the top two float64 logits (margin below TIE); exit status 1 otherwise or beyond
the tolerance.
"""
import json
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 2e-5   # max |ours - torch| / (1 + max |torch|), float32 against float64
TIE = 1e-4         # a greedy token that differs from ours at a smaller top-2 logit margin is a tie


def layer_norm(x, w):
    return F.layer_norm(x, (x.shape[-1],), w, None, 1e-5)


class Decoder:
    """Learned positions, nanoGPT blocks (pre-LN, no biases, GELU MLP), final layer norm."""

    def __init__(self, state, prefix, heads):
        self.s, self.p, self.heads = state, prefix, heads
        self.layers = len({k[len(prefix):].split(".")[1] for k in state if k.startswith(prefix + "h.")})

    def w(self, name):
        return self.s[self.p + name]

    def attend(self, i, x, cache=None):
        """Causal attention of x (B, T, D) at positions cache.length … ; keys kept in cache."""
        b, t, d = x.shape
        q, k, v = (x @ self.w(f"h.{i}.attn.c_attn.weight").T).split(d, dim=2)
        heads = lambda z: z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = heads(q), heads(k), heads(v)
        start = 0
        if cache is not None:
            start = cache["length"]
            cache["k"][i] = k if start == 0 else torch.cat([cache["k"][i], k], dim=2)
            cache["v"][i] = v if start == 0 else torch.cat([cache["v"][i], v], dim=2)
            k, v = cache["k"][i], cache["v"][i]
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
        mask = torch.arange(k.shape[2])[None, :] > (start + torch.arange(t))[:, None]
        out = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
        return out.transpose(1, 2).reshape(b, t, d) @ self.w(f"h.{i}.attn.c_proj.weight").T

    def __call__(self, x, cache=None):
        start = cache["length"] if cache is not None else 0
        h = x + self.w("wpe.weight")[start:start + x.shape[1]]
        for i in range(self.layers):
            h = h + self.attend(i, layer_norm(h, self.w(f"h.{i}.ln_1.weight")), cache)
            m = F.gelu(layer_norm(h, self.w(f"h.{i}.ln_2.weight")) @ self.w(f"h.{i}.mlp.c_fc.weight").T)
            h = h + m @ self.w(f"h.{i}.mlp.c_proj.weight").T
        if cache is not None:
            cache["length"] += x.shape[1]
        return layer_norm(h, self.w("ln_f.weight"))


def new_cache(layers):
    return {"length": 0, "k": [None] * layers, "v": [None] * layers}


class BlockModel:
    def __init__(self, state, c):
        self.s, self.L, self.p, self.D = state, c["block_length"], c["prefix_length"], c["n_embd"]
        self.V = state["lm_head.weight"].shape[0]
        self.block = Decoder(state, "block_decoder.", c["n_head"])
        self.token = Decoder(state, "token_decoder.", c["n_head"])

    def embed_blocks(self, ids):                              # (B, N·L) → (B, N, D)
        b = ids.shape[0]
        return self.s["embedder.weight"][ids].reshape(b, -1, self.D)

    def prefixes(self, ctx):                                  # (R, D) → (R, p, D)
        return (ctx @ self.s["expansion.weight"].T + self.s["expansion.bias"]).view(-1, self.p, self.D)

    def head(self, h):
        return h @ self.s["lm_head.weight"].T

    def forward(self, ids):
        """Contexts (B, N, D) and teacher-forced logits (B, N − 1, L, V) of ids (B, N·L)."""
        b, t = ids.shape
        n = t // self.L
        ctx = self.block(self.embed_blocks(ids))
        blocks = ids.view(b, n, self.L)[:, 1:, : self.L - 1].reshape(b * (n - 1), self.L - 1)
        x = torch.cat([self.prefixes(ctx[:, :-1].reshape(-1, self.D)), self.s["token_decoder.wte.weight"][blocks]], dim=1)
        h = self.token(x)[:, self.p - 1: self.p - 1 + self.L]
        return ctx, self.head(h).view(b, n - 1, self.L, self.V)

    def padded(self, prompt):
        pad = (self.L - len(prompt) % self.L) % self.L
        return [self.V] * pad + list(prompt)

    def next_logits(self, sequence, prompt_length):
        """Cache-free: next-token logits (V) after a sequence whose first prompt_length are the prompt."""
        pad = (self.L - prompt_length % self.L) % self.L
        ids = [self.V] * pad + list(sequence)
        complete, inside = len(ids) // self.L, len(ids) % self.L
        ctx = self.block(self.embed_blocks(torch.tensor([ids[: complete * self.L]])))[0, -1]
        x = self.prefixes(ctx[None])
        if inside:
            x = torch.cat([x, self.s["token_decoder.wte.weight"][torch.tensor([ids[complete * self.L:]])]], dim=1)
        return self.head(self.token(x)[0, -1])

    def generate(self, prompt, count):
        """KV-cached greedy generation; yields each step's logits (V) and the chosen token."""
        ids = self.padded(prompt)
        cache = new_cache(self.block.layers)
        ctx = self.block(self.embed_blocks(torch.tensor([ids])), cache)[0, -1]
        produced = 0
        while produced < count:
            tcache = new_cache(self.token.layers)
            h = self.token(self.prefixes(ctx[None]), tcache)[0, -1]
            block = []
            for j in range(self.L):
                logits = self.head(h)
                token = int(torch.argmax(logits))
                yield logits, token
                block.append(token)
                produced += 1
                if produced == count:
                    return
                if j + 1 < self.L:
                    h = self.token(self.s["token_decoder.wte.weight"][torch.tensor([[token]])], tcache)[0, -1]
            ctx = self.block(self.embed_blocks(torch.tensor([block])), cache)[0, -1]


class VanillaGPT:
    def __init__(self, state, c):
        self.s = state
        self.dec = Decoder(state, "transformer.", c["n_head"])   # nanoGPT's names; lm_head tied to wte

    def generate(self, prompt, count):
        cache = new_cache(self.dec.layers)
        wte = self.s["transformer.wte.weight"]
        h = self.dec(wte[torch.tensor([prompt])], cache)[0, -1]
        for g in range(count):
            logits = h @ wte.T
            token = int(torch.argmax(logits))
            yield logits, token
            if g + 1 < count:
                h = self.dec(wte[torch.tensor([[token]])], cache)[0, -1]


def load(path):
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["config"])
        state = {k: torch.from_numpy(f["params"][k][()].astype(np.float64)) for k in f["params"]}
    return config, state


def scaled(ours, theirs):
    return float(np.abs(ours - theirs).max() / (1 + np.abs(theirs).max()))


def compare_tokens(label, steps, ours):
    """Walks a generation: our token must be the argmax, or within TIE of it. Returns failures."""
    equal, ties = 0, 0
    for g, (logits, token) in enumerate(steps):
        if token == ours[g]:
            equal += 1
            continue
        margin = float(logits[token] - logits[ours[g]])
        if margin > TIE:
            print(f"{label}: token {g} is {ours[g]} in ours, {token} in torch (logit margin {margin:.2e})")
            return 1
        ties += 1
        print(f"{label}: token {g} differs at a near tie (margin {margin:.1e}); the rest is not comparable")
        break
    print(f"{label} greedy tokens: {equal}/{len(ours)} equal" + (f" ({ties} near tie)" if ties else ""))
    return 0


def main(part_dir):
    config, state = load(f"{part_dir}/checkpoint.h5")
    model = BlockModel(state, config["block"])
    expected = {"embedder.weight", "expansion.weight", "expansion.bias", "token_decoder.wte.weight", "lm_head.weight"}
    for prefix, dec in (("block_decoder", model.block), ("token_decoder", model.token)):
        expected |= {f"{prefix}.wpe.weight", f"{prefix}.ln_f.weight"}
        for i in range(dec.layers):
            expected |= {f"{prefix}.h.{i}.{n}.weight" for n in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj")}
    if set(state) != expected:
        print(f"state_dict mismatch: missing {sorted(expected - set(state))}, unexpected {sorted(set(state) - expected)}")
        return 1
    print(f"{len(state)} tensors loaded (strict); L_B {model.L}, prefix {model.p}, D {model.D}, "
          f"{model.block.layers}+{model.token.layers} layers")

    with h5py.File(f"{part_dir}/activations.h5", "r") as f:
        ids = torch.from_numpy(f["input_ids"][()].astype(np.int64))
        targets = torch.from_numpy(f["target_ids"][()].astype(np.int64))
        ours = {k: f[k][()].astype(np.float64) for k in ("contexts", "logits")}
        our_loss = float(f["loss"][()])
    with torch.no_grad():
        ctx, logits = model.forward(ids)
        loss = F.cross_entropy(logits.reshape(-1, model.V), targets.reshape(-1)).item()
    worst = 0.0
    for name, theirs in (("contexts", ctx), ("logits", logits)):
        theirs = theirs.numpy()
        if theirs.shape != ours[name].shape:
            print(f"{name}: shape {ours[name].shape} in ours, {theirs.shape} in torch")
            return 1
        err = scaled(ours[name], theirs)
        worst = max(worst, err)
        print(f"{name} {theirs.shape}: max scaled |ours - torch| {err:.2e}")
    worst = max(worst, abs(our_loss - loss) / (1 + abs(loss)))
    print(f"loss: ours {our_loss:.7f}  torch {loss:.7f}")

    failures = 0
    with h5py.File(f"{part_dir}/generation.h5", "r") as f:
        prompt = [int(t) for t in f["prompt_ids"][0]]
        greedy_block = [int(t) for t in f["greedy_block"][0]]
        greedy_vanilla = [int(t) for t in f["greedy_vanilla"][0]]
    with torch.no_grad():
        cached = list(model.generate(prompt, len(greedy_block)))
        failures += compare_tokens("block (KV-cached)", iter(cached), greedy_block)
        # The cache-free pass over the cached run's own tokens: the cache changes only the work.
        tokens = [t for _, t in cached]
        steps = range(0, len(tokens), max(1, len(tokens) // 16))
        cache_err = max(scaled(cached[g][0].numpy(), model.next_logits(prompt + tokens[:g], len(prompt)).numpy()) for g in steps)
        worst = max(worst, cache_err)
        print(f"block: KV-cached logits against a cache-free forward pass at {len(steps)} steps: max scaled |diff| {cache_err:.2e}")
        vanilla_dir = os.path.join(os.path.dirname(os.path.abspath(part_dir)), "vanilla")
        if os.path.exists(f"{vanilla_dir}/checkpoint.h5"):
            _, vstate = load(f"{vanilla_dir}/checkpoint.h5")
            vanilla = VanillaGPT(vstate, config["vanilla"])
            failures += compare_tokens("vanilla (KV-cached)", vanilla.generate(prompt, len(greedy_vanilla)), greedy_vanilla)
    ok = worst <= TOLERANCE and failures == 0
    print(f"worst scaled difference {worst:.2e} (tolerance {TOLERANCE:.0e}): {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
