"""Metric benchmark: time and peak memory of PSNR / SSIM / MAE (float64) and LPIPS (float32)
on one full-resolution pair, and of `evaluate_folders` over the 8 shared validation pairs.

    FDIKP_LPIPS_DIR=../shared/weights/lpips .venv/bin/python -m benchmarks.bench_metrics [--threads 1] [--repeats 3]

Each measurement runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its
own; the figure reported is the peak during the measurement minus the resident size before it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared"))
VAL = SHARED / "data" / "dpdd-canon-iso" / "val"


def _measure(what: str, threads: int, repeats: int) -> dict[str, float]:
    import resource
    import time

    import torch

    torch.set_num_threads(threads)
    from fdikp_cli.evaluation import EvaluationOptions, evaluate_folders, read_image
    from fdikp_cli.metrics import mae, psnr, ssim
    from fdikp_cli.metrics.lpips import load_lpips

    name = sorted(p.name for p in (VAL / "source").iterdir())[0]
    source, target = read_image(VAL / "source" / name), read_image(VAL / "target" / name)  # (1, 3, 683, 1024)
    lpips = load_lpips(download=False) if what == "lpips" else None
    runs = {
        "psnr": lambda: psnr(source, target),
        "ssim": lambda: ssim(source, target),
        "mae": lambda: mae(source, target),
        "lpips": lambda: lpips(source.float(), target.float()),  # type: ignore[misc]
        "evaluate_folders": lambda: evaluate_folders(
            VAL / "source", VAL / "target", options=EvaluationOptions(device="cpu", lpips_download=False)
        ),
    }
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            runs[what]()
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds_min": min(times), "peak_extra_mib": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure(args.one, args.threads, args.repeats)))
        return
    if not VAL.is_dir():
        sys.exit(f"needs {VAL}")
    print(f"CPU, {args.threads} thread(s), one 1024x683 DPDD pair (float64; LPIPS float32); best of {args.repeats}")
    for what in ("psnr", "ssim", "mae", "lpips", "evaluate_folders"):
        repeats = 1 if what == "evaluate_folders" else args.repeats
        command = [sys.executable, "-m", "benchmarks.bench_metrics", "--one", what, "--threads", str(args.threads), "--repeats", str(repeats)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{what:18s} failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        label = "8 pairs, all metrics" if what == "evaluate_folders" else "per image"
        print(f"{what:18s} {result['seconds_min']:8.3f} s ({label})   peak +{result['peak_extra_mib']:7.1f} MiB")


if __name__ == "__main__":
    main()
