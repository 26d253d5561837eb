"""Training throughput on CPU, and an estimate of the paper's schedule on one H200.

    .venv/bin/python -m benchmarks.bench_train                 # 256^2 batch 4, default model, 3 steps
    .venv/bin/python -m benchmarks.bench_train --steps 5 --threads 2 --json out.json
    .venv/bin/python -m benchmarks.bench_train --precision-ratio --crop 128 --batch 4 --threads 2 --steps 4
        # fp32 vs bf16 autocast training steps, interleaved in one process: the ratio only

What is measured (on this machine):
  * optimizer steps of the default FDIKP at 256x256, batch 4: forward, the paper's full loss
    (MSE + LPIPS + FFT at three scales; LPIPS only when its weights are found), backward,
    gradient clipping, Adam: images/s after one warm-up step;
  * the data pipeline alone: crops/s of one process cutting 256^2 crops from the DPDD pairs and
    synthesising pairs from the sharp photos (what one loader worker delivers);
  * FLOPs of one training step (forward + backward) at the schedule's crop sizes, counted by
    torch.utils.flop_counter (convolutions and matrix products; FFTs and elementwise work are
    not counted, so true work is somewhat higher).

What is estimated (no GPU here): the wall time of `--preset paper-dpdd` on the full DPDD
training set (350 pairs: stage one 1400 epochs at 384^2 x 4 = 122,500 steps, stage two 100 epochs
at 512^2 x 2 = 17,500 steps) on one H200, as FLOPs / (H200 bf16 dense peak x utilisation) for a
range of utilisations. Small-channel convolutions, FFTs and many small kernels keep
utilisation of this kind of model low; the range is an assumption, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", REPO_ROOT.parent / "shared"))
H200_BF16_DENSE_TFLOPS = 989.0  # NVIDIA H200 SXM datasheet, dense (no sparsity)
UTILISATIONS = (0.02, 0.05, 0.10, 0.20)
DPDD_TRAIN_PAIRS = 350
PAPER_DPDD = ((1400, 384, 4), (100, 512, 2))  # (epochs, crop, batch) per stage


def _lpips(device: Any) -> Any:
    from fdikp_cli.errors import LpipsWeightsMissing
    from fdikp_cli.metrics.lpips import load_lpips

    lpips_dir = os.environ.get("FDIKP_LPIPS_DIR") or str(SHARED / "weights" / "lpips")
    try:
        return load_lpips(weights_dir=lpips_dir, device=device, download=False)
    except LpipsWeightsMissing:
        return None


def step_throughput(size: int, batch: int, steps: int, warmup: int) -> dict[str, Any]:
    import torch

    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.training.losses import MultiScaleLoss

    torch.manual_seed(0)
    model = FDIKP(FDIKPConfig()).train()
    lpips = _lpips("cpu")
    loss_fn = MultiScaleLoss(1.0, 0.2 if lpips is not None else 0.0, 0.2, (1.0, 0.2, 0.1), lpips)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    blurred, sharp = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        terms = loss_fn(model(blurred), sharp)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    seconds = sum(times) / len(times)
    return {"crop": size, "batch": batch, "steps": steps, "lpips_in_loss": lpips is not None,
            "seconds_per_step": seconds, "images_per_s": batch / seconds}


def precision_ratio(size: int, batch: int, steps: int, warmup: int) -> dict[str, Any]:
    """Training steps in fp32 and under bf16 autocast, as `fdikp train --precision bf16` runs them.

    One model and optimizer per precision; the two alternate step by step (after `warmup` steps
    of each), so a change in machine load affects both alike and the ratio stays meaningful on
    a busy machine. Forward under autocast, outputs cast to float32 before the loss (FFT terms
    stay float32), float32 master weights -- the trainer's path (trainer.train_step).
    """
    import contextlib
    import statistics

    import torch

    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.training.losses import MultiScaleLoss

    from fdikp_cli.inference.device import use_fast_memory_format

    loss_fn = MultiScaleLoss(1.0, 0.0, 0.2, (1.0, 0.2, 0.1), None)  # MSE + FFT, as the CPU runs train
    blurred, sharp = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    setups = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        # each precision with the memory layout the trainer gives it (channels-last under bf16)
        net = use_fast_memory_format(FDIKP(FDIKPConfig()), torch.device("cpu"), dtype).train()
        setups[name] = (net, torch.optim.Adam(net.parameters(), lr=1e-5))
    for i in range(warmup + steps):
        for name in times:
            model, optimizer = setups[name]
            context = (torch.autocast("cpu", dtype=torch.bfloat16) if name == "bf16" else contextlib.nullcontext())
            start = time.perf_counter()
            with context:
                outputs = model(blurred)
            terms = loss_fn([o.float() for o in outputs], sharp)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    return {"crop": size, "batch": batch, "steps": steps, "fp32_s_per_step": fp32, "bf16_s_per_step": bf16,
            "fp32_images_per_s": batch / fp32, "bf16_images_per_s": batch / bf16, "speedup_bf16_over_fp32": fp32 / bf16}


def step_flops(size: int, batch: int) -> float:
    """Forward + backward FLOPs of one training step (model only), counted at batch 1 x batch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from fdikp_cli.model import FDIKP, FDIKPConfig

    model = FDIKP(FDIKPConfig()).train()
    x = torch.rand(1, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        outputs = model(x)
        sum(o.mean() for o in outputs).backward()
    return float(counter.get_total_flops()) * batch


def loader_throughput(size: int, samples: int) -> dict[str, Any]:
    from fdikp_cli.data import TrainCrops, build_sources, parse_dataset_spec

    pairs = SHARED / "data" / "dpdd-canon-iso" / "train"
    sharp = SHARED / "data" / "sharp"
    if not (pairs.is_dir() and sharp.is_dir()):
        return {"skipped": f"needs {pairs} and {sharp}"}
    result: dict[str, Any] = {}
    for spec in ("pairs", "synthetic"):
        sources = build_sources(parse_dataset_spec(spec), pairs, sharp, size, 1 << 30)
        dataset = TrainCrops(sources, [1.0], size, seed=0)
        for i in range(len(sources[0])):  # decode every image once: the cache is warm in a long run
            dataset[i]
        start = time.perf_counter()
        for i in range(samples):
            dataset[10_000 + i]
        result[f"{spec}_crops_per_s"] = samples / (time.perf_counter() - start)
    return result


def estimate_h200(flops_by_stage: list[float]) -> dict[str, Any]:
    stages = []
    total_flops = 0.0
    for (epochs, crop, batch), flops in zip(PAPER_DPDD, flops_by_stage):
        steps = epochs * DPDD_TRAIN_PAIRS // batch
        stages.append({"epochs": epochs, "crop": crop, "batch": batch, "steps": steps, "tflop_per_step": flops / 1e12})
        total_flops += steps * flops
    hours = {f"{int(u * 100)}%": total_flops / (H200_BF16_DENSE_TFLOPS * 1e12 * u) / 3600 for u in UTILISATIONS}
    # What the data loaders must deliver in stage one at that speed (batch / seconds per step).
    first = stages[0]
    demand = {f"{int(u * 100)}%": first["batch"] * H200_BF16_DENSE_TFLOPS * u / first["tflop_per_step"]
              for u in UTILISATIONS}
    return {"stages": stages, "total_pflop": total_flops / 1e15, "hours_at_utilisation": hours,
            "stage1_images_per_s_needed": demand, "peak_tflops_assumed": H200_BF16_DENSE_TFLOPS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loader-samples", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--precision-ratio", action="store_true",
                        help="only time fp32 vs bf16 autocast training steps (interleaved) and print the ratio")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.precision_ratio:
        result = precision_ratio(args.crop, args.batch, args.steps, args.warmup)
        print(f"train step {args.crop}^2 x {args.batch}, {args.threads} threads, median of {args.steps}: "
              f"fp32 {result['fp32_s_per_step']:.2f} s, bf16 {result['bf16_s_per_step']:.2f} s, "
              f"bf16 speed-up {result['speedup_bf16_over_fp32']:.2f}x")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return
    report: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}",
        "torch": torch.__version__,
    }
    report["train_step"] = step_throughput(args.crop, args.batch, args.steps, args.warmup)
    flops_here = step_flops(args.crop, args.batch)
    report["train_step"]["gflop_per_step_counted"] = flops_here / 1e9
    report["train_step"]["achieved_gflops"] = flops_here / 1e9 / report["train_step"]["seconds_per_step"]
    report["data_pipeline"] = loader_throughput(args.crop, args.loader_samples)
    report["paper_dpdd_on_h200_estimate"] = estimate_h200([step_flops(c, b) for _, c, b in PAPER_DPDD])

    step = report["train_step"]
    print(f"machine: {report['machine']}")
    print(f"train step {step['crop']}^2 x {step['batch']} (LPIPS in loss: {step['lpips_in_loss']}): "
          f"{step['seconds_per_step']:.2f} s/step, {step['images_per_s']:.2f} images/s, "
          f"{step['gflop_per_step_counted']:.0f} GFLOP/step counted, {step['achieved_gflops']:.1f} GFLOP/s achieved")
    print(f"data pipeline (one process): {report['data_pipeline']}")
    est = report["paper_dpdd_on_h200_estimate"]
    for stage in est["stages"]:
        print(f"  paper-dpdd stage: {stage['steps']} steps at {stage['crop']}^2 x {stage['batch']}, "
              f"{stage['tflop_per_step']:.3f} TFLOP/step")
    print(f"ESTIMATE (not measured) paper-dpdd on one H200: {est['total_pflop']:.0f} PFLOP total; "
          + ", ".join(f"{h:.1f} h at {u} of {H200_BF16_DENSE_TFLOPS:.0f} TFLOP/s" for u, h in est["hours_at_utilisation"].items()))
    print("  stage-one crops/s the loaders must deliver: "
          + ", ".join(f"{n:.0f} at {u}" for u, n in est["stage1_images_per_s_needed"].items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
