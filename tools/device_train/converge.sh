#!/bin/bash
# Issue 23's converging recipe (tools/recipes/converge.toml) in one call on a borrowed GPU; runs
# THERE, from the repository root:
#   device run: command "bash tools/device_train/converge.sh", carry ["pack"], timeout_s 580
# (make the pack first: .venv/bin/python tools/device_train/pack.py [--init WEIGHTS]).
#
# The CPU run's recipe (registered real pairs 0.8 + in-focus identity pairs 0.2, Charbonnier +
# FFT 0.2, 256² crops, lr 5e-5, cosine to 1e-6, EMA 0.999, gate lr x20) with its 2 x 4
# accumulated crops as one batch of 8, and as many steps as fit into BUDGET_S after a 30-step
# probe (warm-up: the first 5 %). Returns in $OUT the EMA weights (fdikp_gpu.safetensors, fp16),
# train_log.csv and log.txt; score them on the CPU machine (fdikp evaluate on the 18 val pairs,
# python -m benchmarks.radius_bands).
# Environment: MODEL (a --model-config file; default tools/recipes/blur_aware_model.json, "none":
# the shipped form; e.g. '{"dilation_from_state": true, ...}' for option ii), SCENES (train on the
# first N pairs in name order: the scene-count study, 19 vs 38; default all), BUDGET_S (480),
# BATCH (8), WORKERS (14), DEVICE (cuda); a CPU dry run: DEVICE=cpu BATCH=1 WORKERS=0 CROP=64.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/fdikp_out}; mkdir -p "$OUT"
MODEL=${MODEL:-tools/recipes/blur_aware_model.json}; SCENES=${SCENES:-0}; BUDGET_S=${BUDGET_S:-480}
BATCH=${BATCH:-8}; WORKERS=${WORKERS:-14}; DEVICE=${DEVICE:-cuda}; CROP=${CROP:-256}; PACK=${PACK:-pack/train}
INIT=pack/init.safetensors; [ -f "$INIT" ] || INIT=weights/fdikp_default.safetensors
[ -d "$PACK/source" ] || { echo "converge.sh: no $PACK/source (make it with tools/device_train/pack.py, carry pack)"; exit 2; }
start=$(date +%s)
rm -rf /tmp/fdikp_probe /tmp/fdikp_run  # a warm machine may hold an earlier call's folders
(nvidia-smi -L || true) 2>&1 | tee "$OUT/log.txt"
train_root=$PACK
if [ "$SCENES" -gt 0 ]; then  # the first N pairs, linked into a folder of their own
  train_root=/tmp/fdikp_scenes; rm -rf "$train_root"; mkdir -p "$train_root/source" "$train_root/target"
  for f in $(ls "$PACK/source" | sort | head -n "$SCENES"); do
    ln -s "$PWD/$PACK/source/$f" "$train_root/source/$f"; ln -s "$PWD/$PACK/target/$f" "$train_root/target/$f"
  done
fi
echo "train pairs: $(ls "$train_root/source" | wc -l) from $train_root; model: $MODEL; init: $INIT" | tee -a "$OUT/log.txt"
model_args=(); [ "$MODEL" = none ] || model_args=(--model-config "$MODEL")
recipe=(--config tools/recipes/converge.toml --init-weights "$INIT" "${model_args[@]}" --no-lpips --precision bf16
        --device "$DEVICE" --workers "$WORKERS" --data-root "$train_root" --sharp-dir "$train_root/target"
        --set stages.0.batch_size="$BATCH" --set stages.0.accumulate=1 --set stages.0.crop="$CROP"
        --val-every 1000000 --log-every 10)
python3 -m fdikp_cli train "${recipe[@]}" -o /tmp/fdikp_probe --set stages.0.steps=30 --set stages.0.warmup_steps=3 \
  --checkpoint-every 1000 2>&1 | tail -3 | tee -a "$OUT/log.txt"
[ -f /tmp/fdikp_probe/train_log.csv ] || { echo "converge.sh: the probe run failed (see above)" | tee -a "$OUT/log.txt"; exit 1; }
left=$(( BUDGET_S - ($(date +%s) - start) - 60 ))  # 60 s: start-up, export
source tools/device_train/probe.sh
steps=$(fit_steps /tmp/fdikp_probe "$left" 2>>"$OUT/log.txt")
echo "$steps steps, warm-up $((steps / 20))" | tee -a "$OUT/log.txt"
timeout -s INT -k 30 "$left" python3 -m fdikp_cli train "${recipe[@]}" -o /tmp/fdikp_run --set stages.0.steps="$steps" \
  --set stages.0.warmup_steps="$((steps / 20))" --checkpoint-every 200 2>&1 | tail -25 | tee -a "$OUT/log.txt"
python3 -m fdikp_cli export /tmp/fdikp_run -o "$OUT/fdikp_gpu.safetensors" --which ema --fp16 --overwrite 2>&1 | tee -a "$OUT/log.txt"
cp /tmp/fdikp_run/train_log.csv "$OUT/" 2>/dev/null
echo "done in $(( $(date +%s) - start )) s" | tee -a "$OUT/log.txt"
