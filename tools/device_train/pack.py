"""Pack the real training pairs for one training call on a borrowed GPU machine.

    .venv/bin/python tools/device_train/pack.py [--pairs DIR] [--init WEIGHTS] [--quality 98]

Such a call sends the repository's working tree and the git-ignored folders it names, 64 MiB in
all (the tracked tree is ~25 MiB), and returns at most 16 MiB per file. The 38 DPDD-canon train
pairs are 71 MiB of PNG (lossless WebP: ~55 MiB), so they travel as 4:4:4 JPEG: at quality 98
the 76 images take 31.6 MiB and differ from the PNGs by 43.9 dB PSNR at worst (median 46.9 dB),
well under the captures' own noise. Writes `pack/train/source|target/NAME.jpg` (the `pairs`
layout `fdikp train` reads; `pack/` is git-ignored) and, with --init, `pack/init.safetensors`
(the weights the call starts from; without it the call starts from the shipped weights). Then
call the device with `carry: ["pack"]` and `bash tools/device_train/run.sh` (see that file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FDIKP_SHARED_DIR", ROOT.parent / "shared"))
# What one call may carry beside the tracked tree (64 MiB in all), with room for the tree's growth.
PACK_LIMIT_MIB = 38.0


def encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    flags = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, buffer = cv2.imencode(".jpg", image_bgr, flags)
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buffer.tobytes()


def psnr_8bit(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=Path, default=SHARED / "data" / "dpdd-canon-iso" / "train",
                        help="folder with source/ and target/ (default: ../shared/data/dpdd-canon-iso/train)")
    parser.add_argument("--out", type=Path, default=ROOT / "pack")
    parser.add_argument("--quality", type=int, default=98)
    parser.add_argument("--init", type=Path, help="weights file the device run starts from")
    args = parser.parse_args()
    if not (args.pairs / "source").is_dir() or not (args.pairs / "target").is_dir():
        print(f"pack: {args.pairs} has no source/ and target/ (set FDIKP_SHARED_DIR or --pairs)", file=sys.stderr)
        return 2
    if args.out.exists():
        shutil.rmtree(args.out)
    total, worst = 0, float("inf")
    for side in ("source", "target"):
        (args.out / "train" / side).mkdir(parents=True)
        for path in sorted((args.pairs / side).iterdir()):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            data = encode_jpeg(image, args.quality)
            (args.out / "train" / side / f"{path.stem}.jpg").write_bytes(data)
            worst = min(worst, psnr_8bit(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), image))
            total += len(data)
    if args.init is not None:
        shutil.copyfile(args.init, args.out / "init.safetensors")
        total += (args.out / "init.safetensors").stat().st_size
    size = total / 2**20
    print(f"pack: {args.out} holds {size:.1f} MiB; JPEG quality {args.quality}, worst image {worst:.1f} dB from its original")
    if size > PACK_LIMIT_MIB:
        print(f"pack: more than {PACK_LIMIT_MIB:g} MiB: lower --quality or the call will not fit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
