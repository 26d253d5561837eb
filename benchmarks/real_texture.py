"""Texture added to real photos with no ground truth: where, and of what kind.

    .venv/bin/python -m benchmarks.real_texture --inputs runs/photos --outputs default=runs/photos_out/default \\
        --outputs perceptual=runs/photos_out/perceptual

For each photo and each model's output (`fdikp deblur` writes NAME_deblurred.png), the luma is cut
into 32 px blocks, ranked by the *input's* mean |Laplacian|: the lowest half are called
"defocused" (little fine detail left), the top fifth "sharp". Per class, the ratio output/input
of the mean |Laplacian| ("texture") and of the mean |2x2 checkerboard filter| ("checker": the
response to a pixel-period pattern, which transposed convolutions and adversarial training can
leave behind). Averaged over the photos. A deblurring model should raise texture in defocused
blocks more than in sharp ones, and checker no more than texture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

BLOCK = 32
CHECKER = np.array([[1.0, -1.0], [-1.0, 1.0]], dtype=np.float32) / 4.0


def luma(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) / scale


def block_means(values: np.ndarray) -> np.ndarray:
    """Mean of |values| per BLOCK x BLOCK block (partial blocks dropped). -> (rows, cols)."""
    h, w = (values.shape[0] // BLOCK) * BLOCK, (values.shape[1] // BLOCK) * BLOCK
    blocks = np.abs(values[:h, :w]).reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    return blocks.mean(axis=(1, 3))


def responses(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    laplacian = cv2.Laplacian(image, cv2.CV_32F, ksize=1)
    checker = cv2.filter2D(image, cv2.CV_32F, CHECKER)
    return block_means(laplacian), block_means(checker)


def photo_ratios(source: Path, output: Path) -> dict[str, float]:
    x, y = luma(source), luma(output)
    if x.shape != y.shape:
        raise SystemExit(f"{output} is {y.shape[::-1]}, its input {x.shape[::-1]}")
    tex_in, chk_in = responses(x)
    tex_out, chk_out = responses(y)
    order = np.argsort(tex_in.ravel())
    classes = {"defocused": order[: len(order) // 2], "sharp": order[-max(1, len(order) // 5):]}
    ratios = {}
    for name, index in classes.items():
        ratios[f"{name} texture"] = float(tex_out.ravel()[index].mean() / max(tex_in.ravel()[index].mean(), 1e-8))
        ratios[f"{name} checker"] = float(chk_out.ravel()[index].mean() / max(chk_in.ravel()[index].mean(), 1e-8))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=Path, required=True, help="folder of the photos given to fdikp deblur")
    parser.add_argument("--outputs", action="append", default=[], metavar="NAME=DIR", required=True)
    parser.add_argument("--suffix", default="_deblurred", help="deblur's output suffix")
    args = parser.parse_args()
    photos = sorted(p for p in args.inputs.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
    header = ["defocused texture", "defocused checker", "sharp texture", "sharp checker"]
    print(f"{len(photos)} photos from {args.inputs}; ratios output / input, mean over photos")
    print("| model | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(header))
    for spec in args.outputs:
        name, folder = spec.split("=", 1)
        rows = []
        for photo in photos:
            matches = sorted(Path(folder).glob(f"{photo.stem}{args.suffix}.*"))
            matches = [m for m in matches if "_compare" not in m.name]
            if not matches:
                raise SystemExit(f"no output for {photo.name} in {folder}")
            rows.append(photo_ratios(photo, matches[0]))
        print(f"| {name} | " + " | ".join(f"{np.mean([r[h] for r in rows]):.3f}" for h in header) + " |")


if __name__ == "__main__":
    main()
