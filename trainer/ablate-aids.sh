#!/usr/bin/env bash
# The paper's training aids, each on and off, on short progressive runs of
# the conv model that stop once 16x16 has trained (labelled so in the
# README): 4x4, then 8x8 and 16x16 each faded in and trained. Every run
# starts from the same weights (seed 0) and sees the same batches; the
# trainer measures FID, IS and coverage on 10,000 samples at the end of each
# phase. Prints one row per variant: the matched FID at the end of 16x16's
# fade-in and of its training, the rest at the end, and the time.
#
#   trainer/ablate-aids.sh                   every variant, 10,000 images per phase
#   PHASE=5000 trainer/ablate-aids.sh base minibatch-stddev   (some, shorter)
#   RUNS=/tmp/aids trainer/ablate-aids.sh    (where the run folders go)
#
# Run folders that exist are reported, not trained again.
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${PHASE:-10000}
runs=${RUNS:-runs/aids}
batch=64
# shellcheck source=trainer/script-env.sh
source trainer/script-env.sh

# The flags of each variant, on top of the stable recipe.
flags() {
  case $1 in
    base) echo "" ;;
    minibatch-stddev) echo "--minibatch-stddev" ;;
    equalized-lr) echo "--equalized-lr" ;;
    equalized-lr-5e-3) echo "--equalized-lr --lr 5e-3" ;;
    hinge) echo "--loss hinge" ;;
    all) echo "--minibatch-stddev --equalized-lr --lr 5e-3 --loss hinge" ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(base minibatch-stddev equalized-lr equalized-lr-5e-3 hinge all)

# 16x16 has trained after 5 phases: 4x4, then fade-in and training of 8x8 and 16x16.
steps=$(( (5 * phase + batch - 1) / batch ))
mkdir -p "$runs"
for v in "${variants[@]}"; do
  dir=$runs/$v
  [ -f "$dir/metrics.csv" ] && continue
  start=$(date +%s)
  # shellcheck disable=SC2046
  "$trainer" train --model pggan --schedule progressive --fade-images "$phase" --stable-images "$phase" \
    --max-steps "$steps" --eval-every 1 --backend cpu --no-export --data-dir "$MNIST_DIR" \
    --run-dir "$dir" $(flags "$v") > "$dir.log" 2>&1
  echo $(( $(date +%s) - start )) > "$dir/seconds"
done

printf '| variant | flags | matched FID, 16x16 faded in | matched FID, 16x16 trained | FID | IS | digits >= 5 %% | seconds |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
for v in "${variants[@]}"; do
  dir=$runs/$v
  # The last two rows of metrics.csv (the ends of 16x16's fade-in and of its
  # training): step,epoch,fid,is,coverage,collapsed,d0..d9,side,fid_matched
  tail -n 2 "$dir/metrics.csv" | awk -F, -v v="$v" -v f="$(flags "$v")" -v s="$(cat "$dir/seconds" 2>/dev/null || echo '?')" \
    'NR == 1 { faded = $18 }
     NR == 2 { printf "| %s | %s | %.1f | %.1f | %.1f | %.2f | %d/10 | %s |\n", v, (f == "" ? "-" : f), faded, $18, $3, $4, $5, s }'
done
