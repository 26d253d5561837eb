"""Runs trained side by side, compared on whole val at equal steps: each one's curve and its gap to the first, as CSV and PNG.

    .venv/bin/python -m benchmarks.scene_curve --evals runs/evals \\
        --arm blur1 "38 scenes" --arm blur19 "19 scenes" --out docs/scene_study

Written for the scene-count study (issue 23: the same start, recipe and model on 38 and on 19
scenes), usable for any such arms. An arm is a snapshot file prefix and a label; its scored
snapshots are the `{name}_s{STEP}.json` files of the evals folder, written by
`fdikp evaluate --json-file` (whole-image PSNR, SSIM, LPIPS of the output, `mean`, and of the
blurry input, `baseline`); `_bands.json` files are not read.

OUT.csv: one row per arm and step (run, label, step, psnr, input_psnr, psnr_gain, ssim, lpips, and
psnr_vs_first / ssim_vs_first / lpips_vs_first: this arm minus the first arm at the same step, an
empty cell where the first arm has no snapshot at that step or the value is missing; numbers
rounded to 4 decimals). OUT.png: the PSNR gain over the input of each arm against step (top) and
each later arm's PSNR difference from the first (bottom), with the ±NOISE dB band dashed: val
differences inside it are noise, not results.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.band_curve import _dashed, _number
from benchmarks.learning_curve import axes, write_csv

if TYPE_CHECKING:
    from PIL import ImageDraw

COLUMNS = ["run", "label", "step", "psnr", "input_psnr", "psnr_gain", "ssim", "lpips",
           "psnr_vs_first", "ssim_vs_first", "lpips_vs_first"]
COLOURS = [(0, 0, 0), (214, 39, 40), (31, 119, 180), (44, 160, 44)]
NOISE_DB = 0.03  # the brief's line: a val difference below it is noise


@dataclass(frozen=True)
class Point:
    """One arm's scores at one step (None where the report leaves a value out)."""

    run: str
    label: str
    step: int
    psnr: float
    input_psnr: float
    ssim: float | None
    lpips: float | None

    @property
    def psnr_gain(self) -> float:
        return self.psnr - self.input_psnr


def arm_points(evals: Path, name: str, label: str) -> list[Point]:
    """The arm's scored snapshots `{name}_s{STEP}.json`, sorted by step. A malformed report raises
    ValueError naming the file."""
    pattern = re.compile(rf"{re.escape(name)}_s(\d+)\.json")
    points = []
    for path in evals.iterdir():
        match = pattern.fullmatch(path.name)
        if not match:
            continue
        try:
            report = json.loads(path.read_text())
            mean = report["mean"]
            points.append(Point(name, label, int(match[1]), float(mean["psnr"]), float(report["baseline"]["psnr"]),
                                _number(mean.get("ssim")), _number(mean.get("lpips"))))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: {type(error).__name__} {error}") from None
    return sorted(points, key=lambda p: p.step)


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def rows(arms: list[list[Point]]) -> list[dict[str, object]]:
    """CSV rows, arm by arm; the *_vs_first columns against the first arm's point at the same step."""
    first = {p.step: p for p in arms[0]} if arms else {}

    def cell(value: float | None) -> object:
        return "" if value is None else round(value, 4) + 0.0  # + 0.0: no "-0.0" cells

    out = []
    for points in arms:
        for p in points:
            ref = first.get(p.step)
            out.append({
                "run": p.run, "label": p.label, "step": p.step, "psnr": cell(p.psnr), "input_psnr": cell(p.input_psnr),
                "psnr_gain": cell(p.psnr_gain), "ssim": cell(p.ssim), "lpips": cell(p.lpips),
                "psnr_vs_first": cell(None if ref is None else p.psnr - ref.psnr),
                "ssim_vs_first": cell(None if ref is None else _difference(p.ssim, ref.ssim)),
                "lpips_vs_first": cell(None if ref is None else _difference(p.lpips, ref.lpips)),
            })
    return out


