# cli_lib.sh — shared by the CLI test scripts (sourced after BPR and W are set):
#   fail MESSAGE...             print FAIL and exit 1
#   expect_error REGEX ARGS...  `bpr ARGS` must exit 1 with a "bpr: error:" line matching REGEX
fail() { echo "FAIL: $*"; exit 1; }
expect_error() {
  local re=$1; shift
  "$BPR" "$@" > "$W/out.txt" 2>&1
  local rc=$?
  [ "$rc" = 1 ] || { cat "$W/out.txt"; fail "'$*' exited $rc, expected 1"; }
  grep -qE "bpr: error: .*$re" "$W/out.txt" || { cat "$W/out.txt"; fail "'$*' did not say: $re"; }
}
