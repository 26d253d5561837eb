"""How much of the real pairs' error is misalignment and exposure, not blur.

    .venv/bin/python -m benchmarks.pair_registration [--split train] [--per-pair] [--windows 320]

For each (blurred, sharp) pair of `../shared/data/dpdd-canon-iso/SPLIT` (or `--data-root`),
the blurred capture against its sharp target before and after `register_pair`
(fdikp_cli.data.registration): PSNR raw / aligned / aligned and tone-matched, and the
high-band error (error minus its σ 3 px Gaussian low-pass, MSE x 1e4) over the whole image and
over the "in-focus" blocks (the 10 % of 32 px blocks with the most Laplacian energy in the
blurred capture), where a deblurring model should change nothing, so whatever error is left
there after alignment is what no model can remove.

`--windows SIDE`: what a global shift leaves. Each registered pair is cut into windows of SIDE
px (half-overlapping) and every window is registered once more on its own (`register_window`,
as `data.pair_align_crops` does for training crops): the share of windows with a consistent
local estimate, the size of the local shift, and the windows' high-band error before and after.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared"))
BLOCK = 32


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def high_band(error: np.ndarray) -> np.ndarray:
    return error - cv2.GaussianBlur(error, (0, 0), 3.0)


def in_focus_mask(blurred: np.ndarray) -> np.ndarray:
    """(H', W') bool, H' and W' cut to whole blocks: the sharpest 10 % of blocks."""
    energy = cv2.Laplacian(cv2.cvtColor(blurred, cv2.COLOR_RGB2GRAY), cv2.CV_32F) ** 2
    rows, cols = blurred.shape[0] // BLOCK, blurred.shape[1] // BLOCK
    blocks = cv2.resize(energy[: rows * BLOCK, : cols * BLOCK], (cols, rows), interpolation=cv2.INTER_AREA)
    chosen = (blocks >= np.percentile(blocks, 90)).astype(np.uint8)
    return cv2.resize(chosen, (cols * BLOCK, rows * BLOCK), interpolation=cv2.INTER_NEAREST).astype(bool)


def window_residuals(blurred: np.ndarray, sharp: np.ndarray, side: int) -> list[tuple[float, float, float]]:
    """[(local shift px or NaN, high-band MSE x1e4 before, after)] per window of a registered pair."""
    from fdikp_cli.data.datasets import CROP_REGISTRATION_MARGIN as margin
    from fdikp_cli.data.registration import register_window

    out = []
    full = side + 2 * margin
    for top in range(0, blurred.shape[0] - full + 1, side // 2):
        for left in range(0, blurred.shape[1] - full + 1, side // 2):
            b, s = blurred[top:top + full, left:left + full], sharp[top:top + full, left:left + full]
            moved, target, shift = register_window(b, s, margin)
            before = float(np.mean(high_band(b[margin:-margin, margin:-margin] - target) ** 2)) * 1e4
            after = float(np.mean(high_band(moved - target) ** 2)) * 1e4
            out.append((float(np.hypot(*shift)) if shift is not None else float("nan"), before, after))
    return out


def report_windows(values: list[tuple[float, float, float]], side: int) -> None:
    table = np.asarray(values)
    consistent = ~np.isnan(table[:, 0])
    shifts = table[consistent, 0]
    print(f"{len(table)} windows of {side} px: {consistent.mean():.0%} with a consistent local shift, "
          f"median {np.median(shifts):.2f} px, 90th percentile {np.percentile(shifts, 90):.2f} px; "
          f"high-band error x1e4 {table[:, 1].mean():.2f} -> {table[:, 2].mean():.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="train", help="train or val")
    parser.add_argument("--data-root", type=Path, help="pairs folder with source/ and target/")
    parser.add_argument("--per-pair", action="store_true")
    parser.add_argument("--windows", type=int, metavar="SIDE", help="also re-register windows of SIDE px")
    args = parser.parse_args()
    from fdikp_cli.data.images import read_native, to_float
    from fdikp_cli.data.pairs import pairs_by_order
    from fdikp_cli.data.registration import register_pair

    root = args.data_root or SHARED / "data" / "dpdd-canon-iso" / args.split
    if not (root / "source").is_dir():
        raise SystemExit(f"needs {root}/source and target/ (set FDIKP_SHARED_DIR or --data-root)")
    header = ["PSNR raw", "aligned", "aligned+tone", "high raw", "high aligned", "in-focus high raw",
              "in-focus high aligned", "shift px"]
    rows, unmoved, windows = [], 0, []
    for pair in pairs_by_order(root):
        blurred, sharp = to_float(read_native(pair.source)), to_float(read_native(pair.target))
        aligned, _, record = register_pair(blurred, sharp, align=True, tone=False)
        aligned_t, toned, _ = register_pair(blurred, sharp, align=True, tone=True)
        unmoved += not record.consistent
        if args.windows:
            windows += window_residuals(aligned_t, toned, args.windows)
        mask = in_focus_mask(blurred)
        h, w = mask.shape
        raw_hb, al_hb = high_band(blurred - sharp), high_band(aligned - sharp)
        rows.append([psnr(blurred, sharp), psnr(aligned, sharp), psnr(aligned_t, toned),
                     float(np.mean(raw_hb**2)) * 1e4, float(np.mean(al_hb**2)) * 1e4,
                     float(np.mean(raw_hb[:h, :w][mask] ** 2)) * 1e4, float(np.mean(al_hb[:h, :w][mask] ** 2)) * 1e4,
                     float(np.hypot(*record.shift_yx))])
        if args.per_pair:
            print(f"  {pair.source.name:<16}" + " ".join(f"{v:8.2f}" for v in rows[-1]))
    print(f"{len(rows)} pairs from {root}; {unmoved} without a consistent global shift (left unmoved)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("| " + " | ".join(f"{v:.2f}" for v in np.mean(rows, axis=0)) + " |")
    if args.windows:
        report_windows(windows, args.windows)


if __name__ == "__main__":
    main()
