#!/usr/bin/env python3
"""Independent check of the template paper: recompute our final test MSE from the HDF5 files alone.

    python3 papers/_template/reference/check_numpy.py runs/_template/<run>/seed-1

Reads checkpoint.h5 (the trained weight under its state_dict name), data.h5 (the exact data the
run trained and tested on) and the run's metrics.h5 (our test_mse_final per seed), computes
mean((X·wᵀ − y)²) on the test split in float64 with NumPy, and compares the two. A new paper's
reference does the same with its model: load our parameters by name, recompute, compare.
"""
import os
import sys

import h5py
import numpy as np


def main(seed_dir):
    with h5py.File(f"{seed_dir}/checkpoint.h5", "r") as f:
        w = f["params/linear.weight"][()].astype(np.float64)          # (1, D), torch.nn.Linear layout
        assert int(f.attrs["finished"]) == 1, "the checkpoint is not of a finished run"
    seed = int(os.path.basename(os.path.normpath(seed_dir)).removeprefix("seed-"))
    with h5py.File(f"{seed_dir}/../metrics.h5", "r") as f:
        ours = float(f["scalars/test_mse_final"][list(f.attrs["seeds"]).index(seed)])
    with h5py.File(f"{seed_dir}/data.h5", "r") as f:
        x = f["test/x"][()].astype(np.float64)
        y = f["test/y"][()].astype(np.float64)
    theirs = float(np.mean((x @ w.T - y[:, None]) ** 2))
    rel = abs(ours - theirs) / theirs
    print(f"test MSE: ours {ours:.9g}, numpy float64 {theirs:.9g}, relative difference {rel:.2e}")
    # Ours is float32 (the forward and the mean over 2048 rows): a few ulps of float32, not more.
    if rel > 1e-5:
        sys.exit("test MSE differs beyond float32 round-off")


if __name__ == "__main__":
    main(sys.argv[1])
