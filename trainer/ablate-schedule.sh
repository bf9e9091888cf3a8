#!/usr/bin/env bash
# How long each phase of progressive growing should be: runs of the conv
# model that grow with different images per fade-in and per stabilisation
# (the same number for both), all for the same number of images (2 epochs,
# 120,000), from the same weights (seed 0) and batches. The trainer measures
# FID, IS and coverage on 10,000 samples at the end of every phase and epoch.
# Prints one row per phase length: when 32x32 had faded in, the matched FID
# after 1 and 2 epochs, the rest at the end, and the time.
#
#   trainer/ablate-schedule.sh                  5,000, 10,000 and 15,000 images per phase
#   trainer/ablate-schedule.sh 5000 30000       (others)
#   RUNS=/tmp/schedule EPOCHS=3 trainer/ablate-schedule.sh
#
# Run folders that exist are reported, not trained again.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-runs/schedule}
epochs=${EPOCHS:-2}
# shellcheck source=trainer/script-env.sh
source trainer/script-env.sh
phases=("$@")
[ ${#phases[@]} -gt 0 ] || phases=(5000 10000 15000)

mkdir -p "$runs"
for p in "${phases[@]}"; do
  dir=$runs/phase-$p
  [ -f "$dir/seconds" ] && continue
  start=$(date +%s)
  "$trainer" train --model pggan --schedule progressive --fade-images "$p" --stable-images "$p" \
    --epochs "$epochs" --eval-every 1 --backend cpu --no-export --data-dir "$MNIST_DIR" \
    --run-dir "$dir" > "$dir.log" 2>&1
  echo $(( $(date +%s) - start )) > "$dir/seconds"
done

printf '| images per phase | 32x32 faded in at image | matched FID, epoch 1 | matched FID, epoch %s | FID | IS | digits >= 5 %% | seconds |\n' "$epochs"
printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for p in "${phases[@]}"; do
  dir=$runs/phase-$p
  # metrics.csv: step,epoch,fid,is,coverage,collapsed,d0..d9,side,fid_matched;
  # epoch ends are the rows whose epoch column is whole.
  awk -F, -v p="$p" -v s="$(cat "$dir/seconds" 2>/dev/null || echo '?')" \
    'NR > 1 && $2 == 1 { first = $18 }
     NR > 1 { last = $0 }
     END { split(last, f, ","); printf "| %d | %d | %s | %.1f | %.1f | %.2f | %d/10 | %s |\n",
           p, 6 * p, (first == "" ? "-" : sprintf("%.1f", first)), f[18], f[3], f[4], f[5], s }' "$dir/metrics.csv"
done
