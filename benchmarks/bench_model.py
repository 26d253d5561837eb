"""Model benchmark: CPU fp32 forward time per megapixel and peak memory, and the parameter
count of every ablation variant.

    .venv/bin/python -m benchmarks.bench_model [--threads 2] [--repeats 2]

Each size runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own;
the figure reported is the peak during the forward minus the resident size before it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SIZES = [(512, 512), (683, 1024)]

VARIANTS = {
    "default (DIKP + PAC + DSRM, sequential DDM)": {},
    "spatial kernel predictor": {"kernel_predictor": "spatial"},
    "no PAC (dilation 1)": {"pac": False},
    "SRAM coefficient module": {"coefficient_module": "sram"},
    "DDM spatial only": {"ddm": "spatial"},
    "DDM frequency only": {"ddm": "frequency"},
    "DDM parallel (gated)": {"ddm": "parallel"},
    **{f"kernel size {k}": {"kernel_size": k} for k in (3, 7, 9, 11, 15)},
}


def _measure_one(height: int, width: int, threads: int, repeats: int) -> dict[str, float]:
    import resource
    import time

    import torch

    from fdikp_cli.model import FDIKP, FDIKPConfig

    torch.set_num_threads(threads)
    model = FDIKP(FDIKPConfig()).eval()
    x = torch.rand(1, 3, height, width)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.no_grad():
        model(x)  # warm-up (allocator, oneDNN primitives)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    megapixels = height * width / 1e6
    best = min(times)
    return {
        "height": height,
        "width": width,
        "seconds": best,
        "seconds_per_megapixel": best / megapixels,
        "peak_forward_mib": (peak - before) / 1024.0,
        "peak_forward_mib_per_megapixel": (peak - before) / 1024.0 / megapixels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_measure_one(args.one[0], args.one[1], args.threads, args.repeats)))
        return

    import torch

    from fdikp_cli.model import FDIKP, FDIKPConfig, count_parameters

    print(f"torch {torch.__version__}, {args.threads} threads, fp32, batch 1, best of {args.repeats} after warm-up")
    print(f"{'size':>10}  {'s':>7}  {'s/MP':>7}  {'peak MiB':>9}  {'MiB/MP':>8}")
    for h, w in SIZES:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_model", "--one", str(h), str(w), "--threads", str(args.threads),
             "--repeats", str(args.repeats)],
            check=True, capture_output=True, text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{w:>5}x{h:<4}  {r['seconds']:7.2f}  {r['seconds_per_megapixel']:7.2f}  "
              f"{r['peak_forward_mib']:9.0f}  {r['peak_forward_mib_per_megapixel']:8.0f}")
    print()
    print(f"{'variant':<46} {'parameters':>12}")
    for name, overrides in VARIANTS.items():
        print(f"{name:<46} {count_parameters(FDIKP(FDIKPConfig(**overrides))):>12,}")


if __name__ == "__main__":
    main()
