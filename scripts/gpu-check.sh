#!/usr/bin/env bash
# The one command for a GPU machine: parity tests, kernel benchmarks, the VGG16 training step
# against PyTorch on the same GPU, a short real CIFAR-10 training run, and last a
# compute-sanitizer memcheck subset. Leaves exactly three files in $OUT (default ./gpu-report):
#   report.txt   what ran, each step's status and time, the tail of each log
#   report.json  the same, plus the kernel benchmark and training-run figures
#   logs.tar.gz  every step's full log (doctest failure lines included), machine facts, JSON
#   usage: scripts/gpu-check.sh [--bundle DIR | --bin DIR] [--allow-no-gpu]
#     --bundle DIR  binaries packed by scripts/gpu-bundle.sh (default: gpu-bundle/ if present)
#     --bin DIR     a build folder holding bpr and tests/bpr_gpu_tests (or both at its top)
#     (neither)     builds here with CMake (needs bpr's build dependencies on this machine)
#     --allow-no-gpu  run what can run without a GPU (to check this script on a CPU machine)
# Time: the whole run ends within 8 minutes. Steps run in order of importance, each with its
# own limit cut to what is left of BPR_CHECK_SECONDS (default 420 s; setup counts against it
# too), and the report after them is bounded by 50 s of timeouts; a step cut by its limit is
# "not finished", one with no time left "not reached" — neither is a failure of the code.
# Exit status: 0 all passed or skipped, 1 a step failed, 3 nothing failed but some steps
# did not finish.
# Made for a machine with one H100/H200, the CUDA toolkit and Python with PyTorch, but no
# network and no package installs: cuDNN/cuBLAS/cuSPARSE are looked up in the toolkit and
# in the nvidia-* Python packages.
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
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)"; exit 2 ;;
  esac
done
[ -z "$BUNDLE" ] && [ -z "$BIN" ] && [ -f gpu-bundle/bundle.tar.gz ] && BUNDLE=gpu-bundle
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bpr-gpu-check.XXXXXX)
LOGS=$WORK/logs
mkdir -p "$LOGS"
STEPS="$LOGS/steps.tsv"
: > "$STEPS"
T0=$(date +%s)
BUDGET=${BPR_CHECK_SECONDS:-420}
DEADLINE=$(( T0 + BUDGET ))
KILL_AFTER=5

# record NAME STATUS SECONDS EXIT NEEDS_GPU NOTE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$STEPS"; }

# step NAME LIMIT_S NEEDS_GPU CMD...: runs CMD with a time limit cut to what is left of the
# budget (so it ends, kill included, before the deadline), output to logs/NAME.log. Status:
# pass / fail / skip (exit 77) / not-finished (its limit cut it) / not-reached (no time left).
step() {
  local name=$1 limit=$2 gpu=$3; shift 3
  local t left rc status
  t=$(date +%s)
  left=$(( DEADLINE - t - KILL_AFTER - 5 ))
  if [ "$left" -lt 10 ]; then
    record "$name" not-reached 0 - "$gpu" "the run's time budget was spent"
    echo "== $name: not reached (time budget spent)"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s): $*"
  timeout --kill-after=$KILL_AFTER "$limit" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  case $rc in 0) status=pass ;; 77) status=skip ;; 124|137) status=not-finished ;; *) status=fail ;; esac
  record "$name" "$status" "$(( $(date +%s) - t ))" "$rc" "$gpu" ""
  tail -n 4 "$LOGS/$name.log" | sed 's/^/   /'
  echo "   -> $status"
  return 0
}

# ---- the machine ----
{
  echo "date: $(date -u +%FT%TZ)"
  timeout 15 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 ||
    echo "nvidia-smi: unavailable"
  timeout 10 nvcc --version 2>/dev/null | tail -1 || echo "nvcc: not on PATH"
  timeout 30 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' 2>&1 | tail -1
} > "$LOGS/machine.txt"
cat "$LOGS/machine.txt"

# ---- CUDA libraries: toolkit first, then the nvidia-* Python packages ----
LIBDIRS=""
for d in "${CUDA_HOME:-/usr/local/cuda}/lib64" /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/lib/x86_64-linux-gnu; do
  [ -d "$d" ] && LIBDIRS="$LIBDIRS:$d"
