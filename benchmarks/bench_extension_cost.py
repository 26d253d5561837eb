"""What the blur-aware extension (issue 23) adds to a forward pass: the defocus-map estimator on
the half-resolution input, the guidance term, the two gated paths, float32 PAC sums; and what the
inverse-disc bank (`fdikp_cli/model/inverse_bank.py`) adds on top of it.

    nice -n 5 .venv/bin/python -m benchmarks.bench_extension_cost [--threads 1] [--repeats 3]

Both models (random weights: the cost does not depend on their values) run in one process on a
1024x683 image, bf16 autocast as `deblur` runs on this CPU, alternating so that load from other
processes hits both alike; reported: seconds per megapixel (median) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from fdikp_cli.model import FDIKP, FDIKPConfig

EXTENSION = {"spectrum_reference_size": 256, "dilation_source": "defocus_map", "stage_carry": True,
             "deconvolution_skip": True}
BANK = {"inverse_bank_radii": (1.5, 3.0, 5.0, 8.0, 12.0)}  # tools/recipes/inverse_bank_model.json
BASELINE = "shipped form"  # the form the weights had when issue 23 was filed: its speed budget's unit


def seconds(model: FDIKP, x: torch.Tensor) -> float:
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {BASELINE: FDIKP(FDIKPConfig()).eval(), "blur-aware": FDIKP(FDIKPConfig(**EXTENSION)).eval(),
              "+ inverse bank": FDIKP(FDIKPConfig(**EXTENSION, **BANK)).eval()}
    x = torch.rand(1, 3, 683, 1024)
    megapixels = x.shape[-2] * x.shape[-1] / 1e6
    for model in models.values():
        seconds(model, x)  # warm-up (oneDNN kernel selection)
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            times[name].append(seconds(model, x) / megapixels)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, value in medians.items():
        print(f"{name:>14}: {value:.2f} s/MP (runs: {', '.join(f'{t:.2f}' for t in times[name])})")
    for name in list(models)[1:]:
        print(f"ratio {name} / {BASELINE}: {medians[name] / medians[BASELINE]:.3f} "
              f"({args.threads} thread(s), 1024x683, bf16)")


if __name__ == "__main__":
    main()
