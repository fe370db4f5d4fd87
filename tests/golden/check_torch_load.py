#!/usr/bin/env python3
"""Loads a bpr checkpoint into the PyTorch definition of its model by name (strict), as a
PyTorch user would (docs/checkpoints.md), and checks what bpr promises about it:

    /usr/bin/python3 tests/golden/check_torch_load.py <checkpoint.safetensors> <model> <width> [classes]

- every model tensor loads with load_state_dict(strict=True) once the masks and the optimizer
  state are set aside: the names and shapes are PyTorch's;
- each mask holds only 0 and 1, and the weight is exactly zero wherever its mask is 0;
- the loaded model runs (eval mode) and gives finite logits.
Prints "torch load: ok ..." on success; exits 77 (skipped) when torch is not installed.
"""
import json
import os
import struct
import sys

try:
    import torch
except ImportError:
    print("torch load: skipped (no torch in this Python)")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from pytorch_models import build  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        lo, hi = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[lo:hi]), dtype=DTYPES[e["dtype"]]) if hi > lo else torch.empty(0)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def main():
    path, name, width = sys.argv[1], sys.argv[2], float(sys.argv[3])
    classes = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    sd = {k: v for k, v in read_safetensors(path).items() if not k.startswith("optim.")}
    masks = {k: sd.pop(k) for k in list(sd) if k.endswith("_mask")}
    model = build(name, width, classes)
    model.load_state_dict(sd, strict=True)
    pruned = 0
    for k, m in masks.items():
        w = sd[k[: -len("_mask")]]
        assert set(m.unique().tolist()) <= {0, 1}, f"{k}: values other than 0 and 1"
        assert (w[m == 0] == 0).all(), f"{k}: a pruned weight is not zero"
        pruned += int((m == 0).sum())
    with torch.no_grad():
        y = model.eval()(torch.randn(2, 3, 32, 32))
    assert torch.isfinite(y).all() and y.shape == (2, classes)
    print(f"torch load: ok ({len(sd)} tensors, {len(masks)} masks, {pruned} pruned weights, logits {tuple(y.shape)})")


if __name__ == "__main__":
    main()