done
PYLIBS=$(timeout 30 python3 - <<'PY' 2>/dev/null
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
  timeout 60 tar -C "$WORK" -xzf "$BUNDLE/bundle.tar.gz"
  BPR=$WORK/bin/bpr GPU_TESTS=$WORK/bin/bpr_gpu_tests ZSTD=$WORK/bin/zstd
  LIBDIRS="$WORK/lib$LIBDIRS"
  ARCHIVE=${BPR_CIFAR_ARCHIVE:-$BUNDLE/cifar10-jpeg.tar.zst}
elif [ -n "$BIN" ]; then
  BPR=$BIN/bpr GPU_TESTS=$BIN/tests/bpr_gpu_tests
  [ -x "$GPU_TESTS" ] || GPU_TESTS=$BIN/bpr_gpu_tests
  ZSTD=$(command -v zstd || true)
else
  step build 300 no bash -c "CUDACXX=\${CUDACXX:-nvcc} cmake -S . -B build/gpu-check -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBPR_NATIVE=OFF -DBPR_CUDA_ARCHS=native && cmake --build build/gpu-check -j\$(nproc) --target bpr bpr_gpu_tests"
  BPR=build/gpu-check/bpr GPU_TESTS=build/gpu-check/tests/bpr_gpu_tests ZSTD=$(command -v zstd || true)
fi
ARCHIVE=${ARCHIVE:-${BPR_CIFAR_ARCHIVE:-../shared/data/cifar10-jpeg.tar.zst}}
export LD_LIBRARY_PATH="${LIBDIRS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$LOGS/machine.txt"

# ---- what a bare machine lacks, and whether this build covers the GPU ----
step ldd 20 no bash -c "for b in '$BPR' '$GPU_TESTS'; do echo \"\$b:\"; ldd \"\$b\"; done | tee /dev/stderr | \
  { ! grep -q 'not found'; }"
step info 30 no bash -c "'$BPR' info && ! '$BPR' info | grep -q 'NOT SUPPORTED'"
HAVE_GPU=0
grep -qE "^backends:.*cuda" "$LOGS/info.log" 2>/dev/null && HAVE_GPU=1
if [ "$HAVE_GPU" = 0 ] && [ "$ALLOW_NO_GPU" = 0 ]; then
  echo "gpu-check: no usable GPU (see info in the logs); use --allow-no-gpu to run the CPU-side steps anyway"
  record gpu fail 0 1 yes "no usable GPU"
fi
DEV=cuda
[ "$HAVE_GPU" = 0 ] && DEV=cpu
needs_gpu() { # NAME NOTE: a GPU-only step on a machine without one
  record "$1" skip 0 77 yes "needs a GPU; none here"
  echo "== $1: skipped (needs a GPU)"
}

# ---- correctness: the whole parity suite (exit 77 = skipped without a GPU) ----
step gpu_tests 200 yes "$GPU_TESTS" --duration=true

# ---- performance (PyTorch on the same device is the peer) ----
PY=$(command -v python3 || echo python3)
if [ "$DEV" = cuda ]; then
  step bench_kernels 90 yes "$BPR" bench kernels --device cuda --json "$LOGS/kernels.json" --python "$PY"
  step bench_step_fp32 90 yes "$BPR" bench train-step --device cuda --batch 128 --steps 20 --warmup 5 --masked 0.9 \
    --python "$PY"
  step bench_step_tf32 60 yes "$BPR" bench train-step --device cuda --tf32 --batch 128 --steps 20 --warmup 5 \
    --python "$PY"
  # the sparse kernels (--sparse on; auto keeps GPUs dense until calibrated) vs dense masked, LAMP-98 %
  step bench_step_sparse 90 yes "$BPR" bench train-step --device cuda --batch 128 --steps 10 --warmup 3 \
    --sparsity 0.98 --sparse on --peer none
else  # the same commands on the CPU, small, to exercise the script and the binaries
  step bench_kernels 60 no "$BPR" bench kernels --device cpu --json "$LOGS/kernels.json" --python "$PY" --n 1000000 --reps 3
  step bench_step_fp32 60 no "$BPR" bench train-step --device cpu --batch 32 --width 0.125 --steps 2 --python "$PY"
  needs_gpu bench_step_tf32
  needs_gpu bench_step_sparse
fi

# ---- a short real training run: CIFAR-10 unpacked and packed here ----
if [ -f "$ARCHIVE" ] && [ -n "${ZSTD:-}" ]; then
  step cifar_prepare 90 no bash -c "mkdir -p '$WORK/jpeg' && tar --use-compress-program='$ZSTD -d' -xf '$ARCHIVE' \
    -C '$WORK/jpeg' && '$BPR' data pack '$WORK/jpeg' '$WORK/cifar'"
  step cifar_train 120 no "$BPR" train --device "$DEV" --data "cifar10:$WORK/cifar" --model vgg16 \
    $([ "$DEV" = cuda ] && echo "--width 1 --max-steps 300" || echo "--width 0.125 --max-steps 20") \
    --epochs 1 --lr 0.05 --batch 128 --log-every 50 --out "$WORK/run"
  cp "$WORK/run/summary.json" "$LOGS/cifar_summary.json" 2>/dev/null
else
  record cifar_train skip 0 77 no "archive '$ARCHIVE' or zstd missing"
fi

# ---- last: compute-sanitizer memcheck on a subset. Parity failures are the parity step's
# business (--no-exitcode); only sanitizer findings fail this step. ----
SANITIZER=$(command -v compute-sanitizer || true)
for c in "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer" /usr/local/cuda/compute-sanitizer/compute-sanitizer \
         "${CUDA_HOME:-/usr/local/cuda}/compute-sanitizer/compute-sanitizer"; do
  [ -z "$SANITIZER" ] && [ -x "$c" ] && SANITIZER=$c
done
if [ "$HAVE_GPU" = 0 ]; then
  needs_gpu memcheck
elif [ -z "$SANITIZER" ]; then
  record memcheck skip 0 77 yes "compute-sanitizer not found"
else
  step memcheck 90 yes "$SANITIZER" --tool memcheck --error-exitcode 1 "$GPU_TESTS" --no-exitcode=true \
    "-tc=gpu: top-k*,gpu: mask update*,gpu: magnitude*,gpu: fused*,gpu: max pooling*,gpu: batch norm*,gpu: correct*,gpu: fixed-order*,gpu: sparse*,gpu: CSR*"
  if grep -q "Device not supported" "$LOGS/memcheck.log" 2>/dev/null; then  # e.g. under gVisor
    sed -i '$d' "$STEPS"
    record memcheck skip 0 77 yes "compute-sanitizer: device not supported on this machine"
  fi
fi

# ---- the report: three files in $OUT ----
timeout 20 python3 - "$LOGS" "$OUT" "$(( $(date +%s) - T0 ))" "$HAVE_GPU" <<'PY'
import json, os, sys
logs, out, total, have_gpu = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
keys = ["step", "status", "seconds", "exit", "needs_gpu", "note"]
steps = [dict(zip(keys, l.rstrip("\n").split("\t"))) for l in open(os.path.join(logs, "steps.tsv"))]
def tail(name, n=12):
    p = os.path.join(logs, name + ".log")
    return open(p, errors="replace").read().splitlines()[-n:] if os.path.exists(p) else []
rep = {"machine": open(os.path.join(logs, "machine.txt")).read().splitlines(), "total_seconds": total,
       "gpu_present": have_gpu, "steps": steps}
for extra in ["kernels.json", "cifar_summary.json"]:
    p = os.path.join(logs, extra)
    if os.path.exists(p):
        try:
            rep[extra.split(".")[0]] = json.load(open(p))
        except ValueError:
            pass
for s in steps:
    s["tail"] = tail(s["step"])
json.dump(rep, open(os.path.join(out, "report.json"), "w"), indent=2)
with open(os.path.join(out, "report.txt"), "w") as f:
    f.write("bpr gpu-check report\n" + "\n".join(rep["machine"]) + f"\ntotal {total} s\n")
    f.write(f"GPU present: {'yes' if have_gpu else 'no — steps marked needs-GPU were skipped or ran on the CPU'}\n\n")
    f.write(f"{'step':<18} {'status':<13} {'secs':>5}  {'needs GPU':<9} note\n")
    for s in steps:
        f.write(f"{s['step']:<18} {s['status']:<13} {s['seconds']:>5}  {s['needs_gpu']:<9} {s['note']}\n")
    for s in steps:
        f.write(f"\n--- {s['step']} ({s['status']}) ---\n" + "\n".join(s["tail"]) + "\n")
print(open(os.path.join(out, "report.txt")).read())
PY
timeout 20 tar -C "$WORK" -czf "$OUT/logs.tar.gz" logs
rm -rf "$WORK"
# exit status: 1 when a step failed, 3 when some did not finish, 0 otherwise
timeout 10 python3 - "$OUT/report.json" <<'PY'
import json, sys
st = [s["status"] for s in json.load(open(sys.argv[1]))["steps"]]
sys.exit(1 if "fail" in st else 3 if ("not-finished" in st or "not-reached" in st) else 0)
PY
