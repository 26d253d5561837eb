"""Run every benchmark in turn: `make bench` (CPU; each prints its own table).

    .venv/bin/python -m benchmarks.run_all
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = [
    ["benchmarks.bench_model"],
    ["benchmarks.bench_deblur", "--part", "speed"],
    ["benchmarks.bench_deblur", "--part", "memory"],
    ["benchmarks.bench_deblur", "--part", "tiling"],
    ["benchmarks.bench_deblur", "--part", "precision", "--threads", "1", "--repeats", "3"],
    ["benchmarks.bench_metrics"],
    ["benchmarks.bench_synth"],
    ["benchmarks.synth_realism"],
    ["benchmarks.bench_train"],
    ["benchmarks.bench_train_ranks", "--fp32-baseline"],
]


def main() -> None:
    failed = []
    for args in BENCHMARKS:
        print(f"\n=== python -m {' '.join(args)}", flush=True)
        if subprocess.run([sys.executable, "-m", *args]).returncode != 0:
            failed.append(" ".join(args))
    if failed:
        print("failed: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
