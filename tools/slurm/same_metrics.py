#!/usr/bin/env python3
"""Exit 0 when two run folders hold the same metrics, bit for bit, timings aside.

    same_metrics.py RUN_A RUN_B

Compares metrics.json (the means over seeds) and, when h5py imports, every per-seed scalar in
metrics.h5 (/scalars/<name>, one value per seed). Timings (the rule of Sources/Reporting's
isTimingMetric: a name ending in _ms, _s, _seconds or _per_s, or containing time or
throughput) depend on the machine and are left out.
"""
import json
import sys


def timing(name):
    family = name.split(".")[0].lower()
    return family.endswith(("_ms", "_s", "_seconds", "_per_s")) or "time" in family or "throughput" in family


def main(a, b):
    ma, mb = (json.load(open(f"{d}/metrics.json")) for d in (a, b))
    ka, kb = ({k for k in m if not timing(k)} for m in (ma, mb))
    problems = [f"only in {a}: {sorted(ka - kb)}"] if ka - kb else []
    problems += [f"only in {b}: {sorted(kb - ka)}"] if kb - ka else []
    problems += [f"{k}: {ma[k]!r} vs {mb[k]!r}" for k in sorted(ka & kb) if ma[k] != mb[k]]
    compared = len(ka & kb)
    try:
        import h5py
        import numpy as np
        with h5py.File(f"{a}/metrics.h5", "r") as fa, h5py.File(f"{b}/metrics.h5", "r") as fb:
            for k in sorted(set(fa["scalars"]) & set(fb["scalars"])):
                if timing(k):
                    continue
                x, y = fa["scalars"][k][()], fb["scalars"][k][()]
                if x.shape != y.shape or not np.array_equal(x, y):
                    problems.append(f"per-seed {k}: {x.tolist()} vs {y.tolist()}")
            per_seed = "and every per-seed scalar of metrics.h5"
    except ImportError:
        per_seed = "(h5py not importable: metrics.h5 not compared)"
    for p in problems:
        print("  " + p)
    print(f"{compared} metrics {per_seed}: {'identical' if not problems else f'{len(problems)} differ'}")
    return 1 if problems or compared == 0 else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
