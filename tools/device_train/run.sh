#!/bin/bash
# One FDIKP training call on a borrowed GPU machine; runs THERE, from the repository root:
#   device run: command "bash tools/device_train/run.sh", carry ["pack"], timeout_s 580
# (make the pack first: .venv/bin/python tools/device_train/pack.py [--init WEIGHTS]).
#
# Starts from pack/init.safetensors (else the shipped weights), measures the step time in a
# 30-step probe, then fits the recipe of the shipped CPU round 6 (registered + tone-matched real
# pairs, each crop re-registered, 320 px crops, SWA over the last tenth; DATASET can add the
# in-domain synthetic share of rounds 4-5: "pairs:0.6,synthetic@pack/train/target:0.4", or round
# 7b's in-focus identity pairs: "pairs:0.8,sharp@pack/train/target:0.2"; PIXEL_LOSS=charbonnier
# is round 7a's smooth L1 in place of the MSE) into
# what is left of BUDGET_S seconds, with the batch and learning rate of the paper (16, 2e-4).
# Returns in $OUT: fdikp_gpu.safetensors (fp16: under the 16 MiB a returned file may have),
# train_log.csv, log.txt. Validate it on the CPU machine (fdikp evaluate, benchmarks.gain_bands);
# the next call continues from it with --init. Environment: BUDGET_S (480), BATCH (16),
# LR (2e-4), WORKERS (14), DATASET (pairs), PIXEL_LOSS (mse | charbonnier), DEVICE (cuda), CROP (320;
# a CPU dry run: DEVICE=cpu CROP=64 BATCH=1 WORKERS=0).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/fdikp_out}; mkdir -p "$OUT"
DATASET=${DATASET:-pairs}; BUDGET_S=${BUDGET_S:-480}; CROP=${CROP:-320}; BATCH=${BATCH:-16}; LR=${LR:-2e-4}; WORKERS=${WORKERS:-14}; DEVICE=${DEVICE:-cuda}
PIXEL_LOSS=${PIXEL_LOSS:-mse}
case "$PIXEL_LOSS" in
  mse) loss_args=() ;;
  charbonnier) loss_args=(--set loss.mse=0 --set loss.charbonnier=1) ;;
  *) echo "run.sh: PIXEL_LOSS must be mse or charbonnier, not $PIXEL_LOSS"; exit 2 ;;
esac
INIT=pack/init.safetensors; [ -f "$INIT" ] || INIT=weights/fdikp_default.safetensors
[ -d pack/train/source ] || { echo "run.sh: no pack/train (make it with tools/device_train/pack.py, carry pack)"; exit 2; }
start=$(date +%s)
(nvidia-smi -L || true) 2>&1 | tee "$OUT/log.txt"
recipe=(--dataset "$DATASET" --data-root pack/train --sharp-dir pack/train/target
        --init-weights "$INIT" --crop "$CROP,$CROP" --batch-size "$BATCH,$BATCH" --lr "$LR" --no-lpips --precision bf16
        --device "$DEVICE" --workers "$WORKERS" --set data.pair_align=true --set data.pair_tone=true
        --set data.pair_align_crops=true --set 'data.pair_scale=[0.5,1.0]' --set stages.1.swa_every=10
        --val-every 1000000 --log-every 10 "${loss_args[@]}")
python3 -m fdikp_cli train "${recipe[@]}" -o /tmp/fdikp_probe --stage-steps 30,3 --max-steps 30 \
  --checkpoint-every 1000 2>&1 | tail -3 | tee -a "$OUT/log.txt"
left=$(( BUDGET_S - ($(date +%s) - start) - 60 ))  # 60 s: start-up, SWA, export
source tools/device_train/probe.sh
steps=$(fit_steps /tmp/fdikp_probe "$left" 2>>"$OUT/log.txt")
echo "$steps steps (SWA over the last tenth)" | tee -a "$OUT/log.txt"
timeout -s INT -k 30 "$left" python3 -m fdikp_cli train "${recipe[@]}" -o /tmp/fdikp_run \
  --stage-steps "$((steps * 9 / 10)),$((steps / 10))" --checkpoint-every 200 2>&1 | tail -25 | tee -a "$OUT/log.txt"
which=swa; [ -f /tmp/fdikp_run/swa.safetensors ] || which=last
python3 -m fdikp_cli export /tmp/fdikp_run -o "$OUT/fdikp_gpu.safetensors" --which "$which" --fp16 --overwrite 2>&1 | tee -a "$OUT/log.txt"
cp /tmp/fdikp_run/train_log.csv "$OUT/" 2>/dev/null
echo "done in $(( $(date +%s) - start )) s" | tee -a "$OUT/log.txt"
