#!/usr/bin/env bash
# Runs that survive a crash, through the CLI on a small synthetic run:
#   1. SIGKILL at a random point mid-epoch, then --resume: the final checkpoint is bitwise
#      equal to an uninterrupted run's;
#   2. SIGKILL while a checkpoint is being written (held open by BPR_TEST_SLOW_WRITE_MS): the
#      previous checkpoint is intact and loadable, and the resumed run again ends bit-identical;
#   3. Ctrl-C (SIGINT): exit 130, the command that resumes, nothing partial; resume matches;
#   4. a write that fails (file-size limit: EFBIG, as a full disk would) leaves the previous
#      checkpoint untouched and no temp file; an unwritable --out fails before training;
#   5. a pipeline killed mid-phase and resumed ends with a bit-identical final model.
#   usage: crash_cli.sh <bpr-binary> <work-dir> <repo-root>
set -uo pipefail
BPR=$1 W=$2 ROOT=$3
rm -rf "$W" && mkdir -p "$W"
fail() { echo "FAIL: $*"; exit 1; }
args=(train --model vgg11 --width 0.125 --data synthetic --train-size 512 --test-size 64 --batch 32 --epochs 4
      --lr 0.05 --seed 3 --log-every 4)
epoch_of() {  # the 'epoch' recorded in a checkpoint's metadata
  python3 -c 'import json,struct,sys; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; print(json.loads(b[8:8+n])["__metadata__"]["epoch"])' "$1"
}
wait_for() {  # wait_for <glob>: up to 120 s
  for _ in $(seq 1 12000); do compgen -G "$1" > /dev/null && return 0; sleep 0.01; done
  fail "timed out waiting for $1"
}
# run_and_kill <dir> <signal> <after-glob> [env...]: starts the run, waits for <after-glob>, then
# a random 0-300 ms, and sends <signal>. Retries (up to 5 times) when the run had already ended.
run_and_kill() {
  local dir=$1 sig=$2 glob=$3; shift 3
  for attempt in 1 2 3 4 5; do
    rm -rf "$dir"
    env "$@" "$BPR" "${args[@]}" --out "$dir" > "$dir.log" 2>&1 &
    local pid=$!
    wait_for "$dir/$glob"
    sleep "0.$(printf '%03d' $((RANDOM % 300)))"
    if kill "-$sig" "$pid" 2> /dev/null; then
      wait "$pid"
      KILL_RC=$?
      [ "$(epoch_of "$dir/checkpoint.safetensors" 2> /dev/null || echo 0)" -lt 4 ] && return 0
    else
      wait "$pid"
    fi
  done
  fail "could not interrupt a run mid-way in 5 tries"
}

"$BPR" "${args[@]}" --out "$W/ref" > "$W/ref.log" 2>&1 || fail "reference run"

# 1. SIGKILL mid-epoch
run_and_kill "$W/k" KILL checkpoint.safetensors
"$BPR" "${args[@]}" --out "$W/k" --resume > "$W/k.resume.log" 2>&1 || fail "resume after SIGKILL"
cmp -s "$W/ref/checkpoint.safetensors" "$W/k/checkpoint.safetensors" || fail "SIGKILL + resume differs from the reference"

# 2. SIGKILL during a checkpoint write: the epoch-1 checkpoint survives
rm -rf "$W/w"
BPR_TEST_SLOW_WRITE_MS=2000 "$BPR" "${args[@]}" --out "$W/w" > "$W/w.log" 2>&1 &
pid=$!
wait_for "$W/w/checkpoint.safetensors"          # epoch 1 written
wait_for "$W/w/checkpoint.safetensors.tmp.*"    # epoch 2 being written, held before its rename
kill -KILL "$pid"; wait "$pid"
[ "$(epoch_of "$W/w/checkpoint.safetensors")" = 1 ] || fail "the checkpoint before the killed write is not epoch 1"
"$BPR" eval "$W/w/checkpoint.safetensors" > /dev/null 2>&1 || fail "the checkpoint before the killed write does not load"
"$BPR" "${args[@]}" --out "$W/w" --resume > "$W/w.resume.log" 2>&1 || fail "resume after a killed write"
grep -q "removed checkpoint.safetensors.tmp" "$W/w.resume.log" || fail "the stale temp file was not cleaned up"
cmp -s "$W/ref/checkpoint.safetensors" "$W/w/checkpoint.safetensors" || fail "killed write + resume differs"

