"""Does a model leave in-focus areas alone? Error against the target where the defocus map says
the capture is sharp (issue 13's check for the perceptual weights).

    nice -n 5 .venv/bin/python -m benchmarks.infocus_error --outputs default=runs/eval/default_out \\
        --outputs perceptual=runs/eval/perceptual_out [--maps-cache runs/eval/infocus_maps]

The defocus map of each DPDD val pair is fitted by `fdikp_cli.defocus.fit_radius_map` (fixed
Butterworth kernels, moment-calibrated: radius of a uniform disc in px) on the registered pair
at 1/2 size, then read at full size (nearest, radii x2). That fit sees the sharp target: it is
an oracle map, fine for scoring (the calibrated single-image estimator is not in place yet).
"In focus" = r <= --max-radius px (1 by default). For the blurry input and each model's saved
outputs (`fdikp evaluate --save-outputs DIR`, same file names as the pairs), the mean squared
error and PSNR against the (unregistered, as evaluate scores it) target inside that mask.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks.reblur_fit import PAIRS, load_pair


def radius_map(root: Path, name: str, cache: Path | None) -> np.ndarray:
    """Full-size map (H, W) in px of blur radius, fitted at 1/2 size (cached as .npy)."""
    from fdikp_cli.defocus import FitConfig, KernelBank, KernelBankConfig, fit_radius_map

    cached = cache / (Path(name).stem + ".npy") if cache else None
    if cached is not None and cached.is_file():
        return np.load(cached)
    blurred, sharp = load_pair(root, name, 0.5, register=True)
    fitted = fit_radius_map(blurred, sharp, KernelBank(KernelBankConfig(max_radius=30)), FitConfig())
    half = fitted.radius[0, 0].numpy() * 2.0  # px at full size
    full_h, full_w = cv2.imread(str(root / "target" / name)).shape[:2]
    full = cv2.resize(half, (full_w, full_h), interpolation=cv2.INTER_NEAREST)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.save(cached, full)
    return full


def read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # 8-bit, as the dpdd protocol reads
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return image[:, :, ::-1].astype(np.float64) / 255.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=PAIRS / "val")
    parser.add_argument("--outputs", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--max-radius", type=float, default=1.0)
    parser.add_argument("--maps-cache", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = dict(item.split("=", 1) for item in args.outputs)
    names = sorted(p.name for p in (args.data_root / "source").iterdir() if p.suffix.lower() in (".png", ".jpg"))
    sums = {key: [0.0, 0] for key in ["input", *models]}
    print(f"{len(names)} pairs; in focus = fitted radius <= {args.max_radius:g} px")
    for name in names:
        mask = radius_map(args.data_root, name, args.maps_cache) <= args.max_radius  # (H, W)
        target = read(args.data_root / "target" / name)
        images = {"input": read(args.data_root / "source" / name)}
        for key, folder in models.items():
            found = sorted(Path(folder).glob(Path(name).stem + ".*"))
            if not found:
                raise SystemExit(f"no output for {name} in {folder}")
            images[key] = read(found[0])
        line = [f"{name}: in focus {100 * mask.mean():.1f} %"]
        for key, image in images.items():
            err = ((image - target) ** 2)[mask].sum()
            sums[key][0] += err
            sums[key][1] += int(mask.sum()) * 3
            mse = err / max(int(mask.sum()) * 3, 1)
            line.append(f"{key} {10 * math.log10(1 / mse):.2f} dB" if mse > 0 else f"{key} inf")
        print("  " + "; ".join(line), flush=True)
    print("\n| | in-focus MSE x1e4 | in-focus PSNR (dB) |\n|---|---|---|")
    for key, (err, count) in sums.items():
        mse = err / max(count, 1)
        print(f"| {key} | {1e4 * mse:.3f} | {10 * math.log10(1 / mse):.2f} |")


if __name__ == "__main__":
    main()
