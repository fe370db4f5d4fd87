#!/usr/bin/env python3
"""The PyTorch peer of `bpr bench kernels`: torch.topk over the same number of scores.

Uniform random f32 scores in [-1, 1), k of n kept, on the same device as bpr, timed as the
median over --reps calls with the device synchronized after each. Prints one JSON line:
{"peer": "pytorch", "topk_ms": ..., "version": ...}.
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=14715584)
    ap.add_argument("--k", type=int, default=1471558)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(1)
    scores = torch.rand(a.n, device=dev) * 2 - 1

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    torch.topk(scores, a.k, sorted=False)
    sync()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        torch.topk(scores, a.k, sorted=False)
        sync()
        times.append(1e3 * (time.perf_counter() - t0))
    print(json.dumps({"peer": "pytorch", "topk_ms": statistics.median(times),
                      "version": f"torch {torch.__version__} on {a.device}"}))


if __name__ == "__main__":
    main()
