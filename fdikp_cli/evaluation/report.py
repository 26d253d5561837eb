"""The result of an evaluation: per-image scores, means (overall and per label group), the
blurry input's own scores (the baseline), and what produced them; as JSON, CSV or rich tables.

JSON shape:
    {"fdikp_version": "0.1.0", "date": ISO 8601 UTC, "device": "cpu" (where the metrics and
     the model ran), "precision": "bf16" | null (the model's; null: no model ran),
     "tiling": {"tile", "overlap", "whole_image"} | null (null: no model ran),
     "protocol": "dpdd", "protocol_description": ..., "bit_depth": 8,
     "images": [{"name", "psnr", "ssim", "mae", "lpips", "baseline": {"psnr", ...}}, ...],
     "mean": {"psnr", "ssim", "mae", "lpips"}, "baseline": {"psnr", ...}, "gain": {"psnr", ...},
     "groups": {"indoor": {"images": [...], "mean": {...}, "baseline": {...}, "gain": {...}}, ...},
     "count": N, "unscored": [{"name", "reason"}, ...], "lpips": {"directory", "origin"} | null,
     "lpips_missing": str | null, "weights": {...} | null,
     "model_run": {"device", "precision", "tone_lock"} | null, "layout": str | null, "warnings": [...],
     "partial": bool}
"lpips" is null when LPIPS was not computed, "baseline" and "gain" keys are absent when the
blurry inputs are unknown, and a non-finite value (the PSNR of identical images) is written as
null. "unscored" lists the pairs that could not be scored (sizes differ, unreadable...), each
with its reason; the means are over the scored images. "partial" is true when the run was
interrupted (Ctrl-C): the report covers the pairs finished before. The CSV has one row per image, then
"mean", "baseline" and "gain" rows (and "mean:GROUP", "gain:GROUP").
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from fdikp_cli import __version__
from fdikp_cli.errors import FdikpError, OutputWriteError
from fdikp_cli.file_mode import check_writable_folder, folder_problem, replaced_atomically

if TYPE_CHECKING:
    from rich.table import Table

METRICS = ("psnr", "ssim", "mae", "lpips")
# LPIPS with the SqueezeNet backbone, when asked for beside AlexNet (`evaluate --lpips-net both`).
SQUEEZE_METRIC = "lpips_squeeze"


@dataclass(frozen=True)
class Scores:
    psnr: float
    ssim: float
    mae: float
    lpips: float | None = None
    lpips_squeeze: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        values = {"psnr": self.psnr, "ssim": self.ssim, "mae": self.mae, "lpips": self.lpips}
        if self.lpips_squeeze is not None:  # only with --lpips-net both: other reports keep their keys
            values[SQUEEZE_METRIC] = self.lpips_squeeze
        return values


@dataclass(frozen=True)
class ImageResult:
    name: str
    scores: Scores
    baseline: Scores | None = None  # the blurry input against the same target


def mean_scores(results: Iterable[Scores], metrics: tuple[str, ...] = METRICS) -> dict[str, float | None]:
    """Mean of each metric over images (None where any image lacks it, or no images)."""
    results = list(results)
    means: dict[str, float | None] = {}
    for metric in metrics:
        values = [getattr(r, metric) for r in results]
        means[metric] = math.fsum(values) / len(values) if values and None not in values else None
    return means


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _clean(scores: dict[str, float | None]) -> dict[str, float | None]:
    return {k: _finite(v) for k, v in scores.items()}


@dataclass(frozen=True)
class Unscored:
    """A pair that could not be scored, and why (one line)."""

    name: str
    reason: str


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class EvaluationReport:
    protocol: str
    protocol_description: str
    bit_depth: int
    images: list[ImageResult]
    unscored: list[Unscored] = field(default_factory=list)
    device: str | None = None  # where the metrics (and the model) ran
    fdikp_version: str = __version__
    date: str = field(default_factory=_now)
    groups: dict[str, list[str]] = field(default_factory=dict)  # e.g. "indoor" -> image names
    lpips: dict[str, str] | None = None  # where the LPIPS weights came from
    lpips_missing: str | None = None  # why LPIPS was not computed
    tiling: dict[str, Any] | None = None  # set when the model ran
    weights: dict[str, Any] | None = None  # set when the model ran
    model_run: dict[str, str] | None = None  # set when the model ran: {"device": "cpu", "precision": "bf16"}
    layout: str | None = None  # how the dataset folder was read
    warnings: list[str] = field(default_factory=list)
    pairs_total: int | None = None  # pairs there were to evaluate (scored, unscored, or not reached)
    partial: bool = False  # interrupted: only the pairs finished before Ctrl-C are in it

    @property
    def metrics(self) -> tuple[str, ...]:
        """METRICS, and the SqueezeNet LPIPS column when the images carry it."""
        squeeze = bool(self.images) and any(r.scores.lpips_squeeze is not None for r in self.images)
        return METRICS + ((SQUEEZE_METRIC,) if squeeze else ())

    @property
    def has_baseline(self) -> bool:
        return bool(self.images) and all(r.baseline is not None for r in self.images)

    def _select(self, names: list[str] | None) -> list[ImageResult]:
        if names is None:
            return self.images
        wanted = set(names)
        return [r for r in self.images if r.name in wanted]

    def mean(self, group: str | None = None) -> dict[str, float | None]:
        """Mean scores over all images, or over one label group."""
        return mean_scores((r.scores for r in self._select(self.groups[group] if group else None)), self.metrics)

    def baseline_mean(self, group: str | None = None) -> dict[str, float | None] | None:
        if not self.has_baseline:
            return None
        selected = self._select(self.groups[group] if group else None)
        return mean_scores((r.baseline for r in selected if r.baseline is not None), self.metrics)

    def gain(self, group: str | None = None) -> dict[str, float | None] | None:
        """Mean output minus mean blurry input, per metric (None without a baseline)."""
        baseline = self.baseline_mean(group)
        if baseline is None:
            return None
        output = self.mean(group)
        return {m: output[m] - baseline[m] if output[m] is not None and baseline[m] is not None else None
                for m in self.metrics}

    def to_json(self) -> dict[str, Any]:
        images = []
        for result in self.images:
            entry: dict[str, Any] = {"name": result.name, **_clean(result.scores.as_dict())}
            if result.baseline is not None:
                entry["baseline"] = _clean(result.baseline.as_dict())
            images.append(entry)
        data: dict[str, Any] = {
            "fdikp_version": self.fdikp_version,
            "date": self.date,
            "device": self.device,
            "precision": self.model_run.get("precision") if self.model_run else None,
            "tiling": self.tiling,
            "protocol": self.protocol,
            "protocol_description": self.protocol_description,
            "bit_depth": self.bit_depth,
            "count": len(self.images),
            "images": images,
            "unscored": [{"name": u.name, "reason": u.reason} for u in self.unscored],
            "mean": _clean(self.mean()),
        }
        baseline = self.baseline_mean()
        if baseline is not None:
            data["baseline"] = _clean(baseline)
            data["gain"] = _clean(self.gain() or {})
        if self.groups:
            data["groups"] = {}
            for group, names in self.groups.items():
                entry = {"images": names, "mean": _clean(self.mean(group))}
                group_baseline = self.baseline_mean(group)
                if group_baseline is not None:
                    entry["baseline"] = _clean(group_baseline)
                    entry["gain"] = _clean(self.gain(group) or {})
                data["groups"][group] = entry
        data.update(
            lpips=self.lpips,
            lpips_missing=self.lpips_missing,
            weights=self.weights,
            model_run=self.model_run,
            layout=self.layout,
            warnings=self.warnings,
            partial=self.partial,
        )
        return data

    def write_json(self, path: str | Path) -> Path:
        return _write_text(Path(path), json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n")

    def csv_rows(self) -> list[dict[str, Any]]:
        """One row per image, then the means ("mean", "mean:<group>") with baseline_* columns,
        and with a baseline also its means ("baseline") and the gain ("gain", "gain:<group>")
        in the metric columns."""
        rows: list[dict[str, Any]] = []

        def row(name: str, kind: str, scores: dict[str, float | None], baseline: dict[str, float | None] | None):
            entry: dict[str, Any] = {"name": name, "kind": kind, **scores}
            if self.has_baseline:
                entry.update({f"baseline_{k}": v for k, v in (baseline or {}).items()})
            rows.append(entry)

        for result in self.images:
            row(result.name, "image", result.scores.as_dict(), result.baseline.as_dict() if result.baseline else None)
        row("mean", "mean", self.mean(), self.baseline_mean())
        for group in self.groups:
            row(f"mean:{group}", "mean", self.mean(group), self.baseline_mean(group))
        baseline = self.baseline_mean()
        if baseline is not None:
            row("baseline", "baseline", baseline, None)
            for group in [None, *self.groups]:
                row("gain" if group is None else f"gain:{group}", "gain", self.gain(group) or {}, None)
        return rows

    def write_csv(self, path: str | Path) -> Path:
        fields = ["name", "kind", *self.metrics] + ([f"baseline_{m}" for m in self.metrics] if self.has_baseline else [])
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=fields)
                writer.writeheader()
                for entry in self.csv_rows():
                    writer.writerow({k: ("" if v is None else v) for k, v in entry.items()})
        except OSError as exc:
            raise FdikpError(f"cannot write {path}: {exc}") from None
        return path


def check_folder_writable(folder: Path, option: str) -> None:
    """OutputWriteError when no file can be written in `folder` (made on demand). Asked before
    any scoring: a report or output that cannot be written must not cost the run first."""
    check_writable_folder(Path(folder), f"{option} {folder}")


def check_file_writable(path: Path, option: str) -> None:
    """OutputWriteError when the report file `path` cannot be written (see check_folder_writable)."""
    path = Path(path)
    if path.is_dir():
        raise OutputWriteError(f"{option} {path}: is a folder; give a file name")
    problem = folder_problem(path.parent)
    if problem is None and path.exists() and not os.access(path, os.W_OK):
        problem = "the file exists and cannot be replaced (permission denied)"
    if problem is not None:
        raise OutputWriteError(f"{option} {path}: {problem}")


def _write_text(path: Path, text: str) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FdikpError(f"cannot write {path}: {exc}") from None
    return path


# --- terminal rendering ---------------------------------------------------------------------


def _fmt(metric: str, value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.2f}" if metric == "psnr" else f"{value:.{digits}f}"


def image_table(report: EvaluationReport, width: int | None = None) -> Table:
    """Per-image scores; with a baseline, the blurry input's score follows in parentheses.

    With `width` (a terminal's), the table fits it without breaking a name inside a word: the
    numbers wrap at their spaces ("32.90" over "(23.61)") before a name takes a second line, and a
    name is then broken only after a separator ("living_room_" over "window_0001";
    fdikp_cli.table_layout). Without, every name stays on one line."""
    from rich.markup import escape
    from rich.table import Table

    from fdikp_cli.table_layout import (WORD_LIMIT, break_at_separators, fit_widths, longest_part, longest_word,
                                        table_space)

    headers = ["image"] + [metric.upper() + (" (input)" if report.has_baseline else "") for metric in report.metrics]
    rows = []
    for result in report.images:
        cells = []
        for metric in report.metrics:
            # Three decimals here (four in the means) so that a row with baselines fits 80 columns.
            text = _fmt(metric, getattr(result.scores, metric), 3)
            if result.baseline is not None:
                text += f" ({_fmt(metric, getattr(result.baseline, metric), 3)})"
            cells.append(text)
        rows.append([result.name, *cells])
    widths: list[int | None] = [None] * len(headers)
    if width is not None:
        columns = list(zip(headers, *rows))
        natural = [max(map(len, column)) for column in columns]
        minimal = [min(max(map(longest_part, columns[0])), WORD_LIMIT)]
        minimal += [max(map(longest_word, column)) for column in columns[1:]]
        groups = [[0], list(range(1, len(headers)))]  # the names first, then the numbers
        widths = list(fit_widths(natural, minimal, table_space(width, len(headers)), groups))

    scored = f"{len(report.images)} images"
    if report.partial:
        scored = f"partial (interrupted): {len(report.images)} of {report.pairs_total} pairs scored"
    table = Table(title=f"{scored}, protocol {report.protocol}, {report.bit_depth}-bit", show_lines=False)
    table.add_column("image", no_wrap=True, width=widths[0])
    for header, column_width in zip(headers[1:], widths[1:]):
        table.add_column(header, justify="right", width=column_width)
    for name, *cells in rows:
        table.add_row(escape(break_at_separators(name, widths[0]) if widths[0] is not None else name), *cells)
    return table


def summary_table(report: EvaluationReport) -> Table:
    """Means: the output, the blurry input, and the gain, overall and per label group."""
    from rich.table import Table

    table = Table(title="mean (partial: the pairs scored before Ctrl-C)" if report.partial else "mean")
    table.add_column("set")
    table.add_column("images", justify="right")
    table.add_column("")
    for metric in report.metrics:
        table.add_column(metric.upper(), justify="right")
    for group in [None, *report.groups]:
        count = len(report.images) if group is None else len(report.groups[group])
        label = "all" if group is None else group
        output = report.mean(group)
        table.add_row(label, str(count), "output", *(_fmt(m, output[m]) for m in report.metrics))
        baseline, gain = report.baseline_mean(group), report.gain(group)
        if baseline is not None and gain is not None:
            table.add_row("", "", "blurry input", *(_fmt(m, baseline[m]) for m in report.metrics))
            table.add_row("", "", "gain", *(_signed(m, gain[m]) for m in report.metrics), end_section=True)
    return table


def _signed(metric: str, value: float | None) -> str:
    text = _fmt(metric, value)
    return text if value is None or text.startswith("-") or not math.isfinite(value) else "+" + text
