"""Issue 11 part 2: which FDIKP width learns most per CPU-hour. Validation curves of runs that
differ only in `model.widths`, against the CPU time each run consumed, as CSV and PNG.

    .venv/bin/python -m benchmarks.width_study --run x0.5=runs/width05 --run x0.75=runs/width075 \\
        --run x1=runs/width1 --samples runs/cpu_samples.csv \\
        --before width05=100:243.8 --before width075=100:297.3 --out docs/width_study

CPU time: `benchmarks.run_cpu_time` samples each run's process CPU seconds with its last logged
step; a validation at step s is placed at the CPU seconds interpolated at s. `--before
NAME=STEP:SECONDS`: the sampled process resumed NAME at STEP after SECONDS of an earlier session
(its wall time; that session ran one thread per run on its own core, so CPU ~ wall), added to
every later point; validations up to STEP are placed at their train_log wall time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.learning_curve import _rows, write_csv

COLUMNS = ["width", "run", "step", "cpu_hours", "psnr", "detail_psnr", "input_psnr", "detail_gain", "ssim"]
COLOURS = [(30, 90, 200), (200, 60, 30), (40, 150, 60), (120, 60, 160)]


def cpu_seconds_at(steps: list[int], samples: list[tuple[int, float]], before: tuple[int, float],
                   wall_at: dict[int, float]) -> list[float]:
    """CPU seconds spent when each step in `steps` was reached.

    samples: (last logged step, process CPU s) of the sampled process; before: (step the process
    started at, seconds spent before it); wall_at: train_log wall seconds per logged step."""
    start_step, spent = before
    known = sorted({start_step: 0.0, **dict(samples)}.items())
    xs, ys = np.array([k[0] for k in known], float), np.array([k[1] for k in known], float)
    out = []
    for step in steps:
        if step <= start_step and start_step > 0:
            out.append(wall_at.get(step, spent * step / start_step))
        else:
            out.append(spent + float(np.interp(step, xs, ys)))  # beyond the last sample: held (caller trims)
    return out


def study(runs: dict[str, Path], samples_csv: Path, before: dict[str, tuple[int, float]]) -> list[dict[str, object]]:
    samples = _rows(samples_csv)
    points: list[dict[str, object]] = []
    for label, run in runs.items():
        first_seen: dict[int, float] = {}  # step -> CPU s at the first sample that saw it logged
        for r in samples:
            if r["run"] == run.name and r["last_step"].isdigit():
                first_seen.setdefault(int(r["last_step"]), float(r["cpu_s"]))
        mine = sorted(first_seen.items())
        last_sampled = max((s for s, _ in mine), default=0)
        wall_at = {int(r["step"]): float(r["wall_s"]) for r in _rows(run / "train_log.csv")}
        vals = [r for r in _rows(run / "val_log.csv") if r.get("detail_psnr") and int(r["step"]) <= last_sampled]
        seconds = cpu_seconds_at([int(r["step"]) for r in vals], mine, before.get(run.name, (0, 0.0)), wall_at)
        for row, cpu in zip(vals, seconds):
            base = float(row["input_psnr"])
            points.append({"width": label, "run": run.name, "step": int(row["step"]), "cpu_hours": round(cpu / 3600, 4),
                           "psnr": float(row["psnr"]), "detail_psnr": float(row["detail_psnr"]), "input_psnr": base,
                           "detail_gain": round(float(row["detail_psnr"]) - base, 4), "ssim": row["ssim"]})
    return points


def plot(points: list[dict[str, object]], path: Path, width: int = 760, height: int = 400) -> None:
    """Detail gain (solid) and PSNR gain (thin) per width against CPU hours, drawn with Pillow."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 60, width - 20, 30, height - 45
    gains = [float(p["detail_gain"]) for p in points] + [float(p["psnr"]) - float(p["input_psnr"]) for p in points]
    x_max = max([float(p["cpu_hours"]) for p in points] + [0.1])
    y_min, y_max = min(gains + [0.0]) - 0.05, max(gains + [0.0]) + 0.05

    def xy(h: float, v: float) -> tuple[float, float]:
        return left + (right - left) * h / x_max, bottom - (bottom - top) * (v - y_min) / (y_max - y_min)

    draw.rectangle([left, top, right, bottom], outline="black")
    draw.line([xy(0, 0), xy(x_max, 0)], fill=(150, 150, 150))
    for k in range(6):
        v, h = y_min + (y_max - y_min) * k / 5, x_max * k / 5
        draw.text((5, xy(0, v)[1] - 6), f"{v:+.2f}", fill="black")
        draw.text((xy(h, y_min)[0] - 10, bottom + 5), f"{h:.2f}", fill="black")
    draw.text((left, bottom + 25), "CPU hours; dB over the blurry input on val 512px crops: detail gain (thick), "
              "PSNR gain (thin)", fill="black")
    for index, label in enumerate(dict.fromkeys(str(p["width"]) for p in points)):
        colour = COLOURS[index % len(COLOURS)]
        mine = [p for p in points if p["width"] == label]
        detail = [xy(float(p["cpu_hours"]), float(p["detail_gain"])) for p in mine]
        overall = [xy(float(p["cpu_hours"]), float(p["psnr"]) - float(p["input_psnr"])) for p in mine]
        for line, thickness in ((detail, 3), (overall, 1)):
            if len(line) > 1:
                draw.line(line, fill=colour, width=thickness)
        draw.text((left + 10 + 90 * index, top + 8), f"widths {label}", fill=colour)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=DIR")
    parser.add_argument("--samples", type=Path, default=Path("runs/cpu_samples.csv"))
    parser.add_argument("--before", action="append", default=[], metavar="NAME=STEP:SECONDS")
    parser.add_argument("--out", type=Path, default=Path("docs/width_study"))
    args = parser.parse_args()
    runs = {label: Path(path) for label, path in (item.split("=", 1) for item in args.run)}
    before = {}
    for item in args.before:
        name, value = item.split("=", 1)
        step, seconds = value.split(":")
        before[name] = (int(step), float(seconds))
    points = study(runs, args.samples, before)
    write_csv(args.out.with_suffix(".csv"), COLUMNS, points)
    plot(points, args.out.with_suffix(".png"))
    for label in runs:
        mine = [p for p in points if p["width"] == label]
        if mine:
            best = max(mine, key=lambda p: float(p["detail_gain"]))
            print(f"{label}: {len(mine)} validations to {float(mine[-1]['cpu_hours']):.2f} CPU-h; best detail gain "
                  f"{float(best['detail_gain']):+.3f} dB at step {best['step']} ({float(best['cpu_hours']):.2f} CPU-h); "
                  f"last {float(mine[-1]['detail_gain']):+.3f} dB, PSNR {float(mine[-1]['psnr']):.3f}")
    print(f"{len(points)} points -> {args.out.with_suffix('.csv')}, {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
