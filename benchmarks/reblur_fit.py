"""How well does the reblur operator explain real defocus: one radius per image, a fitted
per-pixel radius map, fixed or learned kernels (issue 12, part A).

    nice -n 10 .venv/bin/python -m benchmarks.reblur_fit                 # 2 val pairs at 1/2 size
    nice -n 10 .venv/bin/python -m benchmarks.reblur_fit --images 0 --scale 1   # all 8, full size

For each real (blurred, sharp) pair of DPDD val (registered as training registers them: the
blurred capture moved onto the sharp one, the sharp one given the blurred one's exposure),
PSNR against the blurred capture of

- the sharp capture itself (no blur);
- reblur(sharp, r*) with the best single radius r* of the image (Butterworth kernels);
- reblur(sharp, map) with a per-pixel map fitted by `fit_radius_map`, fixed Butterworth kernels;
- the same with the kernels learned on that image too (alternating map and kernel phases);
- with `--train-bank N`: a map fitted with a bank learned beforehand on N *train* pairs and then
  held fixed, i.e. kernels that were not fitted to the image they are scored on.

Issue 12's target: the fitted map at least 2 dB above the best single radius, and learned
kernels above fixed ones. Runs on one thread (`--threads`).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared"))
PAIRS = SHARED / "data" / "dpdd-canon-iso"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10.0 * torch.log10(1.0 / ((a - b) ** 2).mean().clamp(min=1e-12)))


def load_pair(root: Path, name: str, scale: float, register: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(blurred, sharp) as (1, 3, H, W) float32, registered, then area-downscaled by `scale`."""
    from fdikp_cli.data.registration import register_pair
    from fdikp_cli.synth.writer import read_rgb

    blurred, sharp = read_rgb(root / "source" / name), read_rgb(root / "target" / name)
    if register:
        blurred, sharp, _ = register_pair(blurred, sharp)
    if scale != 1.0:
        size = (round(blurred.shape[1] * scale), round(blurred.shape[0] * scale))
        blurred = cv2.resize(blurred, size, interpolation=cv2.INTER_AREA)
        sharp = cv2.resize(sharp, size, interpolation=cv2.INTER_AREA)

    def tensor(image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]  # (1, 3, H, W)

    return tensor(blurred), tensor(sharp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=PAIRS / "val", help="pairs folder with source/ and target/")
    parser.add_argument("--images", type=int, default=2, help="pairs to use, in name order (0: all)")
    parser.add_argument("--scale", type=float, default=0.5, help="area downscale of both images (1: full size)")
    parser.add_argument("--no-register", action="store_true", help="score the captures as they are")
    parser.add_argument("--max-radius", type=int, default=30, help="largest kernel radius (px at the used scale)")
    parser.add_argument("--tv-weight", type=float, default=None, help="override FitConfig.tv_weight")
    parser.add_argument("--train-bank", type=int, default=0, help="also learn one bank on this many train pairs, then fit val maps with it fixed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from fdikp_cli.defocus import FitConfig, KernelBank, KernelBankConfig, best_single_radius, fit_radius_map, reblur
    from fdikp_cli.defocus.kernel_bank import effective_radius
    from fdikp_cli.synth.writer import list_images

    if not (args.data_root / "source").is_dir() or not (args.data_root / "target").is_dir():
        print(f"skipped: needs {args.data_root}/source and target/ (set FDIKP_SHARED_DIR or --data-root)")
        return
    names = [p.relative_to(args.data_root / "source").as_posix() for p in list_images(args.data_root / "source")]
    names = names if args.images <= 0 else names[: args.images]
    fit_config = FitConfig() if args.tv_weight is None else FitConfig(tv_weight=args.tv_weight)
    bank = KernelBank(KernelBankConfig(max_radius=args.max_radius))
    register = not args.no_register
    print(f"{len(names)} pairs from {args.data_root}, scale {args.scale:g}, {'registered' if register else 'as captured'}, "
          f"tv_weight {fit_config.tv_weight:g}, phases {fit_config.phases}, {args.threads} thread(s)")

    train_bank = None
    if args.train_bank > 0:
        train_root = args.data_root.parent / "train"
        train_names = [p.name for p in list_images(train_root / "source")][: args.train_bank]
        pairs = [load_pair(train_root, n, args.scale, register) for n in train_names]
        if len({p[0].shape for p in pairs}) != 1:
            raise SystemExit("--train-bank needs train pairs of one size")
        start = time.perf_counter()
        learned = fit_radius_map(torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]), bank, fit_config,
                                 learn_kernels=True)
        train_bank = learned.bank
        print(f"bank learned on {len(pairs)} train pairs in {time.perf_counter() - start:.0f} s")

    columns = ["captured", "single r", "map fixed K", "map learned K"] + (["map train K"] if train_bank else [])
    rows, extras = [], []
    for name in names:
        blurred, sharp = load_pair(args.data_root, name, args.scale, register)
        start = time.perf_counter()
        single = best_single_radius(blurred, sharp, bank)  # (1,)
        fixed = fit_radius_map(blurred, sharp, bank, fit_config)
        t_fixed = time.perf_counter() - start
        learned = fit_radius_map(blurred, sharp, bank, fit_config, learn_kernels=True)
        t_learned = time.perf_counter() - start - t_fixed
        transfer = fit_radius_map(blurred, sharp, train_bank, fit_config) if train_bank is not None else None
        with torch.no_grad():
            row = [
                psnr(sharp, blurred),
                psnr(reblur(sharp, torch.full_like(blurred[:, :1], float(single[0])), bank), blurred),
                psnr(reblur(sharp, fixed.radius, bank), blurred),
                psnr(reblur(sharp, learned.radius, learned.bank), blurred),
            ]
            if transfer is not None:
                row.append(psnr(reblur(sharp, transfer.radius, train_bank), blurred))
        rows.append(row)
        r = fixed.radius.flatten()
        grown = [effective_radius(learned.bank.kernel(i)) - effective_radius(bank.kernel(i)) for i in (2, 5, 10)]
        extras.append(f"{name}: single r* {float(single[0]):.2f} px; fixed-K map median {float(r.median()):.2f}, "
                      f"p90 {float(r.quantile(0.9)):.2f} px, r <= 1: {100 * float((r <= 1).double().mean()):.0f} %; "
                      f"fit {t_fixed:.0f} s (fixed K) / {t_learned:.0f} s (learned K); learned kernels 2/5/10 "
                      f"effective radius change {grown[0]:+.2f}/{grown[1]:+.2f}/{grown[2]:+.2f} px")
        print(f"  {name:<16}" + " ".join(f"{v:12.2f}" for v in row), flush=True)
    mean = np.mean(rows, axis=0)
    print()
    print("| PSNR vs blurred (dB) | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, row in zip(names, rows):
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    print("| **mean** | " + " | ".join(f"{v:.2f}" for v in mean) + " |")
    print(f"\nfitted map (fixed K) - single radius: {mean[2] - mean[1]:+.2f} dB; learned K - fixed K: {mean[3] - mean[2]:+.2f} dB"
          + (f"; train-learned K - fixed K: {mean[4] - mean[2]:+.2f} dB" if train_bank is not None else ""))
    for line in extras:
        print(line)


if __name__ == "__main__":
    main()
