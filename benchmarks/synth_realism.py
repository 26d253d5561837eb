"""Is the synthetic defocus realistic? Real DPDD pairs vs synthetic pairs, side by side.

    .venv/bin/python -m benchmarks.synth_realism [--crops 4] [--max-radius R] [--full]

Real: the 38 DPDD Canon train pairs (1024x683, ../shared/data/dpdd-canon-iso/train).
Synthetic, same content: each real pair's sharp target defocused by `synthesize_pair`, so any
difference comes from the blur model, not from the scenes. Synthetic, other photos: the sharp
photos of ../shared/data/sharp (no real counterpart; shows how content changes the numbers).

Everything is measured on random 256x256 crops (the same crop of blurred and sharp), because
training sees crops: the blur a model meets per crop in training should match what real
photos show per crop at inference resolution. `--full` adds whole-image PSNR of the 38 pairs.

Statistics, each chosen because it sees a different side of "how blurred":
- PSNR blurred vs sharp (dB): overall strength, the number the deblurring baseline quotes;
  also after matching the blurred crop's per-channel mean to the sharp one (real pairs carry
  exposure differences that are not blur and that the engine rightly does not imitate).
- Spectrum falloff (dB): radially averaged power spectrum of blurred / sharp in frequency
  bands (cycles/px); a defocus PSF is a low-pass filter, and this is its average gain.
- Gradient magnitude: mean and 99th percentile of |grad| of blurred relative to sharp
  (the mean follows textures, the 99th percentile follows the strongest edges).
- Noise sigma of the blurred and of the sharp image (8-bit units, Immerkaer on flat areas);
  real blurred photos are noisy too.
- Local blur radius (px): per 32x32 textured patch, the disc radius that best turns the
  sharp patch into the blurred one; the share of in-focus patches (radius <= 1) and the
  median / 90th / 99th percentile of the defocused ones (after matching the blurred image's
  mean to the sharp one's in linear light: real pairs differ in exposure by up to 13 %).
  This sets the default max radius.
- Target detail (dB): power of the sharp crop at 0.25-0.5 c/px relative to 0.05-0.1 c/px.
  Not a property of the blur but of the targets the model learns to produce: targets softer
  than real ones teach the model that softness is "sharp". `--sharp-scale 0.6,1` shows the
  photos of sharp/ as training sees them with `data.sharp_scale`.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from fdikp_cli.data.augment import random_scaled_window
from fdikp_cli.synth import SynthConfig, synthesize_pair
from fdikp_cli.synth.noise import estimate_noise_sigma
from fdikp_cli.synth.psf import PsfShape, psf_kernel
from fdikp_cli.synth.srgb import srgb_to_linear
from fdikp_cli.synth.writer import list_images, read_rgb

SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", Path(__file__).resolve().parent.parent.parent / "shared"))
BANDS = [(0.02, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 0.35), (0.35, 0.5)]
PROBE_RADII = np.array([0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 19, 22, 26, 30, 35], dtype=np.float32)
CROP = 256
PATCH = 32


@dataclass
class Stats:
    """Per-crop numbers of one set of pairs."""

    psnr: list[float] = field(default_factory=list)
    psnr_matched: list[float] = field(default_factory=list)
    noise_sharp: list[float] = field(default_factory=list)
    falloff: list[np.ndarray] = field(default_factory=list)
    grad_mean: list[float] = field(default_factory=list)
    grad_p99: list[float] = field(default_factory=list)
    noise: list[float] = field(default_factory=list)
    radii: list[float] = field(default_factory=list)
    target_detail: list[float] = field(default_factory=list)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10.0 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def spectrum_falloff(blurred: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """10 log10 of band power ratio blurred/sharp (grey, Hann window). Shape: -> (len(BANDS),)."""
    size = blurred.shape[0]
    window = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    powers = []
    for image in (blurred, sharp):
        grey = image.mean(axis=2)
        powers.append(np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2)
    out = []
    for low, high in BANDS:
        band = (freq >= low) & (freq < high)
        out.append(10.0 * np.log10(powers[0][band].mean() / max(powers[1][band].mean(), 1e-20)))
    return np.array(out)


def band_power_ratio(image: np.ndarray, high: tuple[float, float], low: tuple[float, float]) -> float:
    """10 log10 of the mean grey power in band `high` over band `low` (cycles/px, Hann window)."""
    size = image.shape[0]
    window = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
    grey = image.mean(axis=2)
    power = np.abs(np.fft.fft2((grey - grey.mean()) * window)) ** 2
    in_band = [power[(freq >= a) & (freq < b)].mean() for a, b in (high, low)]
    return float(10.0 * np.log10(max(in_band[0], 1e-20) / max(in_band[1], 1e-20)))


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    grey = image.mean(axis=2)
    gy, gx = np.gradient(grey)
    return np.hypot(gx, gy)


def local_radii(blurred: np.ndarray, sharp: np.ndarray) -> list[float]:
    """Best-fitting disc radius of every textured PATCH x PATCH block (linear light, grey)."""
    blurred_grey = srgb_to_linear(blurred).mean(axis=2)
    sharp_grey = srgb_to_linear(sharp).mean(axis=2)
    # Real pairs differ in exposure by up to ~13 % (shot at different apertures); left in,
    # that mismatch makes every patch look maximally blurred. Blur keeps the mean, so match it.
    blurred_grey = blurred_grey * (sharp_grey.mean() / max(float(blurred_grey.mean()), 1e-6))
    rows, cols = blurred_grey.shape[0] // PATCH, blurred_grey.shape[1] // PATCH
    errors = np.empty((len(PROBE_RADII), rows, cols), dtype=np.float64)
    disc = PsfShape(kind="disc", softness=0.7)
    for i, radius in enumerate(PROBE_RADII):
        kernel = psf_kernel(float(radius), disc)
        candidate = cv2.filter2D(sharp_grey, -1, kernel, borderType=cv2.BORDER_REFLECT)
        diff = (candidate - blurred_grey)[: rows * PATCH, : cols * PATCH] ** 2
        errors[i] = diff.reshape(rows, PATCH, cols, PATCH).mean(axis=(1, 3))
    # A patch tells its blur only if it has detail to lose: skip flat ones.
    detail = sharp_grey[: rows * PATCH, : cols * PATCH].reshape(rows, PATCH, cols, PATCH).std(axis=(1, 3))
    best = PROBE_RADII[np.argmin(errors, axis=0)]
    return [float(r) for r in best[detail > 0.02]]


def measure(stats: Stats, blurred: np.ndarray, sharp: np.ndarray) -> None:
    stats.psnr.append(psnr(blurred, sharp))
    gain = sharp.mean(axis=(0, 1)) / np.maximum(blurred.mean(axis=(0, 1)), 1e-6)
    stats.psnr_matched.append(psnr(np.clip(blurred * gain, 0.0, 1.0), sharp))
    stats.noise_sharp.append(255.0 * estimate_noise_sigma(sharp))
    stats.falloff.append(spectrum_falloff(blurred, sharp))
    grad_b, grad_s = gradient_magnitude(blurred), gradient_magnitude(sharp)
    stats.grad_mean.append(float(grad_b.mean() / max(grad_s.mean(), 1e-9)))
    stats.grad_p99.append(float(np.percentile(grad_b, 99) / max(np.percentile(grad_s, 99), 1e-9)))
    stats.noise.append(255.0 * estimate_noise_sigma(blurred))
    stats.radii.extend(local_radii(blurred, sharp))
    stats.target_detail.append(band_power_ratio(sharp, (0.25, 0.5), (0.05, 0.1)))


def random_crops(height: int, width: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    return [(int(rng.integers(0, height - CROP + 1)), int(rng.integers(0, width - CROP + 1))) for _ in range(count)]


def summarise(stats: Stats) -> dict[str, str]:
    psnrs = np.array(stats.psnr)
    falloff = np.array(stats.falloff)
    radii = np.array(stats.radii)
    defocused = radii[radii > 1.0]
    row = {
        "crops": f"{len(psnrs)}",
        "PSNR mean (dB)": f"{psnrs.mean():.2f}",
        "PSNR std": f"{psnrs.std():.2f}",
        "PSNR p10 / p90": f"{np.percentile(psnrs, 10):.1f} / {np.percentile(psnrs, 90):.1f}",
        "PSNR exposure-matched mean": f"{np.mean(stats.psnr_matched):.2f}",
    }
    for (low, high), value in zip(BANDS, falloff.mean(axis=0)):
        row[f"falloff {low:.2f}-{high:.2f} c/px (dB)"] = f"{value:.2f}"
    row["|grad| mean ratio"] = f"{np.mean(stats.grad_mean):.3f}"
    row["|grad| p99 ratio"] = f"{np.mean(stats.grad_p99):.3f}"
    row["noise sigma blurred (8-bit)"] = f"{np.median(stats.noise):.2f}"
    row["noise sigma sharp (8-bit)"] = f"{np.median(stats.noise_sharp):.2f}"
    row["target detail 0.25-0.5 vs 0.05-0.1 c/px (dB)"] = f"{np.median(stats.target_detail):.2f}"
    row["in-focus patches (r<=1)"] = f"{(radii <= 1.0).mean() * 100:.0f} %"
    if len(defocused):
        row["defocused r median / p90 / p99 (px)"] = (
            f"{np.median(defocused):.1f} / {np.percentile(defocused, 90):.1f} / {np.percentile(defocused, 99):.1f}"
        )
    return row


def print_table(columns: dict[str, dict[str, str]]) -> None:
    names = list(columns)
    keys = list(next(iter(columns.values())).keys())
    for column in columns.values():
        keys += [k for k in column if k not in keys]
    width = max(len(k) for k in keys)
    print("| " + "statistic".ljust(width) + " | " + " | ".join(names) + " |")
    print("|" + "-" * (width + 2) + "|" + "|".join("-" * (len(n) + 2) for n in names) + "|")
    for key in keys:
        cells = [columns[n].get(key, "-").rjust(len(n)) for n in names]
        print("| " + key.ljust(width) + " | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--crops", type=int, default=4, help="random 256x256 crops per image")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-radius", type=float, default=None, help="override SynthConfig.max_radius")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override any SynthConfig field"
    )
    parser.add_argument("--sharp-limit", type=int, default=40, help="photos used from shared/data/sharp")
    parser.add_argument("--full", action="store_true", help="also whole-image PSNR of the DPDD pairs")
    parser.add_argument("--sharp-scale", default="1,1", metavar="LOW,HIGH",
                        help="scale range at which sharp/ crops are taken (as data.sharp_scale in training)")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    pairs_dir = SHARED / "data" / "dpdd-canon-iso" / "train"
    sharp_dir = SHARED / "data" / "sharp"
    if not pairs_dir.is_dir():
        sys.exit(f"needs {pairs_dir} (set FDIKP_SHARED_DIR)")
    config = SynthConfig() if args.max_radius is None else replace(SynthConfig(), max_radius=args.max_radius)
    for assignment in args.set:
        key, _, value = assignment.partition("=")
        config = replace(config, **{key: type(getattr(config, key))(ast.literal_eval(value))})
    low, high = (float(v) for v in args.sharp_scale.split(","))
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()

    real, same_content, other = Stats(), Stats(), Stats()
    full_real, full_synth = [], []
    targets = list_images(pairs_dir / "target")
    for index, target_path in enumerate(targets):
        sharp = read_rgb(target_path)
        blurred = read_rgb(pairs_dir / "source" / target_path.name)
        if args.full:
            full_real.append(psnr(blurred, sharp))
            full_synth.append(psnr(synthesize_pair(sharp, [args.seed, index], config).blurred, sharp))
        for crop_index, (top, left) in enumerate(random_crops(*sharp.shape[:2], args.crops, rng)):
            sharp_crop = sharp[top : top + CROP, left : left + CROP]
            measure(real, blurred[top : top + CROP, left : left + CROP], sharp_crop)
            pair = synthesize_pair(sharp_crop, [args.seed, index, crop_index], config)
            measure(same_content, pair.blurred, pair.sharp)

    photos = [p for p in list_images(sharp_dir) if min(read_rgb(p).shape[:2]) >= CROP] if args.sharp_limit else []
    photos = photos[: args.sharp_limit]
    for index, path in enumerate(photos):
        photo = read_rgb(path)
        for crop_index in range(args.crops):
            crop = random_scaled_window(photo, CROP, (low, high), rng)
            pair = synthesize_pair(crop, [args.seed, 1000 + index, crop_index], config)
            measure(other, pair.blurred, pair.sharp)

    print(f"{config}")
    print(f"max_radius={config.max_radius}; {args.crops} crops of {CROP}x{CROP} per image; seed {args.seed}")
    columns = {"real DPDD (38)": summarise(real), "synthetic, DPDD targets": summarise(same_content)}
    if photos:
        scale = f", scale {low:g}-{high:g}" if low < 1.0 else ""
        columns[f"synthetic, sharp/ ({len(photos)}{scale})"] = summarise(other)
    print_table(columns)
    if args.full:
        print(
            f"whole-image PSNR blurred vs sharp: real {np.mean(full_real):.2f} dB, "
            f"synthetic from the same targets {np.mean(full_synth):.2f} dB "
            f"(std {np.std(full_real):.2f} vs {np.std(full_synth):.2f})"
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
