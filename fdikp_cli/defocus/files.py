"""Defocus maps of files: the library API behind `fdikp defocus-map`.

    summary = run_defocus_map(["photos/"], MapOptions(output=Path("maps")))
    for result in summary.done: print(result.source, result.summary.line())

Input handling is deblur's (`fdikp_cli.inference.batch`): files, folders and globs, EXIF
orientation, 8/16-bit, every planned output checked before the first photo, a bad file
reported and the batch going on, atomic writes, no overwrite without `overwrite`. Per photo:

    NAME_radius.png          16-bit radius map, value = radius_px * 100 (unit in PNG text chunks)
    NAME_radius_colour.png   colour picture with a scale bar in px
    NAME_radius_overlay.png  (overlay) the colour map blended over the photo, with the scale bar
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from fdikp_cli.defocus.maps import (
    DEFAULT_WORK_SIDE,
    MapSummary,
    estimate_radius_map,
    photo_as_float,
    summarize,
    work_scale,
    write_map_pictures,
)
from fdikp_cli.defocus.weights import DefocusWeights
from fdikp_cli.errors import ConfigError
from fdikp_cli.imageio import read_image
from fdikp_cli.inference.batch import (
    DONE,
    FAILED,
    SKIPPED,
    FileResult,
    InputFile,
    Reporter,
    SilentReporter,
    collect_inputs,
    run_guarded,
)
from fdikp_cli.inference.output_check import unwritable_folders

SUFFIX = "_radius"
COLOUR_TAG = "_colour"
OVERLAY_TAG = "_overlay"


@dataclass(frozen=True)
class MapOptions:
    output: Path | None = None  # a folder (subfolders of folder inputs mirrored); None: beside each input
    overlay: bool = False
    overwrite: bool = False
    skip_existing: bool = False
    recursive: bool = False
    work_side: int = DEFAULT_WORK_SIDE

    def __post_init__(self) -> None:
        if self.overwrite and self.skip_existing:
            raise ConfigError("--overwrite and --skip-existing exclude each other")
        if self.work_side < 16:
            raise ConfigError(f"--work-side must be >= 16 px, got {self.work_side}")
        if self.output is not None and self.output.suffix.lower() == ".png" and not self.output.is_dir():
            raise ConfigError(f"--output {self.output} must be a folder (each photo gets several files)")


@dataclass(frozen=True)
class PlannedMap:
    source: InputFile
    outputs: tuple[Path, ...]  # radius, colour[, overlay]
    replace_leftovers: bool = False  # pictures of an interrupted run, redone under skip_existing


@dataclass
class MapResult(FileResult):
    summary: MapSummary | None = None
    width: int = 0
    height: int = 0


@dataclass
class MapBatch:
    results: list[FileResult] = field(default_factory=list)

    @property
    def done(self) -> list[MapResult]:
        return [r for r in self.results if r.status == DONE and isinstance(r, MapResult)]

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed


def plan_maps(inputs: Sequence[InputFile], options: MapOptions) -> list[PlannedMap | FileResult]:
    """Output names per input, in order; a failed FileResult where they would clash."""
    claimed: dict[Path, Path] = {}
    input_paths = {item.path.resolve() for item in inputs}
    entries: list[PlannedMap | FileResult] = []
    tags = ("", COLOUR_TAG) + ((OVERLAY_TAG,) if options.overlay else ())
    for item in inputs:
        stem = item.path.stem + SUFFIX
        if options.output is None:
            folder = item.path.parent
        else:
            folder = options.output / (item.path.parent.relative_to(item.base) if item.base is not None else Path())
        outputs = tuple(folder / f"{stem}{tag}.png" for tag in tags)
        resolved = [p.resolve() for p in outputs]
        clash = next((claimed[p] for p in resolved if p in claimed), None)
        if any(p in input_paths for p in resolved):
            entries.append(FileResult(item.path, outputs[0], FAILED, "the output would overwrite an input"))
        elif clash is not None:
            entries.append(FileResult(item.path, outputs[0], FAILED, f"same output name as {clash}"))
        else:
            claimed.update({p: item.path for p in resolved})
            entries.append(PlannedMap(item, outputs))
    return entries


def check_map_outputs(plans: Sequence[PlannedMap], options: MapOptions) -> list[PlannedMap | FileResult]:
    """Existing outputs (skip / refuse) and unwritable folders, before any photo runs."""
    checked: list[PlannedMap | FileResult] = []
    for plan in plans:
        existing = [p for p in plan.outputs if p.exists()]
        source = plan.source.path
        if existing and not options.overwrite:
            if options.skip_existing and plan.outputs[0].exists():
                checked.append(FileResult(source, plan.outputs[0], SKIPPED, "output exists"))
            elif options.skip_existing:
                # Pictures without their map: the map is written last, so an interrupted run
                # left them; continuing means finishing this photo.
                checked.append(dataclasses.replace(plan, replace_leftovers=True))
            else:
                checked.append(FileResult(source, plan.outputs[0], FAILED,
                                          f"{existing[0]} exists (use --overwrite or --skip-existing)"))
        else:
            checked.append(plan)
    problems = unwritable_folders(p.parent for e in checked if isinstance(e, PlannedMap) for p in e.outputs)
    for i, entry in enumerate(checked):
        if isinstance(entry, PlannedMap):
            reason = next((problems[p.parent] for p in entry.outputs if p.parent in problems), None)
            if reason is not None:
                checked[i] = FileResult(entry.source.path, entry.outputs[0], FAILED, reason)
    return checked


def map_file(estimator: DefocusWeights, plan: PlannedMap, options: MapOptions) -> MapResult:
    """Read one photo (upright), estimate, write its pictures. Raises FdikpError on failure."""
    started = time.perf_counter()
    source = plan.source.path
    decoded = read_image(source)
    photo = photo_as_float(decoded.pixels)  # (H, W, 3)
    height, width = photo.shape[:2]
    radius = estimate_radius_map(estimator, photo, options.work_side)
    scale = work_scale(height, width, options.work_side)
    overlay_path = plan.outputs[2] if len(plan.outputs) > 2 else None
    written = write_map_pictures(radius, scale, plan.outputs[0], plan.outputs[1], photo, overlay_path,
                                 options.overwrite or plan.replace_leftovers)
    return MapResult(source, plan.outputs[0], DONE, seconds=time.perf_counter() - started,
                     megapixels=height * width / 1e6, notes=list(decoded.notes), extra_outputs=written[1:],
                     summary=summarize(radius, scale), width=width, height=height)


def run_defocus_map(specs: Sequence[str | Path], options: MapOptions, estimator: DefocusWeights | None = None,
                    weights: str | Path | None = None, reporter: Reporter | None = None) -> MapBatch:
    """Collect, plan, check, then map every photo; the estimator is loaded only when some
    photo can run (`weights`: default the shipped file)."""
    from fdikp_cli.defocus.maps import load_estimator

    if not specs:
        raise ConfigError("no inputs given")
    reporter = reporter or SilentReporter()
    tags = ("", COLOUR_TAG, OVERLAY_TAG)
    inputs, problems = collect_inputs(specs, options.recursive, SUFFIX, exclude=options.output, tags=tags)
    planned = plan_maps(inputs, options)
    checked = check_map_outputs([p for p in planned if isinstance(p, PlannedMap)], options)
    batch = MapBatch()
    for problem in [*problems, *(p for p in planned if isinstance(p, FileResult)),
                    *(c for c in checked if isinstance(c, FileResult))]:
        reporter.file_finished(problem)
        batch.results.append(problem)
    work = [c for c in checked if isinstance(c, PlannedMap)]
    if work and estimator is None:
        estimator = load_estimator(weights)
    for index, plan in enumerate(work):
        reporter.file_started(index, len(work), plan.source.path)
        assert estimator is not None
        result = run_guarded(plan.source.path, plan.outputs[0], lambda: map_file(estimator, plan, options))
        reporter.file_finished(result)
        batch.results.append(result)
    return batch
