#!/usr/bin/env bash
# bpr pipeline through the CLI, every preset shrunk to seconds on synthetic data: each must
# finish, print the matched comparison with its sign, and leave a complete, consistent run
# folder (summary keys for every configured arm, curve rows, plots); then a 2-seed study with
# a shared dense model, resumed; then the seed flags' errors.
#   pipeline_cli.sh BPR WORKDIR PROJECT_DIR
set -uo pipefail
BPR=$1; W=$2; P=$3
rm -rf "$W"; mkdir -p "$W"
source "$P/tests/cli_lib.sh"

TINY=(--set data.spec=synthetic --set data.train_size=256 --set data.test_size=100 --set model.name=vgg11
      --set model.width=0.0625 --set dense.epochs=1 --set dense.max_steps_per_epoch=3
      --set prune.oneshot_finetune.epochs=1 --set prune.oneshot_finetune.steps=2
      --set prune.iterative_finetune.epochs=1 --set prune.iterative_finetune.steps=2
      --set regrow.mini_finetune.epochs=1 --set regrow.mini_finetune.steps=2 --set regrow.rl.episodes=2
      --set regrow.ssim_batches=1 --set regrow.saliency_batches=2 --set final.epochs=1 --set final.steps=2)

# key = value of a TOML section's boolean, "false" when absent
flag() { awk -v sec="[$2]" -v key="$3" '
  /^\[/ { insec = ($1 == sec) } insec && $1 == key { print $3; exit }' "$1"; }

check_run() {  # check_run CONFIG OUTDIR CONSOLE_LOG [WHAT]
  local cfg=$1 out=$2 log=$3 what=${4:-$1}
  grep -qE "^done: start .*reports in" "$log" || { cat "$log"; fail "$what: no done line"; }
  grep -qE "matched comparison at [0-9.]+% sparsity, same final finetune: regrown [0-9.]+% vs one-way [0-9.]+%: regrown (AHEAD|BEHIND) by [0-9.]+ pp" "$log" \
    || { cat "$log"; fail "$what: the matched comparison line is missing"; }
  # regrowth gave weights back: the final sparsity is below the start's
  local line start fin
  line=$(grep -E "^one-way start: " "$log") || fail "$what: no summary line"
  start=$(sed -E 's/^one-way start: ([0-9.]+)% sparsity.*/\1/' <<< "$line")
  fin=$(sed -E 's/.*regrown \+ finetuned: ([0-9.]+)% sparsity.*/\1/' <<< "$line")
  awk -v s="$start" -v f="$fin" 'BEGIN { exit !(f < s && f > 0) }' || fail "$what: final sparsity $fin is not below the start's $start"
  grep -qE "^claim at [0-9.]+% sparsity, same final finetune: regrown [0-9.]+% vs one-way [0-9.]+%: (AHEAD|BEHIND) by [0-9.]+ pp" \
    "$log" || { tail -3 "$log"; fail "$what: no verdict line"; }
  grep -qE '"regrown_minus_oneway_pp": -?[0-9]' "$out/summary.json" || fail "$what: regrown_minus_oneway_pp is not a number"
  grep -q '"final_minus_start_pp_unequal_sparsity"' "$out/summary.json" || fail "$what: summary lacks the unequal-sparsity gain"
  local arm
  for arm in no_regrowth random_positions zero_init reference_init kaiming_init; do
    if [ "$(flag "$P/configs/$cfg.toml" baseline "$arm")" = true ]; then
      [ -f "$out/control_$arm.safetensors" ] || fail "$what: control $arm has no checkpoint"
      grep -qE "\"regrown_minus_${arm}_pp\": -?[0-9]" "$out/summary.json" || fail "$what: no regrown_minus_${arm}_pp"
      grep -qE "comparison at .* vs ${arm//_/ }" "$out/pipeline.log" || fail "$what: the $arm comparison is not logged"
    else
      [ ! -e "$out/control_$arm.json" ] || fail "$what: control $arm ran although it is off"
    fi
  done
  if [ "$(flag "$P/configs/$cfg.toml" baseline matched_iterative)" = true ]; then
    grep -qE '"regrown_minus_oneway_iterative_pp": -?[0-9]' "$out/summary.json" || fail "$what: no iterative arm"
  fi
  grep -qE '^final,0\.[0-9]+,' "$out/curve.csv" || fail "$what: curve.csv has no final row"
  grep -qE '^matched_oneshot,0\.[0-9]+,' "$out/curve.csv" || fail "$what: curve.csv has no matched row"
  grep -q '>dense<' "$out/accuracy_vs_sparsity.svg" || fail "$what: the accuracy plot has no dense line"
  grep -q 'one-way (same final finetune)' "$out/accuracy_vs_sparsity.svg" || fail "$what: the accuracy plot lacks the matched point"
  grep -q 'given back by regrowth' "$out/layer_density.svg" || fail "$what: the density plot does not mark regrown weights"
  grep -q '>matched one-way<' "$out/layer_density.svg" || fail "$what: the density plot lacks the one-way bars"
}

for cfg in demo quick paper paper-iterative iterative-cpu study-fmnist study-cifar10 resnet56 mobilenetv2; do
  extra=()
  case $cfg in
    paper-iterative|iterative-cpu)  # the tiny curve: 4 rounds of 60 % to 97.4 %, regrown toward 95 %
      extra=(--set prune.iterative_rounds=4 --set prune.iterative_amount=0.6 --set start.sparsity=0.974
             --set regrow.target_sparsity=0.95 --set regrow.iterations=2 --set 'regrow.rl.budget_fractions=[0.01,0.02]');;
    resnet56|mobilenetv2)  # the preset's own network, narrow: residual adds, option-A or 1x1 shortcuts, depthwise convs
      extra=(--set model.name=$cfg --set model.width=0.125);;
  esac
  "$BPR" pipeline --config "$P/configs/$cfg.toml" --out "$W/$cfg" "${TINY[@]}" "${extra[@]}" > "$W/$cfg.log" 2>&1 \
    || { cat "$W/$cfg.log"; fail "$cfg: exit $?"; }
  check_run "$cfg" "$W/$cfg" "$W/$cfg.log"
  tail -1 "$W/$cfg.log" | grep -q "^claim at " || { tail -3 "$W/$cfg.log"; fail "$cfg: the last line is not the verdict"; }