# 3. Ctrl-C
run_and_kill "$W/i" INT checkpoint.safetensors
[ "$KILL_RC" = 130 ] || { cat "$W/i.log"; fail "SIGINT exit status $KILL_RC, expected 130"; }
grep -q "interrupted at epoch" "$W/i.log" && grep -q -- "--resume" "$W/i.log" || { cat "$W/i.log"; fail "SIGINT message"; }
! compgen -G "$W/i/*.tmp.*" > /dev/null || fail "SIGINT left a partial file"
"$BPR" "${args[@]}" --out "$W/i" --resume > "$W/i.resume.log" 2>&1 || fail "resume after SIGINT"
cmp -s "$W/ref/checkpoint.safetensors" "$W/i/checkpoint.safetensors" || fail "SIGINT + resume differs"

# 4. a failing write (over a file-size limit, as on a full disk) and an unwritable folder
rm -rf "$W/d"
"$BPR" "${args[@]}" --out "$W/d" --stop-after 1 > /dev/null 2>&1 || fail "first epoch for the write-failure test"
cp "$W/d/checkpoint.safetensors" "$W/good.safetensors"
(ulimit -f 64; "$BPR" "${args[@]}" --out "$W/d" --resume) > "$W/d.log" 2>&1
rc=$?
[ "$rc" = 1 ] || { cat "$W/d.log"; fail "a failed checkpoint write exited $rc, expected 1"; }
grep -qE "bpr: error: .*(File too large|No space left)" "$W/d.log" || { cat "$W/d.log"; fail "write failure message"; }
cmp -s "$W/good.safetensors" "$W/d/checkpoint.safetensors" || fail "a failed write changed the previous checkpoint"
! compgen -G "$W/d/*.tmp.*" > /dev/null || fail "a failed write left its temp file"
"$BPR" "${args[@]}" --out /dev/null/run > "$W/u.log" 2>&1
[ $? = 1 ] && grep -q "bpr: error: /dev/null/run: cannot create the run folder" "$W/u.log" &&
  ! grep -q "^epoch" "$W/u.log" || { cat "$W/u.log"; fail "unwritable --out"; }

# 5. a pipeline killed mid-phase, resumed
pipe=(pipeline --config "$ROOT/configs/demo.toml" --set data.spec=synthetic --set data.train_size=256
      --set data.test_size=100 --set model.name=vgg11 --set model.width=0.0625 --set dense.epochs=2
      --set dense.max_steps_per_epoch=4 --set prune.oneshot_finetune.epochs=1 --set prune.oneshot_finetune.steps=3
      --set regrow.ssim_batches=1 --set regrow.saliency_batches=2 --set final.epochs=1 --set final.steps=3 --quiet)
"$BPR" "${pipe[@]}" --out "$W/pref" > "$W/pref.log" 2>&1 || { tail "$W/pref.log"; fail "reference pipeline"; }
for attempt in 1 2 3 4 5; do
  rm -rf "$W/pk"
  "$BPR" "${pipe[@]}" --out "$W/pk" > "$W/pk.log" 2>&1 &
  pid=$!
  wait_for "$W/pk/dense.json"
  sleep "0.$(printf '%03d' $((RANDOM % 500)))"
  if kill -KILL "$pid" 2> /dev/null; then
    wait "$pid"
    [ ! -f "$W/pk/final.safetensors" ] && break
  else
    wait "$pid"
  fi
  [ "$attempt" = 5 ] && fail "could not interrupt the pipeline mid-way"
done
"$BPR" "${pipe[@]}" --out "$W/pk" --resume > "$W/pk.resume.log" 2>&1 || { tail "$W/pk.resume.log"; fail "pipeline resume"; }
cmp -s "$W/pref/final.safetensors" "$W/pk/final.safetensors" || fail "killed pipeline + resume differs"
echo PASS
