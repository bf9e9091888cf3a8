#!/usr/bin/env bash
# Training step times, ours against the post's PyTorch code, side by side in
# one run: for each round and model, `trainer bench` on the CPU then
# `seed_gan.py`, never at once, on the same number of threads; medians after
# warm-up. Prints a table. Needs python3 with torch (pip install torch numpy).
#
#   trainer/bench-vs-pytorch.sh            3 rounds, 2 threads, batch 64
#   ROUNDS=5 THREADS=4 trainer/bench-vs-pytorch.sh
#   TRAINER=/path/to/an/older/trainer trainer/bench-vs-pytorch.sh   (another build)
#   BEFORE=/path/to/an/older/trainer trainer/bench-vs-pytorch.sh    (both builds,
#       alternated with PyTorch in each round: a before/after column)
#
# PyTorch's step is shown as it runs (its DataLoader included) and as compute
# alone (minus its median data time); ours slices batches from memory, so the
# second is the fair comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
threads=${THREADS:-2}
batch=${BATCH:-64}
peers=${PEERS_DIR:-$PWD/../shared/peers}
before=${BEFORE:-}
# shellcheck source=trainer/script-env.sh
source trainer/script-env.sh
python3 -c 'import torch' 2>/dev/null || { echo "needs torch: pip install torch numpy" >&2; exit 1; }

# Timed steps and warm-up per model: about a minute a round each.
steps() { case $1 in gan) echo 200 ;; pggan) echo 20 ;; esac; }
warmup() { case $1 in gan) echo 20 ;; pggan) echo 3 ;; esac; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

# ours TRAINER MODEL STEPS WARMUP: the median ms per step `trainer bench` prints.
ours() {
  RAYON_NUM_THREADS=$threads "$1" bench --backend cpu --models "$2" --batch-size "$batch" \
    --steps "$3" --warmup "$4" --data-dir "$MNIST_DIR" | awk '/median/ {print $3}'
}

for round in $(seq "$rounds"); do
  for model in gan pggan; do
    # trainer bench gives the conv model a fifth of --steps and a third of --warmup.
    s=$(steps $model); w=$(warmup $model)
    [ $model = pggan ] && { s=$((s * 5)); w=$((w * 3)); }
    if [ -n "$before" ]; then ours "$before" $model "$s" "$w" >>"$out/before-$model"; fi
    ours "$trainer" $model "$s" "$w" >>"$out/ours-$model"
    OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads python3 "$peers/seed_gan.py" --model $model \
      --threads "$threads" --batch-size "$batch" --max-steps $(($(steps $model) + $(warmup $model))) \
      --warmup "$(warmup $model)" --log-every 100000 --mnist-dir "$MNIST_DIR" --out "$out/peer" |
      sed -n 's/^RESULT //p' |
      python3 -c 'import json,sys; r=json.load(sys.stdin); m, d = r["ms_per_step_median"], r["data_ms_median"]; print(f"{m:.2f} {m - d:.2f}")' \
        >>"$out/torch-$model"
    echo "round $round/$rounds $model: ${before:+before $(tail -1 "$out/before-$model") ms, }ours $(tail -1 "$out/ours-$model") ms," \
      "PyTorch (as run, compute) $(tail -1 "$out/torch-$model") ms" >&2
  done
done

printf '\n%-14s %12s %16s %18s %14s %16s\n' model "ours ms" "PyTorch ms" "PyTorch compute" "ours/PyTorch" "ours/compute"
for model in gan pggan; do
  ours=$(median <"$out/ours-$model")
  run=$(cut -d' ' -f1 "$out/torch-$model" | median)
  compute=$(cut -d' ' -f2 "$out/torch-$model" | median)
  awk -v m=$model -v o="$ours" -v r="$run" -v c="$compute" \
    'BEGIN {printf "%-14s %12.1f %16.1f %18.1f %14.2f %16.2f\n", m, o, r, c, o / r, o / c}'
  if [ -n "$before" ]; then
    b=$(median <"$out/before-$model")
    awk -v m="$model, before" -v o="$b" -v r="$run" -v c="$compute" \
      'BEGIN {printf "%-14s %12.1f %16.1f %18.1f %14.2f %16.2f\n", m, o, r, c, o / r, o / c}'
  fi
done
echo "($rounds rounds alternated, medians; $threads threads each, batch $batch, $(nproc) cores${before:+; before: $before})"