done
[ -f "$W/paper-iterative/regrow_iter_1.json" ] || fail "paper-iterative: no iterative regrowth round"

# a seed study: 2 seeds sharing the first seed's dense model, then resumed without rework
S=(pipeline --config "$P/configs/demo.toml" --out "$W/seeds" "${TINY[@]}" --seeds 2 --share-dense)
"$BPR" "${S[@]}" > "$W/seeds.log" 2>&1 || { cat "$W/seeds.log"; fail "seed study: exit $?"; }
for s in 42 43; do
  sed -n "/seed $s ->/,\$p" "$W/seeds.log" > "$W/seeds-$s.log"
  check_run demo "$W/seeds/seed-$s" "$W/seeds-$s.log" "demo seed $s"
done
cmp -s "$W/seeds/seed-42/dense.safetensors" "$W/seeds/seed-43/dense.safetensors" || fail "--share-dense: the dense models differ"
cmp -s "$W/seeds/seed-42/final.safetensors" "$W/seeds/seed-43/final.safetensors" && fail "the seeds' final models are identical"
grep -qE "^over 2 seeds at [0-9.]+% sparsity: regrown [0-9.]+ ± [0-9.]+% vs one-way [0-9.]+ ± [0-9.]+%: regrown - one-way = [-+][0-9.]+ pp \[[-+][0-9.]+, [-+][0-9.]+\]" \
  "$W/seeds.log" || { cat "$W/seeds.log"; fail "seed study: no paired line with its interval"; }
grep -qE '^\| one-way \| [0-9.]+ \| [0-9.]+ ± [0-9.]+ \| [-+][0-9.]+ pp \[' "$W/seeds/seeds.md" || fail "seeds.md lacks the one-way row"
grep -q '"ci95"' "$W/seeds/seeds.json" || fail "seeds.json lacks the intervals"
grep -q 'mean ± sd' "$W/seeds/accuracy_vs_sparsity.svg" || fail "the study's plot is missing"
cp "$W/seeds/seeds.json" "$W/seeds.before.json"
"$BPR" "${S[@]}" --resume > "$W/seeds2.log" 2>&1 || { cat "$W/seeds2.log"; fail "seed study resume: exit $?"; }
grep -q "step " "$W/seeds2.log" && { cat "$W/seeds2.log"; fail "the resumed study trained again"; }
cmp -s "$W/seeds/seeds.json" "$W/seeds.before.json" || fail "the resumed study reports differently"

expect_error "--share-dense needs --seeds" pipeline --config "$P/configs/demo.toml" --out "$W/x" --share-dense
expect_error "--seeds must be >= 1" pipeline --config "$P/configs/demo.toml" --out "$W/x" --seeds -2
echo PASS
