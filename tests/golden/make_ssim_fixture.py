#!/usr/bin/env python3
"""Reference SSIM values from scikit-image for tests/test_prune.cpp (pip install scikit-image).

    python3 tests/golden/make_ssim_fixture.py > tests/fixtures/ssim.json

Each case holds two maps in [0, 1] and skimage.metrics.structural_similarity with the paper
code's call: data_range=1, win_size=min(7, H, W) rounded down to odd, all other defaults.
"""
import json

import numpy as np
import skimage
from skimage.metrics import structural_similarity

rng = np.random.default_rng(7)
cases = []
for h, w in [(32, 32), (16, 16), (8, 8), (6, 6), (5, 7), (4, 4), (3, 3)]:
    x = rng.random((h, w))
    y = np.clip(x + 0.3 * rng.standard_normal((h, w)), 0, 1)
    win = min(7, h, w)
    if win % 2 == 0:
        win -= 1
    cases.append({"h": h, "w": w, "win": win, "x": x.ravel().tolist(), "y": y.ravel().tolist(),
                  "ssim": float(structural_similarity(x, y, data_range=1, win_size=win))})
print(json.dumps({"skimage": skimage.__version__, "cases": cases}))
