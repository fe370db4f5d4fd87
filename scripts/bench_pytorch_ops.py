#!/usr/bin/env python3
"""The PyTorch peer of `bpr bench ops`: the op-case table's ops in PyTorch on the same device.

--cases is a JSON file written by bpr: [{"name", "torch": an expression over x0, x1, ...,
"inputs": [{"shape", "kind": normal|positive|mask|labels, "scale", "keep", "classes"}]}].
Times the forward and forward+backward (gradients for the "normal" inputs) as the median over
--reps calls, the device synchronized after each. Prints one JSON line:
{"peer": "pytorch", "version": ..., "cases": {name: {"fwd_ms", "fwdbwd_ms"}}}."""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F  # noqa: F401 (the expressions use F)


def make(spec, dev):
    xs = []
    for i in spec:
        shape = i["shape"]
        if i["kind"] == "mask":
            x = (torch.rand(shape, device=dev) < i["keep"]).float()
        elif i["kind"] == "labels":
            x = torch.randint(0, i["classes"], shape, device=dev)
        else:
            x = torch.randn(shape, device=dev) * i["scale"]
            if i["kind"] == "positive":
                x = x.abs() + 0.5
            else:
                x.requires_grad_(True)
        xs.append(x)
    return xs


def median_ms(fn, reps, sync):
    fn()
    sync()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        t.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(1)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = {}
    for case in json.load(open(a.cases)):
        xs = make(case["inputs"], dev)
        env = {"torch": torch, "F": F, **{f"x{i}": x for i, x in enumerate(xs)}}
        expr = compile(case["torch"], case["name"], "eval")

        def fwd():
            with torch.no_grad():
                eval(expr, env)

        def both():
            for x in xs:
                x.grad = None
            y = eval(expr, env)
            y.backward(torch.ones_like(y))

        out[case["name"]] = {"fwd_ms": median_ms(fwd, a.reps, sync), "fwdbwd_ms": median_ms(both, a.reps, sync)}
    print(json.dumps({"peer": "pytorch", "version": f"torch {torch.__version__} on {a.device}", "cases": out}))


if __name__ == "__main__":
    main()
