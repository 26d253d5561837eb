"""How much could a deblurring model gain on these pairs at most? A per-patch oracle filter.

    .venv/bin/python -m benchmarks.oracle_ceiling [--data-root DIR] [--crop 512] [--patch 64] [--taps 9]

For each (blurred, sharp) pair, each channel and each PATCH x PATCH block, the K x K linear
filter plus offset that maps the blurred capture to the sharp one best (ridge least squares) is
fitted *on that block's own target*: an oracle, which no model can be. Three oracles:

- tone: gain and offset only (K = 1): what exposure and colour alone are worth, block by block;
- zero-phase: a point-symmetric filter, i.e. a spatially varying deconvolution that cannot move
  the image: roughly the most a linear deblurring of each block can restore;
- free: any filter, which can also undo the sub-pixel shift and the asymmetric part of the blur
  between the two captures: the gap to zero-phase is what misalignment and blur asymmetry hold.

Each is scored as PSNR and as "locked σ 32" PSNR (its Gaussian low-pass replaced by the input's,
as `benchmarks.gain_bands` scores a model), so that a model's locked gain can be read as a share
of the zero-phase oracle's. The oracles are linear and see the target: a trained model is neither,
so this is a scale for a model's gain, not a proof of a bound.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.gain_bands import VAL, centre_crop, locked, psnr

LOCK_SIGMA = 32.0


def neighbourhoods(channel: np.ndarray, taps: int) -> np.ndarray:
    """(H, W) -> (H, W, taps * taps): each pixel's taps x taps neighbourhood, reflect-padded."""
    radius = taps // 2
    padded = np.pad(channel, radius, mode="reflect")
    height, width = channel.shape
    return np.stack([padded[dy : dy + height, dx : dx + width] for dy in range(taps) for dx in range(taps)], -1)


def zero_phase_basis(taps: int) -> np.ndarray:
    """(taps * taps, M) 0/1 matrix tying each tap to its point mirror: filters k(-u) = k(u)."""
    count = taps * taps
    columns = []
    for index in range((count + 1) // 2):  # tap i and its mirror count-1-i share one parameter
        column = np.zeros(count)
        column[[index, count - 1 - index]] = 1.0
        columns.append(column)
    return np.stack(columns, 1)


def oracle_filter(blurred: np.ndarray, sharp: np.ndarray, patch: int, taps: int, zero_phase: bool,
                  ridge: float = 1e-4) -> np.ndarray:
    """(H, W, C) float64 pair -> (H, W, C): each block filtered by its own best filter + offset.

    Shape: the block grid is PATCH px; the last row and column of blocks may be smaller."""
    out = np.empty_like(blurred)
    basis = zero_phase_basis(taps) if zero_phase else None
    height, width = blurred.shape[:2]
    for c in range(blurred.shape[2]):
        features = neighbourhoods(blurred[:, :, c], taps)
        if basis is not None:
            features = features @ basis
        for top in range(0, height, patch):
            for left in range(0, width, patch):
                block = features[top : top + patch, left : left + patch]
                design = np.concatenate([block.reshape(-1, block.shape[-1]), np.ones((block.shape[0] * block.shape[1], 1))], 1)
                wanted = sharp[top : top + patch, left : left + patch, c].reshape(-1)
                normal = design.T @ design + ridge * np.eye(design.shape[1])  # ridge: flat blocks stay solvable
                coefficients = np.linalg.solve(normal, design.T @ wanted)
                out[top : top + patch, left : left + patch, c] = (design @ coefficients).reshape(block.shape[:2])
    return np.clip(out, 0.0, 1.0)


def oracle_scores(blurred: np.ndarray, sharp: np.ndarray, patch: int, taps: int) -> list[float]:
    """[input, tone, tone locked, zero-phase, zero-phase locked, free, free locked] PSNR in dB."""
    scores = [psnr(blurred, sharp)]
    for block_taps, zero_phase in ((1, False), (taps, True), (taps, False)):
        output = oracle_filter(blurred, sharp, patch, block_taps, zero_phase)
        scores += [psnr(output, sharp), psnr(locked(output, blurred, LOCK_SIGMA), sharp)]
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=VAL, help="pairs folder with source/ and target/")
    parser.add_argument("--crop", type=int, default=512, help="centre crop side (0: whole images)")
    parser.add_argument("--patch", type=int, default=64, help="block side (px) each oracle filter is fitted on")
    parser.add_argument("--taps", type=int, default=9, help="filter side (odd)")
    parser.add_argument("--per-image", action="store_true")
    args = parser.parse_args()
    if args.taps < 1 or args.taps % 2 == 0:
        raise SystemExit("--taps must be odd and positive")
    if not (args.data_root / "source").is_dir():
        raise SystemExit(f"needs {args.data_root}/source and target/ (set FDIKP_SHARED_DIR or --data-root)")
    from fdikp_cli.synth.writer import list_images, read_rgb

    names = [p.name for p in list_images(args.data_root / "source")]
    print(f"{len(names)} pairs from {args.data_root}, {'whole images' if args.crop <= 0 else f'centre {args.crop}px'}, "
          f"{args.patch}px blocks, {args.taps}x{args.taps} taps")
    rows = []
    for name in names:
        blurred = centre_crop(read_rgb(args.data_root / "source" / name), args.crop).astype(np.float64)
        sharp = centre_crop(read_rgb(args.data_root / "target" / name), args.crop).astype(np.float64)
        rows.append(oracle_scores(blurred, sharp, args.patch, args.taps))
        if args.per_image:
            print(f"  {name:<16}" + " ".join(f"{v:8.2f}" for v in rows[-1]))
    header = ["in", "tone", "tone locked", "zero-phase", "zero-phase locked", "free", "free locked"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("| " + " | ".join(f"{v:.2f}" for v in np.mean(rows, axis=0)) + " |")


if __name__ == "__main__":
    main()
