#!/usr/bin/env bash
# The one command for a GPU machine: parity tests (and a compute-sanitizer subset), kernel
# benchmarks, the VGG16 training step against PyTorch on the same GPU, and a short real
# training run on CIFAR-10 — one report, text and JSON, under $OUT (default ./gpu-report).
#   usage: scripts/gpu-check.sh [--bundle DIR | --bin DIR] [--allow-no-gpu]
#     --bundle DIR  binaries packed by scripts/gpu-bundle.sh (default: gpu-bundle/ if present)
#     --bin DIR     a build folder holding bpr and tests/bpr_gpu_tests (or both at its top)
#     (neither)     builds here with CMake (needs bpr's build dependencies on this machine)
#     --allow-no-gpu  run what can run without a GPU (to check this script on a CPU machine)
# Made for a machine with one H100/H200, the CUDA toolkit and Python with PyTorch, but no
# network and no package installs: cuDNN/cuBLAS/cuSPARSE are looked up in the toolkit and
# in the nvidia-* Python packages. Every step has a time limit; the whole run fits 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-report}
BUNDLE="" BIN="" ALLOW_NO_GPU=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --allow-no-gpu) ALLOW_NO_GPU=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)"; exit 2 ;;
  esac
done
[ -z "$BUNDLE" ] && [ -z "$BIN" ] && [ -f gpu-bundle/bundle.tar.gz ] && BUNDLE=gpu-bundle
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bpr-gpu-check.XXXXXX)
STEPS="$OUT/steps.tsv"
: > "$STEPS"
T0=$(date +%s)
DEADLINE=$(( T0 + ${BPR_CHECK_SECONDS:-470} ))  # the whole run stays under 8 minutes

# step NAME LIMIT_S CMD...: runs CMD with a time limit (cut to what is left of the run's
# budget), output to $OUT/NAME.log; records NAME, status (pass / fail / skip: exit 77 /
# timeout / no-time: the budget was spent) and seconds.
step() {
  local name=$1 limit=$2; shift 2
  local t=$(date +%s) rc status left
  left=$(( DEADLINE - t ))
  if [ "$left" -lt 15 ]; then
    printf '%s\tno-time\t0\t-\n' "$name" >> "$STEPS"
    echo "== $name: skipped, the run's time budget is spent"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  case $rc in 0) status=pass ;; 77) status=skip ;; 124|137) status=timeout ;; *) status=fail ;; esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - t ))" "$rc" >> "$STEPS"
  tail -n 4 "$OUT/$name.log" | sed 's/^/   /'
  echo "   -> $status"
  return 0
}

