#!/usr/bin/env python3
"""Compares the f32/f64 model tensors (not the optimizer's) of two safetensors files (no numpy).

usage: compare_checkpoints.py A B RTOL
Prints the largest |a - b| / max|a| over all tensors (per tensor: scaled by that tensor's
largest magnitude) and exits 1 when it exceeds RTOL or the files hold different tensors."""
import array
import json
import struct
import sys


def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, h in header.items():
        if name == "__metadata__" or name.startswith("optim.") or h["dtype"] not in ("F32", "F64"):
            continue
        a = array.array("f" if h["dtype"] == "F32" else "d")
        a.frombytes(data[h["data_offsets"][0]:h["data_offsets"][1]])
        out[name] = a
    return out


def main():
    a, b, rtol = tensors(sys.argv[1]), tensors(sys.argv[2]), float(sys.argv[3])
    if a.keys() != b.keys():
        print("different tensors:", sorted(set(a) ^ set(b)))
        return 1
    worst, where = 0.0, ""
    for name in sorted(a):
        scale = max((abs(v) for v in a[name]), default=0.0) or 1.0
        d = max((abs(x - y) for x, y in zip(a[name], b[name])), default=0.0) / scale
        if d > worst:
            worst, where = d, name
    print(f"largest relative difference {worst:.3g} ({where}), tolerance {rtol:g}")
    return 0 if worst <= rtol else 1


if __name__ == "__main__":
    sys.exit(main())
