"""Issue 12's targets for a trained defocus-map estimator.

    nice -n 5 .venv/bin/python -m benchmarks.defocus_map_eval --weights weights/defocus_map.safetensors

1. Synthetic pairs with known radius, made by the training simulator (`synthesize_pair`,
   default SynthConfig, max radius 30 px) from photos training never saw (--holdout folder of
   the sharp photos, default kodak24: whole photos, one pair each, seed = index): mean absolute
   radius error (px) over all pixels (every true radius is <= 30 px), and in focus (r <= 1 px)
   vs defocused agreement per pixel. Also for the trivial predictor "the median true radius of
   all pairs everywhere", which says how much of the score a constant would get.
2. Real val pairs (registered as in training, full size): PSNR against the blurred capture of
   reblur(sharp, map) for: the sharp capture itself; the best single radius per image (fitted
   on the pair itself, Butterworth kernels); the predicted map with the fixed Butterworth bank;
   the predicted map with the learned bank shipped with the weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.reblur_fit import PAIRS, SHARED, load_pair, psnr


def synthetic_scores(weights: Path, root: Path, limit: int) -> None:
    from fdikp_cli.defocus.maps import estimate_radius_map, load_estimator
    from fdikp_cli.synth import synthesize_pair
    from fdikp_cli.synth.writer import list_images, read_rgb

    estimator = load_estimator(weights)
    photos = list_images(root)[: limit or None]
    errors, agree, const_pairs, seconds = [], [], [], 0.0
    all_true = []
    for index, path in enumerate(photos):
        pair = synthesize_pair(read_rgb(path), index)
        start = time.perf_counter()
        predicted = estimate_radius_map(estimator, pair.blurred)
        seconds += time.perf_counter() - start
        true = pair.radius
        errors.append(float(np.abs(predicted - true).mean()))
        agree.append(float(((predicted <= 1.0) == (true <= 1.0)).mean()))
        all_true.append(true.reshape(-1))
        const_pairs.append(true)
        print(f"  {path.name:<16} true median {np.median(true):5.2f} max {true.max():5.2f} | pred median "
              f"{np.median(predicted):5.2f} | MAE {errors[-1]:5.2f} px | in-focus agreement {100 * agree[-1]:5.1f} %",
              flush=True)
    constant = float(np.median(np.concatenate(all_true)))
    const_mae = np.mean([np.abs(t - constant).mean() for t in const_pairs])
    const_acc = np.mean([((t <= 1.0) == (constant <= 1.0)).mean() for t in const_pairs])
    print(f"synthetic, {len(photos)} held-out photos from {root}: MAE {np.mean(errors):.2f} px, in-focus vs "
          f"defocused agreement {100 * np.mean(agree):.1f} % (per-photo mean); constant {constant:.2f} px: "
          f"MAE {const_mae:.2f} px, agreement {100 * const_acc:.1f} %; estimator {seconds:.1f} s in all")


def real_scores(weights: Path, root: Path, limit: int, scale: float) -> None:
    from fdikp_cli.defocus import KernelBank, best_single_radius, reblur
    from fdikp_cli.defocus.maps import estimate_radius_map, load_estimator
    from fdikp_cli.synth.writer import list_images

    estimator = load_estimator(weights)
    fixed = KernelBank(estimator.bank.config)
    names = [p.name for p in list_images(root / "source")][: limit or None]
    rows = []
    for name in names:
        blurred, sharp = load_pair(root, name, scale, register=True)  # (1, 3, H, W)
        radius = torch.from_numpy(estimate_radius_map(estimator, blurred[0].permute(1, 2, 0)))[None, None]
        with torch.no_grad():
            single = best_single_radius(blurred, sharp, fixed)
            row = [psnr(sharp, blurred),
                   psnr(reblur(sharp, torch.full_like(radius, float(single[0])), fixed), blurred),
                   psnr(reblur(sharp, radius, fixed), blurred),
                   psnr(reblur(sharp, radius, estimator.bank), blurred)]
        rows.append(row)
        r = radius.flatten()
        print(f"  {name:<16}" + " ".join(f"{v:7.2f}" for v in row)
              + f"   r* {float(single[0]):.2f} px; map median {float(r.median()):.2f} p90 {float(r.quantile(0.9)):.2f} px",
              flush=True)
    mean = np.mean(rows, axis=0)
    print("| PSNR vs blurred (dB) | captured | best single radius | predicted map, fixed K | predicted map, learned K |")
    print("|---|---|---|---|---|")
    for name, row in zip(names, rows):
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    print("| **mean** | " + " | ".join(f"{v:.2f}" for v in mean) + " |")
    print(f"predicted map (learned K) - best single radius: {mean[3] - mean[1]:+.2f} dB; "
          f"learned K - fixed K: {mean[3] - mean[2]:+.2f} dB")


def mask_scores(weights: Path, photos: Path, masks: Path) -> None:
    """Photos with hand-made blur masks (white = blurred, black = in focus): the median predicted
    radius inside each region, and per-pixel agreement of "r <= 1 px at the working scale" with
    the mask's in-focus region."""
    import cv2

    from fdikp_cli.defocus.maps import estimate_radius_map, load_estimator, summarize, work_scale
    from fdikp_cli.synth.writer import list_images, read_rgb

    estimator = load_estimator(weights)
    by_stem = {p.stem: p for p in list_images(photos) if p.parent == photos}  # not the masks themselves
    for mask_path in list_images(masks):
        photo = read_rgb(by_stem[mask_path.stem])
        blurred_region = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 127  # (H, W)
        radius = estimate_radius_map(estimator, photo)
        threshold = summarize(radius, work_scale(*radius.shape)).in_focus_px
        agreement = float(((radius <= threshold) == ~blurred_region).mean())
        print(f"  {mask_path.stem}: median radius {np.median(radius[~blurred_region]):.2f} px in the in-focus region "
              f"({100 * (~blurred_region).mean():.0f} % of the photo), {np.median(radius[blurred_region]):.2f} px in the "
              f"blurred region; in-focus agreement {100 * agreement:.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--holdout", type=Path, default=SHARED / "data" / "sharp" / "kodak24")
    parser.add_argument("--synthetic", type=int, default=24, help="held-out photos to use (0: all)")
    parser.add_argument("--val-root", type=Path, default=PAIRS / "val")
    parser.add_argument("--real", type=int, default=0, help="val pairs to use (0: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="area downscale of the val pairs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip", choices=("synthetic", "real"), default=None)
    parser.add_argument("--masks", type=Path, default=SHARED / "data" / "real-defocus-unpaired" / "cuhk_samples" / "masks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.skip != "synthetic":
        if args.holdout.is_dir():
            synthetic_scores(args.weights, args.holdout, args.synthetic)
        else:
            print(f"skipped synthetic: {args.holdout} not found")
    if args.masks.is_dir():
        mask_scores(args.weights, args.masks.parent, args.masks)
    if args.skip != "real":
        if (args.val_root / "source").is_dir():
            real_scores(args.weights, args.val_root, args.real, args.scale)
        else:
            print(f"skipped real: {args.val_root} not found")


if __name__ == "__main__":
    main()
