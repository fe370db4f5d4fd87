#!/usr/bin/env python3
"""The PyTorch peer of `bpr bench conv`: each 3x3 convolution (stride 1, padding 1, bias) of a
VGG at a batch size, on the CPU with the same thread count.

--shapes is a JSON file written by bpr: [{"C", "H", "O"}, ...]. For each shape: the forward
(torch.nn.functional.conv2d) and the backward (input, weight and bias gradients through
torch.ops.aten.convolution_backward, what autograd calls) as the median of --reps calls.
Prints one JSON line: {"peer": "pytorch", "version", "threads", "layers": [{"fwd_ms", "bwd_ms"}]}."""
import argparse
import json

import torch
import torch.nn.functional as F

from bench_pytorch_ops import median_ms  # the same timer as the ops peer (same folder)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    layers = []
    with open(a.shapes) as f:
        shapes = json.load(f)
    for s in shapes:
        x = torch.randn(a.batch, s["C"], s["H"], s["H"])
        w = torch.randn(s["O"], s["C"], 3, 3) * 0.05
        b = torch.randn(s["O"]) * 0.1
        gy = torch.randn(a.batch, s["O"], s["H"], s["H"])
        with torch.no_grad():
            fwd = median_ms(lambda: F.conv2d(x, w, b, 1, 1), a.reps, lambda: None)
            mask = [s["C"] > 3, True, True]
            bwd = median_ms(lambda: torch.ops.aten.convolution_backward(
                gy, x, w, [s["O"]], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask), a.reps, lambda: None)
        layers.append({"fwd_ms": fwd, "bwd_ms": bwd})
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
                      "mkldnn": torch.backends.mkldnn.is_available(), "layers": layers}))


if __name__ == "__main__":
    main()
