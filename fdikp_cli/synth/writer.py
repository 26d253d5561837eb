"""Write a folder of synthetic pairs in the `pairs` layout that `train` and `evaluate` read.

    OUT_DIR/source/00000_kodim01.png   defocused input, 8-bit RGB PNG
    OUT_DIR/target/00000_kodim01.png   sharp target, 8-bit RGB PNG
    OUT_DIR/radius/00000_kodim01.png   circle-of-confusion radius, 16-bit grey PNG:
                                       radius_px = value / RADIUS_PNG_SCALE (1/1000 px steps, max 65.5 px)
    OUT_DIR/synth.json                 the config, seed and scale that made them

Photos are read as `deblur` reads them (fdikp_cli.imageio): upright, and refused from their
header above its pixel limit (a decompression bomb), so a bad photo is one skipped line.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from fdikp_cli.errors import DatasetError, ImageReadError, ImageWriteError
from fdikp_cli.imageio import DEFAULT_MAX_PIXELS, SUPPORTED_EXTENSIONS, read_rgb_pixels
from fdikp_cli.synth.config import SynthConfig
from fdikp_cli.synth.engine import synthesize_pair

RADIUS_PNG_SCALE = 1000.0
IMAGE_SUFFIXES = tuple(sorted(SUPPORTED_EXTENSIONS))  # what read_rgb can read


@dataclass
class SynthFolderReport:
    """What `write_synth_folder` did: pairs written and images skipped (path, reason)."""

    out_dir: Path
    written: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` and below, sorted by path."""
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an 8- or 16-bit image as upright RGB float32 in [0, 1]. Shape: -> (H, W, 3).
    Raises ImageReadError (unreadable, or more than `max_pixels` by its header)."""
    pixels = read_rgb_pixels(path, max_pixels=max_pixels)
    peak = np.float32(65535.0 if pixels.dtype == np.uint16 else 255.0)
    return pixels.astype(np.float32) / peak


def _write_png(path: Path, array: np.ndarray) -> None:
    if not cv2.imwrite(str(path), array):
        raise ImageWriteError(f"cannot write {path}")


def _random_crop(image: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """A size x size crop at a random place (the whole side where the image is smaller)."""
    if size is None:
        return image
    height, width = image.shape[:2]
    ch, cw = min(size, height), min(size, width)
    top, left = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
    return image[top : top + ch, left : left + cw]


def write_synth_folder(
    sharp_dir: Path,
    out_dir: Path,
    count: int,
    seed: int = 0,
    crop: int | None = None,
    config: SynthConfig = SynthConfig(),
    on_skip: Callable[[Path, str], None] | None = None,
    on_pair: Callable[[int, int], None] | None = None,
) -> SynthFolderReport:
    """Make `count` pairs from the photos in `sharp_dir`, cycling through them.

    Pair i uses its own generator seeded by (seed, i), so any pair can be remade alone and the
    folder does not depend on how many pairs came before. Unreadable images are reported
    through `on_skip` once and left out; `on_pair(done, count)` follows the progress. The
    output folders are made with the first pair: a run that can make none leaves nothing.
    """
    if count < 1:
        raise DatasetError(f"--count must be at least 1, got {count}")
    if crop is not None and crop < 8:
        raise DatasetError(f"--crop must be at least 8 pixels, got {crop}")
    candidates = list_images(sharp_dir)
    if not candidates:
        raise DatasetError(f"no images (png, jpg, bmp, tif, webp) in {sharp_dir}")
    folders = {name: out_dir / name for name in ("source", "target", "radius")}
    # A second run into the same folder would leave the first run's extra pairs beside its
    # own (and synth.json would describe only the second): refuse instead.
    used = [f"{name}/" for name, folder in folders.items() if folder.is_dir() and any(folder.iterdir())]
    if used:
        raise DatasetError(f"{out_dir} already holds pairs ({', '.join(used)} not empty): give an empty or new folder")

    report = SynthFolderReport(out_dir=out_dir)
    usable = list(candidates)
    cursor = 0
    for index in range(count):
        rng = np.random.default_rng([seed, index])
        image = None
        while image is None:
            if not usable:
                raise DatasetError(f"none of the {len(candidates)} images in {sharp_dir} could be read")
            path = usable[cursor % len(usable)]
            try:
                image = read_rgb(path)
                if min(image.shape[:2]) < 8:
                    raise ImageReadError("smaller than 8x8 pixels")
            except ImageReadError as exc:
                reason = str(exc).removeprefix(f"{path}: ")  # the skip line names the file
                usable.remove(path)
                report.skipped.append((path, reason))
                if on_skip is not None:
                    on_skip(path, reason)
                image = None
        cursor += 1
        pair = synthesize_pair(_random_crop(image, crop, rng), rng, config)
        name = f"{index:05d}_{path.stem}.png"
        if index == 0:
            for folder in folders.values():
                folder.mkdir(parents=True, exist_ok=True)
        _write_png(folders["source"] / name, _to_bgr8(pair.blurred))
        _write_png(folders["target"] / name, _to_bgr8(pair.sharp))
        radius = np.clip(np.round(pair.radius * RADIUS_PNG_SCALE), 0, 65535).astype(np.uint16)
        _write_png(folders["radius"] / name, radius)
        report.written += 1
        if on_pair is not None:
            on_pair(index + 1, count)

    manifest = {
        "pairs": report.written,
        "seed": seed,
        "crop": crop,
        "radius_png_scale": RADIUS_PNG_SCALE,
        "radius_png_meaning": "radius_px = png_value / radius_png_scale (CoC radius of the front-most surface)",
        "config": dataclasses.asdict(config),
        "skipped": [str(path) for path, _ in report.skipped],
    }
    (out_dir / "synth.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return report


def _to_bgr8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0)[..., ::-1] * 255.0 + 0.5).astype(np.uint8)
