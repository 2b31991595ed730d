#!/usr/bin/env python3
"""PyTorch peer for the Aaren prefix-scan workload of `make bench`.

scores s (R, N) and values v (R, N, d), float32, s ~ N(0, 1), v uniform in [-1, 1);
o_k = sum_{i<=k} softmax(s_{0..k})_i v_i written with torch ops as
    e = exp(s - max(s));  o = cumsum(e[..., None] * v, -2) / cumsum(e, -1)[..., None]
(one max per row: stable for these scores, not for rows whose early scores lie ~88 below their
maximum, which our scan handles), forward and backward (autograd, a fixed random output
gradient). Each repeat times forward + backward; repeats run until --min-time seconds passed
and at least --reps were made (at most 200).

    prefix_attention.py --rows 8 --d 64 --n 1024 16384 131072 --threads 2
Output: one JSON line per N: {"peer": "prefix_attention", "n", "d", "rows", "times": [s, ...]}
"""
import argparse
import json
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--n", type=int, nargs="+", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(1)
    for n in a.n:
        s = torch.randn(a.rows, n, generator=g).requires_grad_()
        v = torch.empty(a.rows, n, a.d).uniform_(-1, 1, generator=g).requires_grad_()
        seed = torch.empty(a.rows, n, a.d).uniform_(-1, 1, generator=g)
        times = []
        start = time.perf_counter()
        while len(times) < 200 and (len(times) < a.reps or time.perf_counter() - start < a.min_time):
            t0 = time.perf_counter()
            e = torch.exp(s - s.max(dim=-1, keepdim=True).values.detach())
            o = torch.cumsum(e[..., None] * v, dim=-2) / torch.cumsum(e, dim=-1)[..., None]
            o.backward(seed)
            times.append(time.perf_counter() - t0)
            s.grad = None
            v.grad = None
        print(json.dumps({"peer": "prefix_attention", "n": n, "d": a.d, "rows": a.rows, "times": times}), flush=True)


if __name__ == "__main__":
    main()
