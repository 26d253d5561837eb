"""CPU seconds of concurrent `fdikp train` runs, sampled, so that runs sharing the cores can be
compared per CPU-hour rather than per wall-hour (issue 11's width study).

    .venv/bin/python -m benchmarks.run_cpu_time width05 width075 width1 [--every 30] [--out runs/cpu_samples.csv]

Every `--every` seconds, for each run folder runs/NAME, appends one row: the time, the summed
user + system CPU seconds of every process whose command line holds `runs/NAME` (the trainer
and its data-loader workers: loading is part of a step's cost), and the last step and wall
seconds of its train_log.csv. Runs until stopped. A process's CPU seconds restart when a run is
resumed in a new process; benchmarks.width_study adds what earlier sessions spent.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def run_cpu_seconds(run_dir: str) -> float:
    """User + system CPU seconds of all live processes with `run_dir` as one argument."""
    total = 0.0
    key = run_dir.encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if key not in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15 of stat)
    return total


def last_logged(run_dir: Path) -> tuple[str, str]:
    """(step, wall_s) of the last train_log.csv row, or empty strings."""
    try:
        last = (run_dir / "train_log.csv").read_text().strip().splitlines()[-1].split(",")
    except (OSError, IndexError):
        return "", ""
    return (last[0], last[-1]) if last[0].isdigit() else ("", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folder names under --root")
    parser.add_argument("--root", type=Path, default=Path("runs"))
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=Path("runs/cpu_samples.csv"))
    args = parser.parse_args()
    new = not args.out.exists()
    with args.out.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["time", "run", "cpu_s", "last_step", "wall_s"])
        while True:
            now = time.time()
            for name in args.runs:
                run_dir = args.root / name
                writer.writerow([f"{now:.0f}", name, f"{run_cpu_seconds(str(run_dir)):.1f}", *last_logged(run_dir)])
            handle.flush()
            time.sleep(args.every)


if __name__ == "__main__":
    main()
