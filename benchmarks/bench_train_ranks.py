"""Two cores, two ways: one training process with 2 threads, or 2 data-parallel processes of 1 thread.

    .venv/bin/python -m benchmarks.bench_train_ranks --crop 128 --batch 4 --steps 6

Both run the trainer's step (bf16 autocast on CPUs that compute bf16 natively, else fp32;
channels-last weights under bf16; MSE + FFT as the CPU recipe trains; gradient clipping; Adam)
on the same global batch: one process with `--batch` images and `--threads` intra-op threads,
or `--threads` processes (gloo, DistributedDataParallel, as `torchrun --nproc-per-node N -m
fdikp_cli train` runs) with `--batch / N` images and one thread each. The two alternate round by
round (single, ranks, single, ranks, ...) so that a change in machine load hits both alike; each
round is `--steps` timed steps after `--warmup`; `--fp32-baseline` adds the single process in
fp32 to every round (the training path before bf16 and channels-last). Printed: median seconds per global step and
images/s for each, and their ratio.

Why: on this project's 2-core machine one training thread did ~75 % of the work of two beside
another job, which raised the question whether two single-thread ranks beat one two-thread
process. Measured here (2026-12-03, 128² x 4): they do not, 0.87x (all-reduce and barriers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch


def _setup(precision: str = "auto") -> tuple[torch.nn.Module, Any, torch.dtype]:
    from fdikp_cli.inference.device import resolve_precision, use_fast_memory_format
    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.training.losses import MultiScaleLoss

    torch.manual_seed(0)
    dtype = resolve_precision(precision, torch.device("cpu"))
    model = use_fast_memory_format(FDIKP(FDIKPConfig()), torch.device("cpu"), dtype).train()
    loss_fn = MultiScaleLoss(1.0, 0.0, 0.2, (1.0, 0.2, 0.1), None)
    return model, loss_fn, dtype


def _timed_steps(model: torch.nn.Module, loss_fn: Any, dtype: torch.dtype, blurred: torch.Tensor,
                 sharp: torch.Tensor, steps: int, warmup: int, sync: Any = None) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-6)
    autocast = (lambda: torch.autocast("cpu", dtype=dtype)) if dtype != torch.float32 else contextlib.nullcontext
    times = []
    for i in range(warmup + steps):
        if sync is not None:
            sync()  # every rank starts the step together
        start = time.perf_counter()
        with autocast():
            outputs = model(blurred)
        terms = loss_fn([o.float() for o in outputs], sharp)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()  # under DDP: gradients all-reduced here
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if sync is not None:
            sync()  # the global step ends when the slowest rank is done
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def _rank_main(rank: int, world: int, init_file: str, crop: int, batch: int, steps: int, warmup: int,
               result_file: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, loss_fn, dtype = _setup()
        blurred = torch.rand(batch // world, 3, crop, crop)
        sharp = torch.rand(batch // world, 3, crop, crop)
        wrapped = torch.nn.parallel.DistributedDataParallel(model)
        times = _timed_steps(wrapped, loss_fn, dtype, blurred, sharp, steps, warmup, sync=dist.barrier)
        if rank == 0:
            Path(result_file).write_text(" ".join(f"{t:.6f}" for t in times))
    finally:
        dist.destroy_process_group()


def time_single(crop: int, batch: int, threads: int, steps: int, warmup: int, precision: str = "auto") -> list[float]:
    torch.set_num_threads(threads)
    model, loss_fn, dtype = _setup(precision)
    blurred, sharp = torch.rand(batch, 3, crop, crop), torch.rand(batch, 3, crop, crop)
    return _timed_steps(model, loss_fn, dtype, blurred, sharp, steps, warmup)


def time_ranks(crop: int, batch: int, world: int, steps: int, warmup: int) -> list[float]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as folder:
        init_file, result_file = os.path.join(folder, "init"), os.path.join(folder, "times")
        mp.spawn(_rank_main, args=(world, init_file, crop, batch, steps, warmup, result_file), nprocs=world)
        return [float(t) for t in Path(result_file).read_text().split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4, help="global batch (split over the ranks)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the single process = number of ranks")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fp32-baseline", action="store_true",
                        help="also time the single process in fp32 (the path before bf16 training) each round")
    args = parser.parse_args()
    if args.batch % args.threads:
        raise SystemExit(f"--batch {args.batch} must split evenly over {args.threads} ranks")

    fp32: list[float] = []
    single: list[float] = []
    ranks: list[float] = []
    for _ in range(args.rounds):
        if args.fp32_baseline:
            fp32 += time_single(args.crop, args.batch, args.threads, args.steps, args.warmup, precision="fp32")
        single += time_single(args.crop, args.batch, args.threads, args.steps, args.warmup)
        ranks += time_ranks(args.crop, args.batch, args.threads, args.steps, args.warmup)
    one, many = statistics.median(single), statistics.median(ranks)
    print(f"train step {args.crop}^2, global batch {args.batch}, medians of {len(single)} steps:")
    if fp32:
        base = statistics.median(fp32)
        print(f"  1 process x {args.threads} threads, fp32: {base:.3f} s/step, {args.batch / base:.2f} images/s")
    print(f"  1 process x {args.threads} threads: {one:.3f} s/step, {args.batch / one:.2f} images/s")
    print(f"  {args.threads} ranks x 1 thread (gloo DDP): {many:.3f} s/step, {args.batch / many:.2f} images/s")
    print(f"  ranks / single throughput: {one / many:.2f}x")
    if fp32:
        print(f"  over the fp32 single process: single {base / one:.2f}x, ranks {base / many:.2f}x")


if __name__ == "__main__":
    main()
