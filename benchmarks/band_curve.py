"""One run's learning curve by blur radius: whole-val numbers and each band's gain per snapshot, as CSV and PNG.

    .venv/bin/python -m benchmarks.band_curve --run runs/blur1 --evals runs/evals --name blur1 \\
        [--baseline runs/evals/shipped.json runs/radius_bands_default.json] \\
        [--baseline-label "run's start (round 7)"] --out weights/band_curve

A scored snapshot is a pair of files in the evals folder: `{name}_s{STEP}.json`, written by
`fdikp evaluate --json-file` (whole-image PSNR, SSIM and LPIPS of the output, `mean`, and of the
blurry input, `baseline`, over the DPDD val pairs as the protocol scores them: unregistered), and
`{name}_s{STEP}_bands.json`, written by `python -m benchmarks.radius_bands --json` (its first
model's PSNR gain over the input in each band of measured blur radius: pooled over the textured
32 px blocks of the registered pairs; and the Spearman correlation of the PAC dilation map with
that radius). A file without its partner is skipped with a note. The hours are the run's wall time
(`train_log.csv`) at the last logged step at or before the snapshot's step.

`--baseline EVALUATE BANDS` (the shipped weights' two files) adds a row with run "baseline" and
step 0, drawn as dashed horizontal lines. Writes OUT.csv (one row per snapshot, sorted by step:
run, step, hours, psnr, input_psnr, psnr_gain, ssim, lpips, one gain_<band> column per band with
CSV-safe names such as gain_r_le_2, gain_r_2_4, gain_r_gt_12, spearman_dilation; numbers rounded to
4 decimals, an empty cell where a value is missing, as the baseline's hours) and OUT.png (the gain of each band and the
whole-image PSNR gain, dB, against step).
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.learning_curve import _rows, _wall_at, axes, write_csv

if TYPE_CHECKING:
    from PIL import ImageDraw

HEAD = ["run", "step", "hours", "psnr", "input_psnr", "psnr_gain", "ssim", "lpips"]
BASELINE = "baseline"
# One colour per band, in band order (smallest radius first); the whole-image gain is black.
COLOURS = [(31, 119, 180), (44, 160, 44), (255, 127, 14), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


@dataclass(frozen=True)
class Snapshot:
    """A scored snapshot's two files."""

    step: int
    evaluate: Path  # fdikp evaluate --json-file
    bands: Path  # benchmarks.radius_bands --json


@dataclass(frozen=True)
class Score:
    """One row of the curve. Values a file leaves out (or holds as null) are None."""

    run: str
    step: int
    hours: float | None  # None for the baseline (trained elsewhere)
    psnr: float
    input_psnr: float
    ssim: float | None
    lpips: float | None
    band_gains: dict[str, float | None]  # band name ("r<=2", "2<r<=4", ...) -> dB, in band order
    spearman_dilation: float | None

    @property
    def psnr_gain(self) -> float:
        return self.psnr - self.input_psnr


def find_snapshots(evals: Path, name: str) -> tuple[list[Snapshot], list[str]]:
    """The snapshots of `name` in `evals` that have both files, sorted by step, and a note for
    each step that has only one of them."""
    pattern = re.compile(rf"{re.escape(name)}_s(\d+)(_bands)?\.json")
    files: dict[int, dict[bool, Path]] = {}
    for path in evals.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            files.setdefault(int(match[1]), {})[match[2] is not None] = path
    snapshots, notes = [], []
    for step, pair in sorted(files.items()):
        if len(pair) == 2:
            snapshots.append(Snapshot(step, pair[False], pair[True]))
        else:
            missing = f"{name}_s{step}.json" if True in pair else f"{name}_s{step}_bands.json"
            notes.append(f"note: {next(iter(pair.values())).name} has no {missing} beside it; step {step} skipped")
    return snapshots, notes


