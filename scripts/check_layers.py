#!/usr/bin/env python3
"""The layer graph of bpr, checked over every #include "..." line (ctest style.layers).

Each source file belongs to one component (by its path); a component may include headers of
itself and of the components below it, nothing else. The build links each layer only to the
layers below it (engine/CMakeLists.txt), so a call upward fails to link; this script catches the
header-only cases the linker cannot see. The same graph is drawn in docs/architecture.md.
usage: scripts/check_layers.py [repo root]   (exit 1 and one line per violation)
       scripts/check_layers.py --self-test  (the checker catches the leaks it was made for)"""
import os
import re
import subprocess
import sys

# component -> the components it may include directly (its own included implicitly)
ALLOWED = {
    "core": [],
    "kernels": ["core"],
    "ops": ["core"],
    "cpu": ["core", "kernels"],
    "cuda": ["core", "kernels"],
    "backends": ["core", "cpu", "cuda"],
    "nn": ["core", "ops"],
    "io": ["core", "ops", "nn"],
    "data": ["core"],
    "dist": ["core"],
    "train": ["core", "ops", "nn", "io", "data", "dist"],
    "prune": ["core", "ops", "nn", "io", "data", "train", "dist"],
    "models": ["core", "ops", "nn", "io"],
    "apps": None,   # anything
    "tests": None,  # anything
}
CORE_FILES = {"dtype", "device", "allocator", "tensor", "rng", "autograd", "backend", "profiler", "interrupt", "files",
              "error", "hd", "conv_geom", "csr", "selection", "elementwise_math", "optim_math", "op_kinds", "enum_names"}


def component(path):
    parts = path.split("/")
    top = parts[0]
    if top == "engine":
        if len(parts) == 2:
            stem = os.path.splitext(parts[1])[0]
            if stem in CORE_FILES:
                return "core"
            if stem == "backends":
                return "backends"
            return None
        sub = parts[1]
        return {"optim": "nn"}.get(sub, sub)
    return {"kernels": "kernels", "data": "data", "models": "models", "apps": "apps", "tests": "tests"}.get(top)


def violations(f, lines):
    """The layer violations of file `f` (its path) with the given source lines."""
    me = component(f)
    if me is None:
        return [f"{f}: belongs to no component (add it to scripts/check_layers.py)"]
    allowed, bad = ALLOWED[me], []
    for n, line in enumerate(lines, 1):
        m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
        if not m or allowed is None:
            continue
        target = component(m.group(1))
        if target is None or (target != me and target not in allowed):
            bad.append(f"{f}:{n}: {me} includes {m.group(1)} ({target or 'unknown'}); {me} may include "
                       f"{', '.join(allowed) or 'only itself'}")
    return bad


def self_test():
    """The checker must catch the leaks this graph was made to stop."""
    leaks = [("data/loader.cpp", '#include "engine/cuda/cuda_runtime.h"'),
             ("data/loader.h", '#include "engine/train/device_batches.h"'),
             ("engine/cpu/prune_kernels.cpp", '#include "engine/prune/criteria.h"'),
             ("engine/backend.cpp", '#include "engine/cpu/backend_cpu.h"'),
             ("engine/profiler.h", '#include "engine/cuda/cuda_runtime.h"'),
             ("engine/prune/pipeline.cpp", '#include "engine/cuda/cuda_runtime.h"'),
             ("kernels/scoring.cu", '#include "engine/cuda/context.h"')]
    fine = [("engine/train/trainer.cpp", '#include "data/batch.h"'), ("apps/main.cpp", '#include "engine/cuda/check.h"'),
            ("engine/cuda/upload.cu", '#include "kernels/launch.cuh"')]
    ok = all(violations(f, [line]) for f, line in leaks) and not any(violations(f, [line]) for f, line in fine)
    print("check_layers self-test:", "ok" if ok else "FAILED")
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    files = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    sources = [f for f in files if re.search(r"\.(h|hpp|cpp|cu|cuh)$", f)]
    bad = []
    for f in sorted(sources):
        bad += violations(f, open(os.path.join(root, f), errors="replace").read().splitlines())
    for b in bad:
        print(b)
    print(f"check_layers: {len(bad)} violation(s)" if bad else f"check_layers: ok ({len(sources)} files)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
