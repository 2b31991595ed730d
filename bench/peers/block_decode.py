#!/usr/bin/env python3
"""PyTorch peer for the Block Transformer generation workload of `make bench`
(papers/blocktransformer/BlockTransformer/Generation.swift and Model.swift, step for step).

Greedy batched autoregressive generation with KV caches, float32, torch.inference_mode(),
random weights N(0, 0.02²) (residual projections 0.02/√(2·layers), biases 0, LN weights 1):
the weights do not change the work. Every block is nanoGPT's pre-LN block
    h += c_proj(attn(c_attn(LN(h))));  h += W2 · GELU_erf(W1 · LN(h))   (LN without bias, no
Linear biases, causal softmax attention of H heads); a KV cache holds per layer K and V of
shape (B, H, capacity, D/H), allocated uninitialised with torch.empty.

vanilla  nanoGPT GPT: x = wte[tok] + wpe[pos] (wte (V, D), wpe (max_context, D)), N blocks,
         ln_f, logits = ln_f(h) · wteᵀ (tied head). Cache capacity P + G − 1. Prefill: one
         forward over the prompts (B, P), keys/values of all P positions written to the cache,
         ln_f and the head on the last position only; token 1 = argmax. Then G − 1 steps: embed
         the token at position t, per layer write k, v at index t and attend q over
         cache[:, :, :t+1] (F.scaled_dot_product_attention), argmax.
block    Block Transformer, L = --block-length, p = --prefix. Embedder E (V + 1, D/L), pad id V:
         a block's L embeddings concatenated are its block embedding (D). Block decoder: N_B
         blocks over block embeddings, its own wpe (max_context/L, D) and ln_f. Expansion
         Linear(D, p·D, bias) turns a context (B, D) into p prefix embeddings. Token decoder:
         N_T blocks, wpe (p + L − 1, D), ln_f, token embedding wte (V, D), lm_head (V, D)
         untied. The prompt is left-padded to whole blocks (pad id V; none when P % L = 0) and
         prefilled through the block decoder (cache capacity max(total blocks − 1, prompt
         blocks), total blocks = ceil((pad + P + G) / L)); context = its last position. Per
         block: token-decoder cache reset (capacity p + L − 1, allocated once), prefill of the
         p prefix embeddings, lm_head(ln_f(h[p−1])) → token 1 (argmax); then tokens 1…L−1
         each step through the token decoder (at positions p…p+L−2), giving the next token's
         logits; then the finished block is embedded (B, L ids → (B, D)) and one cached
         block-decoder step gives the next context. Stops after G tokens (no token step past
         the G-th token, no block-decoder step after the last block).

Each repeat times one whole generation (prompt → G tokens, cache allocation included) with
time.perf_counter(), after one warm-up generation (prompt 8, 8 tokens) of the same batch.
Prompts are uniform random ids (seeded).

    block_decode.py --vocab 65 --width 128 --heads 4 --layers 4 --block-layers 2 --token-layers 2 \\
        --block-length 4 --prefix 2 --batch 64 --prompt 128 --generate 1920 --repeats 2 --threads 2
    block_decode.py --check      cached generation against a cache-free full forward per token
                                 (both models, tiny sizes, odd prompt and generation lengths)
Output: one JSON line per model: {"peer": "block_decode", "model": "vanilla"|"block", "batch",
        "prompt", "generated", "seconds": [s per repeat], "cache_bytes", "torch", "threads"};
        --check prints {"check": "ok"} or exits 1.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F


def normal(g, *shape, std=0.02):
    return torch.randn(*shape, generator=g) * std


class KVCache:
    """Keys and values per layer, (B, H, capacity, D/H) each; `length` positions filled."""

    def __init__(self, layers, batch, heads, head_dim, capacity):
        shape = (batch, heads, capacity, head_dim)
        self.keys = [torch.empty(shape) for _ in range(layers)]
        self.values = [torch.empty(shape) for _ in range(layers)]
        self.capacity, self.length = capacity, 0

    @property
    def bytes(self):
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)


class Layer:
    """nanoGPT's pre-LN block without biases: attention and MLP, each a residual branch."""

    def __init__(self, d, heads, n_layer, g, std):
        proj = std / math.sqrt(2 * n_layer)
        self.d, self.heads = d, heads
        self.ln1, self.ln2 = torch.ones(d), torch.ones(d)
        self.c_attn, self.attn_proj = normal(g, 3 * d, d, std=std), normal(g, d, d, std=proj)
        self.c_fc, self.mlp_proj = normal(g, 4 * d, d, std=std), normal(g, d, 4 * d, std=proj)

    def mlp(self, h):
        return F.linear(F.gelu(F.linear(F.layer_norm(h, (self.d,), self.ln2), self.c_fc)), self.mlp_proj)

    def qkv(self, h):
        """(B, T, D) → q, k, v (B, H, T, D/H)."""
        b, t, _ = h.shape
        qkv = F.linear(F.layer_norm(h, (self.d,), self.ln1), self.c_attn).view(b, t, 3, self.heads, self.d // self.heads)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def attend_full(self, h):
        """Cache-free reference: softmax(q kᵀ/√d + causal mask) v written out."""
        b, t, _ = h.shape
        q, k, v = self.qkv(h)
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        y = s.softmax(-1) @ v
        return F.linear(y.transpose(1, 2).reshape(b, t, self.d), self.attn_proj)

    def attend_prefill(self, h, cache, i):
        b, t, _ = h.shape
        q, k, v = self.qkv(h)
        cache.keys[i][:, :, :t] = k
        cache.values[i][:, :, :t] = v
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return F.linear(y.transpose(1, 2).reshape(b, t, self.d), self.attn_proj)

    def attend_step(self, h, cache, i):
        """h (B, D) at position cache.length: k, v appended, q over cache[:, :, :t+1]."""
        b, t = h.shape[0], cache.length
        qkv = F.linear(F.layer_norm(h, (self.d,), self.ln1), self.c_attn).view(b, 3, self.heads, self.d // self.heads)
        q, k, v = qkv.unbind(1)                                            # (B, H, D/H)
        keys, values = cache.keys[i], cache.values[i]
        keys[:, :, t] = k
        values[:, :, t] = v
        y = F.scaled_dot_product_attention(q.unsqueeze(2), keys[:, :, :t + 1], values[:, :, :t + 1])
        return F.linear(y.reshape(b, self.d), self.attn_proj)


class Decoder:
    """Learned positions, N blocks, final LN: GPT's body, the block decoder and the token decoder."""

    def __init__(self, d, heads, layers, positions, g, std):
        self.d, self.heads, self.n = d, heads, layers
        self.wpe = normal(g, positions, d, std=std)
        self.layers = [Layer(d, heads, layers, g, std) for _ in range(layers)]
        self.ln_f = torch.ones(d)

    def norm(self, h):
        return F.layer_norm(h, (self.d,), self.ln_f)

    def make_cache(self, batch, capacity):
        return KVCache(self.n, batch, self.heads, self.d // self.heads, capacity)

    def full(self, x):
        """(B, T, D) → ln_f(h) (B, T, D), no cache."""
        h = x + self.wpe[:x.shape[1]]
        for layer in self.layers:
            h = h + layer.attend_full(h)
            h = h + layer.mlp(h)
        return self.norm(h)

    def prefill(self, x, cache):
        """(B, T, D) from an empty cache → h before ln_f (B, T, D); the caller norms what it needs."""
        t = x.shape[1]
        assert cache.length == 0 and t <= cache.capacity
        h = x + self.wpe[:t]
        for i, layer in enumerate(self.layers):
            h = h + layer.attend_prefill(h, cache, i)
            h = h + layer.mlp(h)
        cache.length = t
        return h

    def step(self, x, cache):
        """(B, D) at position cache.length → ln_f(h) (B, D)."""
        assert cache.length < cache.capacity, "KV cache full"
        h = x + self.wpe[cache.length]
        for i, layer in enumerate(self.layers):
            h = h + layer.attend_step(h, cache, i)
            h = h + layer.mlp(h)
        cache.length += 1
        return self.norm(h)


class GPT:
    def __init__(self, a, g, std=0.02):
        self.wte = normal(g, a.vocab, a.width, std=std)
        self.body = Decoder(a.width, a.heads, a.layers, a.max_context, g, std)
        self.max_context = a.max_context

    def generate(self, prompts, count, record=None):
        """prompts (B, P) → tokens (B, count), cache bytes. `record` collects each token's logits."""
        b, p = prompts.shape
        assert p >= 1 and count >= 1 and p + count <= self.max_context
        cache = self.body.make_cache(b, p + count - 1)
        h = self.body.prefill(F.embedding(prompts, self.wte), cache)
        logits = F.linear(self.body.norm(h[:, -1]), self.wte)
        out = torch.empty(b, count, dtype=torch.long)
        for g in range(count):
            if record is not None:
                record.append(logits.clone())
            nxt = logits.argmax(-1)
            out[:, g] = nxt
            if g + 1 < count:
                logits = F.linear(self.body.step(F.embedding(nxt, self.wte), cache), self.wte)
        return out, cache.bytes

    def uncached_next_logits(self, seq, prompt_length):
        return F.linear(self.body.full(F.embedding(seq, self.wte))[:, -1], self.wte)


class BlockTransformer:
    def __init__(self, a, g, std=0.02):
        d, l, p = a.width, a.block_length, a.prefix
        assert d % l == 0 and d % a.heads == 0 and a.max_context % l == 0
        self.v, self.d, self.l, self.p, self.max_context = a.vocab, d, l, p, a.max_context
        self.embedder = normal(g, a.vocab + 1, d // l, std=std)              # last row: the pad id V
        self.block_decoder = Decoder(d, a.heads, a.block_layers, a.max_context // l, g, std)
        self.expansion_w, self.expansion_b = normal(g, p * d, d, std=std), torch.zeros(p * d)
        self.wte = normal(g, a.vocab, d, std=std)
        self.token_decoder = Decoder(d, a.heads, a.token_layers, p + l - 1, g, std)
        self.lm_head = normal(g, a.vocab, d, std=std)

    def embed_blocks(self, ids):
        """(B, N·L) ids → (B, N, D) block embeddings."""
        return F.embedding(ids, self.embedder).reshape(ids.shape[0], -1, self.d)

    def prefixes(self, context):
        """(R, D) → (R, p, D)."""
        return F.linear(context, self.expansion_w, self.expansion_b).reshape(-1, self.p, self.d)

    def left_pad(self, ids, prompt_length):
        pad = (self.l - prompt_length % self.l) % self.l
        if pad == 0:
            return ids
        return torch.cat([torch.full((ids.shape[0], pad), self.v, dtype=ids.dtype), ids], 1)

    def generate(self, prompts, count, record=None):
        b, plen = prompts.shape
        l, p, td = self.l, self.p, self.token_decoder
        ids = self.left_pad(prompts, plen)
        prompt_blocks = ids.shape[1] // l
        total_blocks = (ids.shape[1] + count + l - 1) // l
        assert count >= 1 and total_blocks * l <= self.max_context
        block_cache = self.block_decoder.make_cache(b, max(total_blocks - 1, prompt_blocks))
        token_cache = td.make_cache(b, p + l - 1)
        ctx = self.block_decoder.prefill(self.embed_blocks(ids), block_cache)
        context = self.block_decoder.norm(ctx)[:, prompt_blocks - 1]           # (B, D)
        out = torch.empty(b, count, dtype=torch.long)
        produced = 0
        while produced < count:
            token_cache.length = 0
            h = td.norm(td.prefill(self.prefixes(context), token_cache))[:, p - 1]
            block = torch.empty(b, l, dtype=torch.long)
            for j in range(l):
                logits = F.linear(h, self.lm_head)
                if record is not None:
                    record.append(logits.clone())
                nxt = logits.argmax(-1)
                block[:, j] = nxt
                out[:, produced + j] = nxt                                   # produced + j < count here
                if j + 1 < l and produced + j + 1 < count:
                    h = td.step(F.embedding(nxt, self.wte), token_cache)
                if produced + j + 1 == count:
                    break
            produced += l
            if produced < count:
                context = self.block_decoder.step(self.embed_blocks(block).reshape(b, self.d), block_cache)
        return out, block_cache.bytes + token_cache.bytes

    def uncached_next_logits(self, seq, prompt_length):
        """Logits (B, V) after seq (B, S), padded as generate pads a prompt of prompt_length: the
        block decoder over every complete block, the token decoder over prefix + current block."""
        ids = self.left_pad(seq, prompt_length)
        total = ids.shape[1]
        complete, in_block = total // self.l, total % self.l
        ctx = self.block_decoder.full(self.embed_blocks(ids[:, :complete * self.l]))[:, complete - 1]
        parts = [self.prefixes(ctx)]
        if in_block:
            parts.append(F.embedding(ids[:, complete * self.l:], self.wte))
        h = self.token_decoder.full(torch.cat(parts, 1))
        return F.linear(h[:, self.p - 1 + in_block], self.lm_head)


def prompts_for(a, batch, length, seed):
    return torch.randint(0, a.vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


def check(a):
    """Cached generation against a cache-free forward over each prefix (teacher-forced on the
    generated tokens): every generated token's logits close, every token their argmax."""
    worst = 0.0
    for (l, p, plen, count) in [(4, 2, 8, 9), (4, 2, 5, 8), (4, 2, 3, 1), (2, 1, 3, 6), (1, 2, 4, 3), (4, 3, 4, 4)]:
        c = argparse.Namespace(vocab=13, width=32, heads=4, layers=3, block_layers=2, token_layers=2,
                               block_length=l, prefix=p, max_context=64)
        g = torch.Generator().manual_seed(7 + l + p)
        # std 0.3: attention far from uniform, so a wrong position or cache slot shows.
        for name, model in (("vanilla", GPT(c, g, std=0.3)), ("block", BlockTransformer(c, g, std=0.3))):
            prompts = prompts_for(c, 2, plen, seed=plen + count)
            record = []
            out, _ = model.generate(prompts, count, record)
            assert out.shape == (2, count) and len(record) == count, (name, out.shape, len(record))
            for i in range(count):
                ref = model.uncached_next_logits(torch.cat([prompts, out[:, :i]], 1), plen)
                diff = (record[i] - ref).abs().max().item() / max(1.0, ref.abs().max().item())
                worst = max(worst, diff)
                if diff > 1e-4 or not torch.equal(ref.argmax(-1), out[:, i]):
                    return f"{name} L={l} p={p} prompt={plen} generate={count}: token {i} differs (rel {diff:.2e})"
    print(json.dumps({"worst_relative_logit_difference": worst}), file=sys.stderr, flush=True)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=65)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=4, help="vanilla GPT layers")
    ap.add_argument("--block-layers", type=int, default=2)
    ap.add_argument("--token-layers", type=int, default=2)
    ap.add_argument("--block-length", type=int, default=4)
    ap.add_argument("--prefix", type=int, default=2)
    ap.add_argument("--max-context", type=int, default=2048, help="positions of vanilla's wpe (block decoder: / L)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--generate", type=int, default=1920)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--model", choices=["vanilla", "block", "both"], default="both")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="verify the caches at a tiny size and exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    with torch.inference_mode():
        if a.check:
            failure = check(a)
            print(json.dumps({"check": "ok"} if failure is None else {"check": "failed", "reason": failure}), flush=True)
            sys.exit(0 if failure is None else 1)
        if a.prompt + a.generate > a.max_context:
            ap.error(f"--prompt {a.prompt} + --generate {a.generate} exceed --max-context {a.max_context}")
        g = torch.Generator().manual_seed(a.seed)
        models = {"vanilla": lambda: GPT(a, g), "block": lambda: BlockTransformer(a, g)}
        for name in (["vanilla", "block"] if a.model == "both" else [a.model]):
            model = models[name]()
            model.generate(prompts_for(a, a.batch, 8, seed=a.seed), 8)                   # warm-up
            prompts = prompts_for(a, a.batch, a.prompt, seed=a.seed + 1)
            seconds, cache_bytes = [], 0
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                out, cache_bytes = model.generate(prompts, a.generate)
                seconds.append(time.perf_counter() - t0)
            assert out.shape == (a.batch, a.generate)
            print(json.dumps({"peer": "block_decode", "model": name, "batch": a.batch, "prompt": a.prompt,
                              "generated": a.generate, "seconds": seconds, "cache_bytes": cache_bytes,
                              "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