def band_key(band: str) -> str:
    """A band name made CSV-safe: 'r<=2' -> 'r_le_2', '2<r<=4' -> 'r_2_4', 'r>12' -> 'r_gt_12'
    (a decimal point becomes 'p': 'r<=2.5' -> 'r_le_2p5'); other names: non-word runs -> '_'."""
    text = band.replace(".", "p")
    for form, key in ((r"r<=(\w+)", "r_le_{}"), (r"r>(\w+)", "r_gt_{}"), (r"(\w+)<r<=(\w+)", "r_{}_{}")):
        match = re.fullmatch(form, text.replace(" ", ""))
        if match:
            return key.format(*match.groups())
    return re.sub(r"\W+", "_", text).strip("_")


def _number(value: object) -> float | None:
    """A JSON number as float; None for null, missing or non-finite."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def read_score(run: str, step: int, hours: float | None, evaluate: dict, bands: dict) -> Score:
    """A Score from an evaluate report (`mean`, `baseline`) and a radius_bands report (its first model)."""
    mean, model = evaluate["mean"], bands["models"][0]
    return Score(
        run=run, step=step, hours=hours,
        psnr=float(mean["psnr"]), input_psnr=float(evaluate["baseline"]["psnr"]),
        ssim=_number(mean.get("ssim")), lpips=_number(mean.get("lpips")),
        band_gains={b["band"]: _number(b.get("gain")) for b in model["bands"]},
        spearman_dilation=_number(model.get("spearman_dilation")),
    )


def columns(scores: list[Score]) -> list[str]:
    """The CSV header: HEAD, one gain_<band> column per band (in order of first appearance), spearman_dilation."""
    bands = dict.fromkeys(band for s in scores for band in s.band_gains)
    return HEAD + [f"gain_{band_key(b)}" for b in bands] + ["spearman_dilation"]


def csv_row(score: Score) -> dict[str, object]:
    """One CSV row: numbers rounded to 4 decimals, '' for a missing value."""

    def cell(value: float | None) -> object:
        return "" if value is None else round(value, 4)

    row: dict[str, object] = {
        "run": score.run, "step": score.step, "hours": cell(score.hours), "psnr": cell(score.psnr),
        "input_psnr": cell(score.input_psnr), "psnr_gain": cell(score.psnr_gain), "ssim": cell(score.ssim),
        "lpips": cell(score.lpips),
    }
    row.update({f"gain_{band_key(b)}": cell(g) for b, g in score.band_gains.items()})
    row["spearman_dilation"] = cell(score.spearman_dilation)
    return row


def _read(run: str, step: int, hours: float | None, files: tuple[Path, Path]) -> Score:
    """read_score on the two files (evaluate, bands); a malformed file raises ValueError naming the files."""
    try:
        return read_score(run, step, hours, *(json.loads(path.read_text()) for path in files))
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise ValueError(f"{files[0]}, {files[1]}: {type(error).__name__} {error}") from None


def curve(run: Path, evals: Path, name: str,
          baseline: tuple[Path, Path] | None = None) -> tuple[list[Score], list[str]]:
    """The baseline's Score (if given) and the run's snapshots' Scores sorted by step, and the notes
    of skipped files. Hours: the run's wall time at the last logged step at or before each snapshot."""
    train_rows = _rows(run / "train_log.csv")
    snapshots, notes = find_snapshots(evals, name)
    scores = [] if baseline is None else [_read(BASELINE, 0, None, baseline)]
    for snap in snapshots:
        hours = round(_wall_at(train_rows, snap.step) / 3600.0, 3)
        scores.append(_read(run.name, snap.step, hours, (snap.evaluate, snap.bands)))
    return scores, notes


def _dashed(draw: ImageDraw.ImageDraw, x0: float, x1: float, y: float, fill: tuple[int, int, int],
            dash: int = 7, gap: int = 5) -> None:
    """A horizontal dashed line from x0 to x1 at y (px)."""
    x = x0
    while x < x1:
        draw.line([(x, y), (min(x + dash, x1), y)], fill=fill, width=2)
        x += dash + gap


