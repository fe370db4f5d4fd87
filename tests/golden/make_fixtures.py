#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that tests/test_torch_reference.cpp compares against.

Run with a Python that has torch (Debian: apt-get install python3-torch):
    /usr/bin/python3 tests/golden/make_fixtures.py tests/fixtures
Each fixture is a small safetensors file (written by the tiny writer below, so the
`safetensors` package is not needed). Values are float64 so the comparison checks
semantics, not rounding; cross-entropy also has a float32 case.

Pruning convention used here (the same as bpr's): a masked weight is exactly zero and its
optimizer state evolves with a zero gradient. With PyTorch's pruning reparametrization that
is w_orig[mask == 0] = 0 and grad = grad_effective * mask.
"""
import json
import struct
import sys

import torch

DT = {torch.float64: "F64", torch.float32: "F32", torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8"}


def save(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def batchnorm(out):
    torch.manual_seed(1)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    gamma = torch.randn(3, dtype=torch.float64)
    beta = torch.randn(3, dtype=torch.float64)
    rm0 = torch.randn(3, dtype=torch.float64)
    rv0 = torch.rand(3, dtype=torch.float64) + 0.5
    gy = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    res = {"x": x, "gamma": gamma, "beta": beta, "running_mean0": rm0, "running_var0": rv0, "gy": gy}
    for mode in ("train", "eval"):
        bn = torch.nn.BatchNorm2d(3, momentum=0.1, eps=1e-5).double()
        with torch.no_grad():
            bn.weight.copy_(gamma); bn.bias.copy_(beta)
            bn.running_mean.copy_(rm0); bn.running_var.copy_(rv0)
        bn.train(mode == "train")
        xi = x.clone().requires_grad_(True)
        y = bn(xi)
        y.backward(gy)
        res[f"{mode}_y"] = y
        res[f"{mode}_gx"] = xi.grad
        res[f"{mode}_ggamma"] = bn.weight.grad
        res[f"{mode}_gbeta"] = bn.bias.grad
        res[f"{mode}_running_mean"] = bn.running_mean
        res[f"{mode}_running_var"] = bn.running_var
    save(f"{out}/batchnorm.safetensors", res)


def cross_entropy(out):
    torch.manual_seed(2)
    res = {}
    for name, dt in (("f64", torch.float64), ("f32", torch.float32)):
        logits = (3 * torch.randn(6, 5, dtype=dt)).requires_grad_(True)
        labels = torch.tensor([0, 4, 2, 2, 1, 3], dtype=torch.int64)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        res[f"{name}_logits"] = logits
        res[f"{name}_loss"] = loss.reshape(1)
        res[f"{name}_grad"] = logits.grad
    res["labels"] = labels.to(torch.int32)
    save(f"{out}/cross_entropy.safetensors", res)


def conv_pool(out):
    torch.manual_seed(3)
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64, requires_grad=True)
    conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    y = conv(x)
    gy = torch.randn_like(y)
    y.backward(gy)
    xp = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    yp = torch.nn.functional.max_pool2d(xp, 2, 2)
    gyp = torch.randn_like(yp)
    yp.backward(gyp)
    save(f"{out}/conv_pool.safetensors", {
        "x": x, "w": conv.weight, "b": conv.bias, "y": y, "gy": gy, "gx": x.grad, "gw": conv.weight.grad,
        "gb": conv.bias.grad, "pool_x": xp, "pool_y": yp, "pool_gy": gyp, "pool_gx": xp.grad})


def optimizers(out):
    torch.manual_seed(4)
    n, steps = 12, 5
    p0 = torch.randn(n, dtype=torch.float64)
    mask = (torch.rand(n) > 0.35).to(torch.uint8)
    grads = torch.randn(steps, n, dtype=torch.float64)
    res = {"p0": p0, "mask": mask, "grads": grads}

    def run(make_opt, prune_after):
        # prune_after: steps taken densely before the mask is applied (0 = masked from the start)
        w = p0.clone()
        if prune_after == 0:
            w = w * mask
        w.requires_grad_(True)
        opt = make_opt([w])
        for s in range(steps):
            m = mask if s >= prune_after else torch.ones_like(mask)
            opt.zero_grad()
            w.grad = grads[s] * m  # gradient of (w * m) w.r.t. w
            opt.step()
        return w.detach(), opt.state[w]

    cases = {
        "sgd_momentum": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4), 0),
        "sgd_nesterov": (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True), 0),
        "sgd_plain": (lambda ps: torch.optim.SGD(ps, lr=0.05, weight_decay=1e-2), 0),
        "adamw": (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.01), 0),
        "adamw_midprune": (lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.01), 2),
    }
    for name, (make, prune_after) in cases.items():
        w, st = run(make, prune_after)
        res[f"{name}_effective"] = w * mask  # what the network computes with
        for k in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
            if k in st and st[k] is not None:
                res[f"{name}_{k}"] = st[k]
    save(f"{out}/optimizers.safetensors", res, {"steps": steps, "torch": torch.__version__})


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    batchnorm(out)
    cross_entropy(out)
    conv_pool(out)
    optimizers(out)
    print(f"fixtures written to {out}")
