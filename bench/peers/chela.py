#!/usr/bin/env python3
"""PyTorch peer for the CHELA workload of `make bench` (papers/chela's two long-sequence ops).

--op attention: causal linear attention o = tril(q kᵀ) v on q, k (B, L, d), v (B, L, dv),
  written chunk-wise in batched torch ops (the standard fast form, never the L×L matrix):
  with chunks of C rows, (B, L, d) viewed as (B, L/C, C, d),
      o_i = tril(q_i k_iᵀ) v_i + q_i S_{i−1},   S_{i−1} = Σ_{j<i} k_jᵀ v_j
  the intra-chunk term one batched matmul under `tril`, the states an exclusive cumsum over
  chunks of k_jᵀ v_j (the inclusive cumsum shifted by one chunk), autograd for the backward.
--op conv: the FFT causal long convolution on x (B, L, D), kernel (D, L), lag-indexed:
      u = x.transpose(1, 2);  y = irfft(rfft(u, n=2L) · rfft(kernel, n=2L), n=2L)[..., :L]
  transposed back to (B, L, D) (a view), autograd for the backward.

Inputs uniform in [-1, 1) (q, k scaled by 1/√d), a fixed random output gradient. For each L,
"fwd" times the forward alone, "fwdbwd" forward + backward; repeats run until --min-time
seconds passed and at least --reps were made (at most 200).

    chela.py --op attention --batch 8 --d 64 --dv 64 --chunk 64 --n 4096 16384 65536 --threads 2
    chela.py --op conv --batch 1 --channels 512 --n 4096 16384 65536 --threads 2
Output: one JSON line per L: {"peer": "chela", "op", "n", "fwd": [s, ...], "fwdbwd": [s, ...]}

    chela.py --check OUT --n 1000 --threads 2
Agreement check on a small ragged size: inputs from a closed formula that bench/main.swift
evaluates too (value i of input j: sin(0.7548776662466927·i + j), in float64, rounded to
float32); writes o, dq, dk, dv (attention: B 2, d 64, dv 64, chunk 64) then y, dx, dkernel
(conv: B 2, D 16) to OUT as raw float32, and prints one JSON line with the chunked form's
max |Δ| against the quadratic `(q @ k.mT).tril() @ v`, and the FFT form's against a direct
depthwise `conv1d` (flipped kernel), each relative to the reference's max |value|.
"""
import argparse
import array
import json
import time

import torch


def linear_attention(q, k, v, chunk):
    """tril(q kᵀ) v chunk-wise; L is zero-padded to a multiple of the chunk (later rows never
    reach earlier outputs), then cut back."""
    b, l, d = q.shape
    dv = v.shape[-1]
    pad = (-l) % chunk
    if pad:
        q, k, v = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    n = (l + pad) // chunk
    qc, kc, vc = q.reshape(b, n, chunk, d), k.reshape(b, n, chunk, d), v.reshape(b, n, chunk, dv)
    intra = torch.matmul(torch.matmul(qc, kc.transpose(-1, -2)).tril(), vc)
    kv = torch.matmul(kc.transpose(-1, -2), vc)                     # (B, n, d, dv)
    states = torch.cat([torch.zeros_like(kv[:, :1]), kv.cumsum(1)[:, :-1]], dim=1)
    o = (intra + torch.matmul(qc, states)).reshape(b, n * chunk, dv)
    return o[:, :l] if pad else o


def long_conv(x, kernel):
    l = x.shape[1]
    u = x.transpose(1, 2)
    y = torch.fft.irfft(torch.fft.rfft(u, n=2 * l) * torch.fft.rfft(kernel, n=2 * l), n=2 * l)[..., :l]
    return y.transpose(1, 2)


def formula(shape, j):
    n = 1
    for s in shape:
        n *= s
    i = torch.arange(n, dtype=torch.float64)
    return torch.sin(i * 0.7548776662466927 + j).float().reshape(shape)


def check(path, l):
    out = open(path, "wb")

    def write(t):
        array.array("f", t.detach().reshape(-1).tolist()).tofile(out)

    def rel(a, ref):
        return float((a - ref).abs().max() / ref.abs().max())

    b, d, dv, chunk = 2, 64, 64, 64
    q, k, v = (formula((b, l, w), j).requires_grad_() for j, w in ((0, d), (1, d), (2, dv)))
    g = formula((b, l, dv), 3)
    o = linear_attention(q, k, v, chunk)
    o.backward(g)
    for t in (o, q.grad, k.grad, v.grad):
        write(t)
    with torch.no_grad():
        quad = torch.matmul(torch.matmul(q, k.mT).tril(), v)
    attention = rel(o.detach(), quad)

    b, c = 2, 16
    x, kernel = formula((b, l, c), 4).requires_grad_(), formula((c, l), 5).requires_grad_()
    g = formula((b, l, c), 6)
    y = long_conv(x, kernel)
    y.backward(g)
    for t in (y, x.grad, kernel.grad):
        write(t)
    with torch.no_grad():
        direct = torch.nn.functional.conv1d(x.transpose(1, 2), kernel.flip(-1).unsqueeze(1), padding=l - 1, groups=c)
        direct = direct[..., :l].transpose(1, 2)
    conv = rel(y.detach(), direct)
    out.close()
    print(json.dumps({"peer": "chela", "check": l, "attention_chunked_vs_quadratic": attention, "conv_fft_vs_direct": conv}), flush=True)


def timed(reps, min_time, body):
    body()   # one warm-up, as ours
    times = []
    start = time.perf_counter()
    while len(times) < 200 and (len(times) < reps or time.perf_counter() - start < min_time):
        t0 = time.perf_counter()
        body()
        times.append(time.perf_counter() - t0)
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--op", choices=["attention", "conv"], default="attention")
    p.add_argument("--batch", type=int, help="B: 8 (attention, heads folded) or 1 (conv) if not given")
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--dv", type=int, default=64)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--channels", type=int, default=512)
    p.add_argument("--n", type=int, nargs="+", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--check", metavar="OUT")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.batch is None:
        a.batch = 8 if a.op == "attention" else 1
    if a.check:
        check(a.check, a.n[0])
        return
    gen = torch.Generator().manual_seed(1)

    def uniform(*shape, scale=1.0):
        return (torch.empty(*shape).uniform_(-1, 1, generator=gen) * scale).requires_grad_()

    for n in a.n:
        if a.op == "attention":
            s = a.d ** -0.5
            inputs = [uniform(a.batch, n, a.d, scale=s), uniform(a.batch, n, a.d, scale=s), uniform(a.batch, n, a.dv)]
            seed = torch.empty(a.batch, n, a.dv).uniform_(-1, 1, generator=gen)

            def forward():
                return linear_attention(*inputs, a.chunk)
        else:
            inputs = [uniform(a.batch, n, a.channels), uniform(a.channels, n, scale=1 / n)]
            seed = torch.empty(a.batch, n, a.channels).uniform_(-1, 1, generator=gen)

            def forward():
                return long_conv(*inputs)

        def fwd():
            with torch.no_grad():
                forward()

        def fwdbwd():
            forward().backward(seed)
            for t in inputs:
                t.grad = None

        fwd_times = timed(a.reps, a.min_time, fwd)
        fwdbwd_times = timed(a.reps, a.min_time, fwdbwd)
        print(json.dumps({"peer": "chela", "op": a.op, "n": n, "fwd": fwd_times, "fwdbwd": fwdbwd_times}), flush=True)


if __name__ == "__main__":
    main()