# ---- the machine ----
{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 || echo "nvidia-smi: unavailable"
  nvcc --version 2>/dev/null | tail -1 || echo "nvcc: not on PATH"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' 2>&1
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"

# ---- CUDA libraries: toolkit first, then the nvidia-* Python packages ----
LIBDIRS=""
for d in "${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] && LIBDIRS="$LIBDIRS:$d"
done
PYLIBS=$(python3 - <<'PY' 2>/dev/null
import glob, os, sys
dirs = set()
for p in sys.path:
    for lib in glob.glob(os.path.join(p, "nvidia", "*", "lib")) + glob.glob(os.path.join(p, "nvidia", "cu*", "lib")):
        dirs.add(lib)
print(":".join(sorted(dirs)))
PY
)
[ -n "$PYLIBS" ] && LIBDIRS="$LIBDIRS:$PYLIBS"

# ---- binaries ----
if [ -n "$BUNDLE" ]; then
  tar -C "$WORK" -xzf "$BUNDLE/bundle.tar.gz"
  BPR=$WORK/bin/bpr GPU_TESTS=$WORK/bin/bpr_gpu_tests ZSTD=$WORK/bin/zstd
  LIBDIRS="$WORK/lib$LIBDIRS"
  ARCHIVE=${BPR_CIFAR_ARCHIVE:-$BUNDLE/cifar10-jpeg.tar.zst}
elif [ -n "$BIN" ]; then
  BPR=$BIN/bpr GPU_TESTS=$BIN/tests/bpr_gpu_tests
  [ -x "$GPU_TESTS" ] || GPU_TESTS=$BIN/bpr_gpu_tests
  ZSTD=$(command -v zstd || true)
else
  step build 420 bash -c "CUDACXX=\${CUDACXX:-nvcc} cmake -S . -B build/gpu-check -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBPR_NATIVE=OFF -DBPR_CUDA_ARCHS=90 && cmake --build build/gpu-check -j\$(nproc) --target bpr bpr_gpu_tests"
  BPR=build/gpu-check/bpr GPU_TESTS=build/gpu-check/tests/bpr_gpu_tests ZSTD=$(command -v zstd || true)
fi
ARCHIVE=${ARCHIVE:-${BPR_CIFAR_ARCHIVE:-../shared/data/cifar10-jpeg.tar.zst}}
export LD_LIBRARY_PATH="${LIBDIRS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$OUT/machine.txt"

# ---- what a bare machine lacks ----
step ldd 20 bash -c "for b in '$BPR' '$GPU_TESTS'; do echo \"\$b:\"; ldd \"\$b\"; done | tee /dev/stderr | \
  { ! grep -q 'not found'; }"
step info 60 "$BPR" info
HAVE_GPU=0
grep -qE "^backends:.*cuda" "$OUT/info.log" 2>/dev/null && HAVE_GPU=1
if [ "$HAVE_GPU" = 0 ] && [ "$ALLOW_NO_GPU" = 0 ]; then
  echo "gpu-check: no usable GPU (see $OUT/info.log); use --allow-no-gpu to run the CPU-side steps anyway"
  printf 'gpu\tfail\t0\t1\n' >> "$STEPS"
fi
DEV=cuda
[ "$HAVE_GPU" = 0 ] && DEV=cpu

# ---- correctness ----
step gpu_tests 240 "$GPU_TESTS"
SANITIZER=$(command -v compute-sanitizer || ls "${CUDA_HOME:-/usr/local/cuda}"/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "$SANITIZER" ] && [ "$HAVE_GPU" = 1 ]; then
  step memcheck 150 "$SANITIZER" --tool memcheck --error-exitcode 1 "$GPU_TESTS" \
    "-tc=gpu: top-k*,gpu: mask update*,gpu: magnitude*,gpu: fused*,gpu: max pooling*,gpu: batch norm*"
else
  printf 'memcheck\tskip\t0\t77\n' >> "$STEPS"
fi

# ---- performance (PyTorch on the same device is the peer) ----
PY=$(command -v python3)
step bench_kernels 150 "$BPR" bench kernels --device "$DEV" --json "$OUT/kernels.json" --python "$PY" \
  $([ "$DEV" = cpu ] && echo "--n 1000000 --reps 3")
step bench_step_fp32 150 "$BPR" bench train-step --device "$DEV" --batch 128 \
  $([ "$DEV" = cuda ] && echo "--steps 20 --warmup 5" || echo "--width 0.125 --steps 2") --masked 0.9 --python "$PY"
[ "$DEV" = cuda ] && step bench_step_tf32 120 "$BPR" bench train-step --device cuda --tf32 --batch 128 --steps 20 \
  --warmup 5 --python "$PY"

# ---- a short real training run: CIFAR-10 unpacked and packed here ----
if [ -f "$ARCHIVE" ] && [ -n "${ZSTD:-}" ]; then
  step cifar_prepare 120 bash -c "mkdir -p '$WORK/jpeg' && tar --use-compress-program='$ZSTD -d' -xf '$ARCHIVE' \
    -C '$WORK/jpeg' && '$BPR' data pack '$WORK/jpeg' '$WORK/cifar'"
  step cifar_train 180 "$BPR" train --device "$DEV" --data "cifar10:$WORK/cifar" --model vgg16 \
    $([ "$DEV" = cuda ] && echo "--width 1 --max-steps 300" || echo "--width 0.125 --max-steps 20") \
    --epochs 1 --lr 0.05 --batch 128 --log-every 50 --out "$WORK/run"
  cp "$WORK/run/summary.json" "$OUT/cifar_summary.json" 2>/dev/null
else
  printf 'cifar_train\tskip\t0\t77\n' >> "$STEPS"
  echo "   cifar: archive '$ARCHIVE' or zstd missing" >> "$OUT/machine.txt"
fi

# ---- the report ----
python3 - "$OUT" "$(( $(date +%s) - T0 ))" <<'PY'
import json, os, sys
out, total = sys.argv[1], int(sys.argv[2])
steps = [dict(zip(["step", "status", "seconds", "exit"], l.rstrip("\n").split("\t"))) for l in open(os.path.join(out, "steps.tsv"))]
def tail(name, n=12):
    p = os.path.join(out, name + ".log")
    return open(p, errors="replace").read().splitlines()[-n:] if os.path.exists(p) else []
rep = {"machine": open(os.path.join(out, "machine.txt")).read().splitlines(), "total_seconds": total, "steps": steps}
for extra in ["kernels.json", "cifar_summary.json"]:
    p = os.path.join(out, extra)
    if os.path.exists(p):
        rep[extra.split(".")[0]] = json.load(open(p))
for s in steps:
    s["tail"] = tail(s["step"])
json.dump(rep, open(os.path.join(out, "report.json"), "w"), indent=2)
with open(os.path.join(out, "report.txt"), "w") as f:
    f.write("bpr gpu-check report\n" + "\n".join(rep["machine"]) + f"\ntotal {total} s\n\n")
    for s in steps:
        f.write(f"{s['step']:<18} {s['status']:<8} {s['seconds']:>4} s\n")
    for s in steps:
        f.write(f"\n--- {s['step']} ({s['status']}) ---\n" + "\n".join(s["tail"]) + "\n")
print(open(os.path.join(out, "report.txt")).read())
PY
rm -rf "$WORK"
# exit status: failures or timeouts make it non-zero
! cut -f2 "$STEPS" | grep -qE '^(fail|timeout|no-time)$'