def plot(scores: list[Score], path: Path, width: int = 900, height: int = 420,
         baseline_label: str = "baseline weights") -> None:
    """The gain of each band (coloured) and the whole-image PSNR gain (black) against step, a
    baseline Score as dashed lines of the same colours, a legend on the right with each line's
    last value; drawn with Pillow."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 60, width - 190, 46, height - 50
    points = sorted((s for s in scores if s.run != BASELINE), key=lambda s: s.step)
    reference = next((s for s in scores if s.run == BASELINE), None)
    bands = list(dict.fromkeys(band for s in scores for band in s.band_gains))
    series = [(f"{b} px", COLOURS[k % len(COLOURS)], lambda s, b=b: s.band_gains.get(b)) for k, b in enumerate(bands)]
    series.append(("whole image", (0, 0, 0), lambda s: s.psnr_gain))
    values = [v for s in scores for _, _, get in series if (v := get(s)) is not None] + [0.0]
    x_max = max([s.step for s in points] + [1])
    xy = axes(draw, (left, right, top, bottom), (0.0, x_max), (min(values) - 0.1, max(values) + 0.1), "{:.0f}")

    run = points[0].run if points else ""
    draw.text((left, 6), f"{run}: PSNR gain over the blurry input by measured blur radius", fill="black")
    draw.text((5, top - 22), "gain (dB)", fill="black")
    draw.text((left, bottom + 22), "training step.  Bands: textured 32 px blocks of the registered val pairs "
              "(radius_bands); whole image: fdikp evaluate", fill="black")
    for k, (label, colour, get) in enumerate(series):
        thick = 3 if label == "whole image" else 2
        line = [xy(s.step, v) for s in points if (v := get(s)) is not None]
        if len(line) > 1:
            draw.line(line, fill=colour, width=thick)
        for x, y in line:
            draw.ellipse([x - thick - 1, y - thick - 1, x + thick + 1, y + thick + 1], fill=colour)
        if reference is not None and (v := get(reference)) is not None:
            _dashed(draw, left + 1, right - 1, xy(0.0, v)[1], colour)
        legend_y = top + 8 + 18 * k
        draw.line([(right + 12, legend_y + 6), (right + 36, legend_y + 6)], fill=colour, width=thick)
        last = get(points[-1]) if points else None
        draw.text((right + 44, legend_y), label if last is None else f"{label}  {last:+.2f}", fill=colour)
    if reference is not None:
        legend_y = top + 8 + 18 * len(series) + 6
        _dashed(draw, right + 12, right + 36, legend_y + 6, (90, 90, 90))
        draw.text((right + 44, legend_y), baseline_label, fill=(90, 90, 90))
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="the run folder (its train_log.csv gives the hours)")
    parser.add_argument("--evals", type=Path, default=Path("runs/evals"), help="folder of NAME_sSTEP[_bands].json")
    parser.add_argument("--name", required=True, help="the snapshots' file prefix, e.g. blur1")
    parser.add_argument("--baseline", type=Path, nargs=2, default=None, metavar=("EVALUATE", "BANDS"),
                        help="the shipped weights' evaluate and radius_bands JSON: dashed reference lines")
    parser.add_argument("--baseline-label", default="baseline weights",
                        help="what the dashed lines are, for the legend (e.g. the run's start file)")
    parser.add_argument("--out", type=Path, default=Path("weights/band_curve"), help="OUT.csv and OUT.png")
    args = parser.parse_args()
    try:
        scores, notes = curve(args.run, args.evals, args.name, tuple(args.baseline) if args.baseline else None)
    except (OSError, ValueError) as error:
        raise SystemExit(f"band_curve: {error}") from None
    for note in notes:
        print(note)
    if not any(s.run != BASELINE for s in scores):
        raise SystemExit(f"no scored snapshots {args.name}_s<STEP>.json with _bands.json in {args.evals}")
    write_csv(args.out.with_suffix(".csv"), columns(scores), (csv_row(s) for s in scores))
    plot(scores, args.out.with_suffix(".png"), baseline_label=args.baseline_label)
    print(f"{len(scores)} rows -> {args.out.with_suffix('.csv')}, {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
