#!/usr/bin/env python3
"""PyTorch peer for the single-query decode-attention workload of `make bench`.

q (B, H, 1, d), K and V (B, H, N, d), float32, contiguous, filled uniform in [-1, 1);
out = F.scaled_dot_product_attention(q, K, V) (no mask: one query sees the whole cache).
Each repeat times one call. Repeats run until `--min-time` seconds have passed and at least
`--reps` calls were made (at most 200).

One-shot:  decode_attention.py --d 64 --n 1024 65536
Serve:     decode_attention.py --serve   then one JSON object per stdin line, e.g.
           {"d": 128, "n": 524288, "reps": 3, "min_time": 0.5}; {"reserve": floats} allocates
           K and V for the largest request up front, {"free": true} releases them. K and V stay
           allocated between requests, so alternating requests do not pay the allocation again.
Output:    one JSON line per (d, N): {"peer": "decode_attention", "d", "n", "bytes", "times": [s, ...]}
"""
import argparse
import gc
import json
import sys
import time

import torch
import torch.nn.functional as F


class Cache:
    """One flat K and one flat V storage; a (d, N) request views their first B*H*N*d floats as
    the contiguous (B, H, N, d) tensors, so a sweep over sizes fills memory once."""

    def __init__(self, batch, heads):
        self.batch, self.heads, self.k, self.v = batch, heads, None, None

    def reserve(self, elems):
        if self.k is None or self.k.numel() < elems:
            self.free()
            g = torch.Generator().manual_seed(1)
            self.k = torch.empty(elems).uniform_(-1, 1, generator=g)
            self.v = torch.empty(elems).uniform_(-1, 1, generator=g)

    def free(self):
        self.k = self.v = None
        gc.collect()

    def get(self, d, n):
        e = self.batch * self.heads * n * d
        self.reserve(e)
        shape = (self.batch, self.heads, n, d)
        q = torch.empty(self.batch, self.heads, 1, d).uniform_(-1, 1, generator=torch.Generator().manual_seed(2))
        return q, self.k[:e].view(shape), self.v[:e].view(shape)


def measure(cache, d, n, reps, min_time):
    q, k, v = cache.get(d, n)
    with torch.inference_mode():
        F.scaled_dot_product_attention(q, k, v)                   # warm-up
        times, start = [], time.perf_counter()
        while len(times) < 200 and (len(times) < reps or time.perf_counter() - start < min_time):
            t0 = time.perf_counter()
            F.scaled_dot_product_attention(q, k, v)
            times.append(time.perf_counter() - t0)
    return {"peer": "decode_attention", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "batch": cache.batch, "heads": cache.heads, "d": d, "n": n,
            "bytes": 2 * k.numel() * k.element_size(), "times": times}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--d", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--n", type=int, nargs="+", default=[1024, 8192, 65536])
    ap.add_argument("--reps", type=int, default=5, help="minimum timed calls")
    ap.add_argument("--min-time", type=float, default=0.3, help="minimum seconds of timed calls")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--serve", action="store_true", help="answer JSON requests on stdin")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cache = Cache(args.batch, args.heads)

    if not args.serve:
        cache.reserve(args.batch * args.heads * max(args.n) * max(args.d))
        for d in args.d:
            for n in args.n:
                print(json.dumps(measure(cache, d, n, args.reps, args.min_time)), flush=True)
        return
    print(json.dumps({"peer": "decode_attention", "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        if r.get("free"):
            cache.free()
            print(json.dumps({"freed": True}), flush=True)
            continue
        if "reserve" in r:
            cache.reserve(int(r["reserve"]))
            print(json.dumps({"ready": True}), flush=True)
            continue
        print(json.dumps(measure(cache, int(r["d"]), int(r["n"]), int(r.get("reps", args.reps)),
                                 float(r.get("min_time", args.min_time)))), flush=True)


if __name__ == "__main__":
    main()
