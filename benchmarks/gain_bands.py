"""Where does a model's PSNR gain come from: restored detail, or changed tones and colour?

    .venv/bin/python -m benchmarks.gain_bands [--weights W ...] [--crop 512] [--sigmas 4,8,16,32]

Defocus blur keeps a photo's content at scales much larger than the blur (its PSF has unit DC
gain and a flat transfer near zero frequency); deblurring should therefore restore detail and
leave the coarse tones alone. Real pairs (DPDD) also differ in exposure and colour between the
two captures, and a model trained on them learns to correct that too: a gain on such pairs that
is not deblurring. For each model on the real validation pairs this prints

- PSNR of the input and of the output (whole image or a centre crop);
- "locked σ": PSNR after replacing the output's Gaussian low-pass (σ px) by the input's, i.e.
  the gain left when the model is only allowed to change detail finer than ~σ;
- the output's mean colour shift against the input (R, G, B in 1/255);
- the error split at σ = 3 px: low-pass and high-pass MSE (x 1e4) of the input, then of the output.

A positive PSNR gain that vanishes when locked is tone/colour correction, not deblurring.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np
import torch

SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared"))
VAL = SHARED / "data" / "dpdd-canon-iso" / "val"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def lowpass(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def locked(output: np.ndarray, blurred: np.ndarray, sigma: float) -> np.ndarray:
    """The output with its low-pass (σ px) replaced by the input's: only detail finer than ~σ kept."""
    return np.clip(output - lowpass(output, sigma) + lowpass(blurred, sigma), 0, 1)


def band_errors(error: np.ndarray, sigma: float = 3.0) -> tuple[float, float]:
    """MSE of the low-pass and of the high-pass part of an error image (x 1e4)."""
    low = lowpass(error, sigma)
    return float(np.mean(low**2) * 1e4), float(np.mean((error - low) ** 2) * 1e4)


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    if size <= 0:
        return image
    h, w = image.shape[:2]
    top, left = (h - min(size, h)) // 2, (w - min(size, w)) // 2
    return image[top : top + size, left : left + size]


def restore(model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    from fdikp_cli.inference.restore import restore as restore_image

    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]  # (1, 3, H, W)
    with torch.no_grad():
        out = restore_image(model, tensor, tile=None)  # whole image
    out = out[0].clamp(0, 1).permute(1, 2, 0).numpy()
    return np.round(out * 255.0) / 255.0  # scored as saved: 8-bit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", nargs="+", default=[None], help="weights files (default: the shipped ones)")
    parser.add_argument("--data-root", type=Path, default=VAL, help="pairs folder with source/ and target/")
    parser.add_argument("--crop", type=int, default=512, help="centre crop side (0: whole images)")
    parser.add_argument("--sigmas", default="4,8,16,32", help="low-pass sigmas (px) for the locked PSNR")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-image", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from fdikp_cli.synth.writer import list_images, read_rgb
    from fdikp_cli.weights import load_model

    if not (args.data_root / "source").is_dir():
        raise SystemExit(f"needs {args.data_root}/source and target/ (set FDIKP_SHARED_DIR or --data-root)")
    sigmas = [float(s) for s in args.sigmas.split(",")]
    names = [p.name for p in list_images(args.data_root / "source")]
    print(f"{len(names)} pairs from {args.data_root}, {'whole images' if args.crop <= 0 else f'centre {args.crop}px'}")
    header = ["in", "out", *[f"locked {s:g}" for s in sigmas], "dR", "dG", "dB", "low in", "high in", "low out", "high out"]
    for weights in args.weights:
        loaded = load_model(weights, allow_random=False)
        rows = []
        for name in names:
            x = centre_crop(read_rgb(args.data_root / "source" / name), args.crop)
            y = centre_crop(read_rgb(args.data_root / "target" / name), args.crop)
            o = restore(loaded.model, x)
            locked_psnr = [psnr(locked(o, x, s), y) for s in sigmas]
            shift = (o.mean(axis=(0, 1)) - x.mean(axis=(0, 1))) * 255.0
            rows.append([psnr(x, y), psnr(o, y), *locked_psnr, *shift, *band_errors(x - y), *band_errors(o - y)])
            if args.per_image:
                print(f"  {name:<16}" + " ".join(f"{v:8.2f}" for v in rows[-1]))
        mean = np.mean(rows, axis=0)
        print(f"\n{weights or 'shipped weights'}")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        print("| " + " | ".join(f"{v:.2f}" for v in mean) + " |")


if __name__ == "__main__":
    main()
