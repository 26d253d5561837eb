# Sourced by run.sh and converge.sh (on the GPU machine): how many steps fit into what is left.
# fit_steps PROBE_DIR LEFT_S: seconds per step from the probe run's last logged window (the first
# holds the warm-up), and the steps that fit into LEFT_S with 10 % to spare (at least 20).
fit_steps() {
  local per_step
  per_step=$(python3 -c "import csv; r=list(csv.DictReader(open('$1/train_log.csv'))); print(1/float(r[-1]['it_per_s']))")
  echo "probe: $per_step s/step; $2 s left" >&2
  python3 -c "print(max(20, int($2 / $per_step / 1.1)))"
}
