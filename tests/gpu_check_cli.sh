#!/usr/bin/env bash
# scripts/gpu-check.sh end to end on a machine without a GPU, on a short time budget:
# exactly three files come back (report.txt, report.json, logs.tar.gz), the report says
# there is no GPU and which steps need one, and steps cut by the budget are "not finished"
# or "not reached" (exit 3), never "fail" (checked with a budget too small to finish).
#   usage: gpu_check_cli.sh <repo root> <build dir> <out dir>
set -uo pipefail
ROOT=$1 BUILD=$2 OUT=$3
rm -rf "$OUT" && mkdir -p "$OUT"
OUT=$OUT BPR_CHECK_SECONDS=${BPR_CHECK_SECONDS:-75} "$ROOT/scripts/gpu-check.sh" --bin "$BUILD" --allow-no-gpu \
  > "$OUT.console" 2>&1
rc=$?
fail() { echo "FAIL: $*"; tail -n 40 "$OUT.console"; exit 1; }
[ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "exit status $rc (expected 0 or 3)"
files=$(cd "$OUT" && ls -A | sort | tr '\n' ' ')
[ "$files" = "logs.tar.gz report.json report.txt " ] || fail "files in OUT: $files"
grep -q "^GPU present: no" "$OUT/report.txt" || fail "report does not say that no GPU was present"
grep -qE "^gpu_tests +skip +[0-9]+ +yes" "$OUT/report.txt" || fail "gpu_tests is not a skipped needs-GPU step"
grep -qE "^memcheck +(skip|not-reached)" "$OUT/report.txt" || fail "memcheck did not come last as a skip"
! grep -qE "^[a-z_0-9]+ +fail " "$OUT/report.txt" || fail "a step failed: $(grep -E '^[a-z_0-9]+ +fail ' "$OUT/report.txt")"
# the listing first, then grep: `tar | grep -q` under pipefail fails whenever grep stops
# reading early and tar dies of SIGPIPE (a flaky failure under load before 2026-11-30)
listing=$(tar -tzf "$OUT/logs.tar.gz") || fail "logs.tar.gz is not a readable archive"
grep -q "logs/steps.tsv" <<< "$listing" || fail "logs.tar.gz lacks steps.tsv"
grep -q "logs/gpu_tests.log" <<< "$listing" || fail "logs.tar.gz lacks the parity suite's log"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['gpu_present'] is False and r['steps']" \
  "$OUT/report.json" || fail "report.json"
# a budget too small for the run: steps are "not-reached", the exit status says incomplete
# (3), not failed, and the three files still come back
rm -rf "$OUT" && mkdir -p "$OUT"
OUT=$OUT BPR_CHECK_SECONDS=22 "$ROOT/scripts/gpu-check.sh" --bin "$BUILD" --allow-no-gpu > "$OUT.console2" 2>&1
rc2=$?
[ "$rc2" = 3 ] || fail "short budget: exit status $rc2 (expected 3)"
grep -qE "^[a-z_0-9]+ +not-reached " "$OUT/report.txt" || fail "short budget: no step reported as not-reached"
! grep -qE "^[a-z_0-9]+ +fail " "$OUT/report.txt" || fail "short budget: a step reported as failed"
[ "$(cd "$OUT" && ls -A | wc -l)" = 3 ] || fail "short budget: files in OUT: $(ls -A "$OUT")"
echo "PASS (exit $rc, then $rc2 on a short budget)"
