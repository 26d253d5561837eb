"""The shipped weights' learning curve: validation against step and training hours, as CSV and PNG.

    .venv/bin/python -m benchmarks.learning_curve runs/alignC [runs/NEXT ...] --out weights/learning_curve
    .venv/bin/python -m benchmarks.learning_curve runs/alignE --after weights/learning_curve.csv --out weights/learning_curve

Each run folder's `val_log.csv` (written by `fdikp train`) gives PSNR, detail PSNR (output
low-pass locked to the input's, σ 8 px), the blurred input's PSNR and LPIPS at each validation;
`train_log.csv` gives the wall time at each logged step. Runs are chained in the order given
(each continuing from the previous one's weights): steps and hours accumulate; `--after CSV`
continues a curve written earlier whose run folders are gone. Writes
OUT.csv and OUT.png (gain over the input in dB against hours of training on this project's
2-core CPU machine; the step axis is in the CSV).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import ImageDraw

COLUMNS = ["run", "model", "step", "total_step", "hours", "psnr", "input_psnr", "psnr_gain", "detail_psnr",
           "detail_gain", "ssim", "lpips"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, columns: list[str], rows: Iterable[dict[str, object]]) -> None:
    """`rows` as CSV under the header `columns`; a key a row lacks is an empty cell."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _wall_at(train_rows: list[dict[str, str]], step: int) -> float:
    """Wall seconds at `step` (the last logged step at or before it)."""
    best = 0.0
    for row in train_rows:
        if int(row["step"]) <= step:
            best = float(row["wall_s"])
    return best


def chain(runs: list[Path], before: list[dict[str, object]] | None = None) -> list[dict[str, object]]:
    """Points of `runs` in order, continuing after `before` (earlier points, e.g. a curve whose
    run folders are gone): steps and hours start where its last point ended."""
    points: list[dict[str, object]] = list(before or [])
    step_offset = int(points[-1]["total_step"]) if points else 0
    hour_offset = float(points[-1]["hours"]) if points else 0.0
    for run in runs:
        train_rows = _rows(run / "train_log.csv")
        last_step = 0
        for row in _rows(run / "val_log.csv"):
            if not row.get("detail_psnr"):
                continue
            step = int(row["step"])
            last_step = max(last_step, step)
            psnr, base, detail = float(row["psnr"]), float(row["input_psnr"]), float(row["detail_psnr"])
            points.append({
                "run": run.name, "model": row["model"], "step": step, "total_step": step_offset + step,
                "hours": round(hour_offset + _wall_at(train_rows, step) / 3600.0, 3),
                "psnr": psnr, "input_psnr": base, "psnr_gain": round(psnr - base, 4), "detail_psnr": detail,
                "detail_gain": round(detail - base, 4), "ssim": row["ssim"], "lpips": row.get("lpips", ""),
            })
        step_offset += last_step
        hour_offset += _wall_at(train_rows, last_step) / 3600.0
    return points


def axes(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], x_range: tuple[float, float],
         y_range: tuple[float, float], x_format: str = "{:.1f}") -> Callable[[float, float], tuple[float, float]]:
    """A frame at box = (left, right, top, bottom) px, a grey line at y = 0 and six ticks per axis
    (y as signed dB, x in `x_format`); returns the map from data (x, y) to pixels."""
    left, right, top, bottom = box
    (x_min, x_max), (y_min, y_max) = x_range, y_range

    def xy(x: float, y: float) -> tuple[float, float]:
        return (left + (right - left) * (x - x_min) / (x_max - x_min),
                bottom - (bottom - top) * (y - y_min) / (y_max - y_min))

    draw.rectangle([left, top, right, bottom], outline="black")
    draw.line([xy(x_min, 0), xy(x_max, 0)], fill=(150, 150, 150))
    for k in range(6):
        y = y_min + (y_max - y_min) * k / 5
        draw.text((5, xy(x_min, y)[1] - 6), f"{y:+.2f}", fill="black")
        x = x_min + (x_max - x_min) * k / 5
        draw.text((xy(x, y_min)[0] - 10, bottom + 5), x_format.format(x), fill="black")
    return xy


def plot(points: list[dict[str, object]], path: Path, width: int = 760, height: int = 380) -> None:
    """Two lines (PSNR gain, detail gain, dB) against hours, drawn with Pillow (no plotting library)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 60, width - 20, 30, height - 45
    hours = [float(p["hours"]) for p in points]
    values = [float(p[k]) for p in points for k in ("psnr_gain", "detail_gain")] + [0.0]
    xy = axes(draw, (left, right, top, bottom), (0.0, max(hours + [0.1])), (min(values) - 0.05, max(values) + 0.05))
    draw.text((left, bottom + 25), "hours of training (2 CPU cores); dB over the blurry input, val 512px crops",
              fill="black")
    for key, colour, label in (("psnr_gain", (30, 90, 200), "PSNR gain"), ("detail_gain", (200, 60, 30), "detail gain")):
        line = [xy(float(p["hours"]), float(p[key])) for p in points if p["model"] == "train"]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for p in points:
            x, y = xy(float(p["hours"]), float(p[key]))
            r = 5 if p["model"] != "train" else 2
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        draw.text((left + 10, top + (10 if key == "psnr_gain" else 24)), label, fill=colour)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, in training order")
    parser.add_argument("--out", type=Path, default=Path("weights/learning_curve"), help="OUT.csv and OUT.png")
    parser.add_argument("--after", type=Path, default=None,
                        help="a curve CSV written earlier: the runs continue it (for rounds whose folders are gone)")
    args = parser.parse_args()
    before = _rows(args.after) if args.after is not None else None
    points = chain(args.runs, before)
    if not points:
        raise SystemExit("no validation rows with detail PSNR in these runs")
    write_csv(args.out.with_suffix(".csv"), COLUMNS, points)
    plot(points, args.out.with_suffix(".png"))
    print(f"{len(points)} points -> {args.out.with_suffix('.csv')}, {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
