#!/usr/bin/env python3
"""Prints one SHA-1 over every mask ('*_mask' tensors, name order) of a safetensors checkpoint.

usage: mask_hash.py CHECKPOINT   (two checkpoints with equal output have bitwise-equal masks)"""
import hashlib
import json
import struct
import sys

raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
h = hashlib.sha1()
for name, t in sorted(header.items()):
    if name.endswith("_mask"):
        h.update(name.encode())
        h.update(data[t["data_offsets"][0]:t["data_offsets"][1]])
print(h.hexdigest())
