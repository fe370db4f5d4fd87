#!/usr/bin/env python3
"""The PyTorch peer of `bpr bench train-step` (--mode train): the identical training step,
eager mode, on the CPU or the GPU (--device cuda; --tf32 allows TF32 as bpr's --tf32 does);
and of `bpr bench infer` (--mode infer): the eval-mode forward under torch.no_grad.

Same network (CIFAR VGG: conv3x3+bias -> BN -> ReLU, max pools, one Linear head, PyTorch
default init; the CIFAR ResNets and MobileNetV2 of scripts/pytorch_models.py), same batch of random inputs, same optimizer, same thread count. Prints one
JSON line: {"peer": "pytorch", "ms_per_step": (median), "min_ms", "max_ms", "img_per_s", "version"}.
"""
import argparse
import json
import statistics
import time

import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_models import build  # noqa: E402

LAYOUTS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def make_vgg(name, width):
    layers, c = [], 3
    for v in LAYOUTS[name]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            out = max(1, round(v * width))
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    dev = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cudnn.benchmark = True  # bpr also picks cuDNN algorithms by timing them
    net = make_vgg(a.model, a.width) if a.model in LAYOUTS else build(a.model, a.width)
    model = net.to(dev).train()
    if a.mode == "infer":
        with torch.no_grad():  # settle the batch-norm statistics as bpr does, then eval
            for _ in range(3):
                model(torch.randn(16, 3, 32, 32, device=dev))
        model.eval()
    if a.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.01)
    x = torch.randn(a.batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (a.batch,), device=dev)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step():
        if a.mode == "infer":
            with torch.no_grad():
                model(x)
            return
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times)
    print(json.dumps({"peer": "pytorch", "ms_per_step": ms, "min_ms": 1e3 * min(times), "max_ms": 1e3 * max(times),
                      "img_per_s": a.batch / (ms / 1e3),
                      "version": (f"torch {torch.__version__} on {torch.cuda.get_device_name()}, TF32 {a.tf32}"
                                  if dev.type == "cuda" else
                                  f"torch {torch.__version__}, {a.threads} threads, "
                                  f"mkldnn={torch.backends.mkldnn.is_available()}")}))


if __name__ == "__main__":
    main()