def _polyline(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], colour: tuple[int, int, int]) -> None:
    """A 2 px line through `points` (px) with a dot at each."""
    if len(points) > 1:
        draw.line(points, fill=colour, width=2)
    for x, y in points:
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)


def plot(arms: list[list[Point]], path: Path, width: int = 900, height: int = 560, noise: float = NOISE_DB) -> None:
    """Top: each arm's PSNR gain over the input (dB) against step. Bottom: each later arm minus the
    first at the steps both have, the ±noise band dashed. A legend on the right with each arm's last
    gain and last difference. Drawn with Pillow."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right = 60, width - 200
    x_max = float(max([p.step for points in arms for p in points] + [1]))
    first = {p.step: p for p in arms[0]} if arms else {}
    gaps = [[(p.step, p.psnr - first[p.step].psnr) for p in points if p.step in first] for points in arms[1:]]

    gains = [p.psnr_gain for points in arms for p in points] + [0.0]
    top_box = (left, right, 40, height // 2 - 30)
    xy = axes(draw, top_box, (0.0, x_max), (min(gains) - 0.05, max(gains) + 0.05), "{:.0f}")
    draw.text((left, 6), "whole-val PSNR gain over the blurry input (dB), each arm", fill="black")
    # Symmetric about 0 in steps of 0.025 dB, so that the six ticks fall on odd hundredths (±0.01,
    # ±0.03, ±0.05 for a bound of 0.05) and the noise lines on ticks.
    largest = max([abs(d) for gap in gaps for _, d in gap] + [noise])
    bound = 0.025 * math.ceil((largest + 0.005) / 0.025)
    bottom_box = (left, right, height // 2 + 20, height - 50)
    xy_gap = axes(draw, bottom_box, (0.0, x_max), (-bound, bound), "{:.0f}")
    draw.text((left, height // 2 - 6), f"difference from {arms[0][0].label if arms and arms[0] else 'the first arm'} "
              f"(dB); dashed: +-{noise} dB, noise", fill="black")
    draw.text((left, height - 28), "training step", fill="black")
    for sign in (1, -1):
        _dashed(draw, left + 1, right - 1, xy_gap(0.0, sign * noise)[1], (120, 120, 120))

    for k, points in enumerate(arms):
        colour = COLOURS[k % len(COLOURS)]
        _polyline(draw, [xy(p.step, p.psnr_gain) for p in points], colour)
        legend = f"{points[0].label}  {points[-1].psnr_gain:+.3f}" if points else "(no snapshots)"
        if k > 0 and gaps[k - 1]:
            _polyline(draw, [xy_gap(step, d) for step, d in gaps[k - 1]], colour)
            legend += f"  ({gaps[k - 1][-1][1]:+.3f} at {gaps[k - 1][-1][0]})"
        legend_y = 48 + 18 * k
        draw.line([(right + 10, legend_y + 6), (right + 30, legend_y + 6)], fill=colour, width=2)
        draw.text((right + 36, legend_y), legend, fill=colour)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evals", type=Path, default=Path("runs/evals"), help="folder of NAME_sSTEP.json")
    parser.add_argument("--arm", nargs=2, action="append", required=True, metavar=("NAME", "LABEL"),
                        help="a snapshot prefix and its label; the first arm is the reference (give it twice or more)")
    parser.add_argument("--out", type=Path, default=Path("docs/scene_study"), help="OUT.csv and OUT.png")
    args = parser.parse_args()
    if len(args.arm) < 2:
        raise SystemExit("scene_curve: give at least two --arm NAME LABEL (the first is the reference)")
    try:
        arms = [arm_points(args.evals, name, label) for name, label in args.arm]
    except (OSError, ValueError) as error:
        raise SystemExit(f"scene_curve: {error}") from None
    for (name, _), points in zip(args.arm, arms):
        if not points:
            raise SystemExit(f"scene_curve: no scored snapshots {name}_s<STEP>.json in {args.evals}")
    table = rows(arms)
    write_csv(args.out.with_suffix(".csv"), COLUMNS, table)
    plot(arms, args.out.with_suffix(".png"))
    print(f"{len(table)} rows -> {args.out.with_suffix('.csv')}, {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
