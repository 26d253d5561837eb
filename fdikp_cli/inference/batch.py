"""Deblurring files: the library API behind `fdikp deblur`.

    summary = run_deblur(["photos/", "*.jpg"], DeblurOptions(recursive=True))
    summary.failed  # FileResults with a one-line reason each

Inputs are files, folders (images inside; with `recursive`, in subfolders too) and glob
patterns (`**` allowed). Outputs go beside the inputs as NAME{suffix}.EXT, or into a file
(one input) or folder given as `output` (subfolders of a folder input mirrored there). An
input is never overwritten; an existing output only with `overwrite`; `skip_existing`
resumes a batch. Every planned output is checked before the first image runs (folder
writable, name free or `overwrite` / `skip_existing`), and all such problems are reported at
once; with nothing left to do the model is not even loaded. One file failing (unreadable,
corrupt, out of memory...) is reported and the batch goes on. Under `torchrun`, each process
takes every WORLD_SIZE-th file.

Grayscale photos are replicated to RGB for the model and the result is turned back into one
channel with the mean of R, G and B (the three outputs differ only by the model's noise, and
the mean averages it away; luma weights would favour green's noise).
"""

from __future__ import annotations

import glob
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from fdikp_cli.errors import ConfigError, FdikpError
from fdikp_cli.imageio import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    SUPPORTED_EXTENSIONS,
    ImageFormat,
    format_from_name,
    format_from_path,
    read_image,
    write_image,
)
from fdikp_cli.imageio.formats import PNG
from fdikp_cli.inference.device import (
    RankInfo,
    fall_back_if_unusable,
    precision_name,
    rank_from_environment,
    resolve_device,
    resolve_precision,
    use_fast_memory_format,
)
from fdikp_cli.inference.output_check import unwritable_folders
from fdikp_cli.inference.restore import (
    DEFAULT_OVERLAP,
    TileSpec,
    has_dilation_maps,
    overlap_note,
    restore_detailed,
    size_multiple,
    tile_side,
    tiling_notes,
)
from fdikp_cli.inference.tone_lock import DEFAULT_TONE_LOCK_SIGMA
from fdikp_cli.inference.visualize import dilation_colour_map, side_by_side

DEFAULT_SUFFIX = "_deblurred"
COMPARE_TAG = "_compare"
MAPS_TAG = "_dilation"
RADIUS_TAG = "_radius"  # the calibrated defocus map (fdikp_cli.defocus), 16-bit
RADIUS_COLOUR_TAG = "_radius_colour"  # and its colour picture
# Names an earlier run wrote beside its inputs: NAME{suffix}{tag}.EXT, never taken as inputs.
OUTPUT_TAGS: tuple[str, ...] = ("", COMPARE_TAG, MAPS_TAG, RADIUS_TAG, RADIUS_COLOUR_TAG)
GLOB_CHARACTERS = frozenset("*?[")

DONE, SKIPPED, FAILED = "done", "skipped", "failed"


@dataclass(frozen=True)
class DeblurOptions:
    """Everything `fdikp deblur` decides about files and tiles (not the model or device)."""

    output: Path | None = None  # a file (one input) or a folder; None: beside each input
    suffix: str = DEFAULT_SUFFIX
    format: str | None = None  # "jpg", "png", ...; None: the input's format
    quality: int = DEFAULT_QUALITY  # JPEG / WebP (WebP 100 = lossless)
    overwrite: bool = False
    skip_existing: bool = False
    strip_metadata: bool = False
    recursive: bool = False
    tile: TileSpec = "auto"  # "auto", 0/None (whole image) or a side in pixels
    overlap: int = DEFAULT_OVERLAP
    compare: bool = False  # also write NAME{suffix}_compare.EXT: input | output
    save_maps: bool = False  # also write NAME{suffix}_dilation.png: the PAC dilation map
    # With save_maps, the calibrated blur radius map too (NAME{suffix}_radius.png, 16-bit, and
    # NAME{suffix}_radius_colour.png) when these defocus-map weights exist; None: the shipped
    # weights/defocus_map.safetensors (or $FDIKP_DEFOCUS_WEIGHTS).
    defocus_weights: Path | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    # Sigma (px) of the tone lock: the output keeps the input's coarse tones and colour
    # (fdikp_cli.inference.tone_lock); None or 0: the model's raw output.
    tone_lock: float | None = DEFAULT_TONE_LOCK_SIGMA

    def __post_init__(self) -> None:
        if self.overwrite and self.skip_existing:
            raise ConfigError("--overwrite and --skip-existing exclude each other")
        if not 1 <= self.quality <= 100:
            raise ConfigError(f"--quality must be 1-100, got {self.quality}")
        if self.tone_lock is not None and self.tone_lock < 0:
            raise ConfigError(f"--tone-lock must be >= 0 (0: off), got {self.tone_lock}")
        if self.overlap < 0:
            raise ConfigError(f"--tile-overlap must be >= 0, got {self.overlap}")
        if "/" in self.suffix or "\\" in self.suffix:
            raise ConfigError(f"--suffix must not contain a path separator: {self.suffix!r}")
        sized = isinstance(self.tile, int) and not isinstance(self.tile, bool) and self.tile >= 0
        if self.tile != "auto" and self.tile is not None and not sized:
            raise ConfigError(f"--tile must be auto, 0 or a positive number of pixels, got {self.tile!r}")
        if self.format is not None:
            format_from_name(self.format)  # raises ConfigError for an unknown name


def parse_tile(text: str) -> TileSpec:
    """The --tile option: "auto", "0" (no tiling) or a size in pixels."""
    text = text.strip().lower()
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--tile must be auto, 0 or a number of pixels, got {text!r}") from None
    if value < 0:
        raise ConfigError(f"--tile must be >= 0, got {value}")
    return value or None


@dataclass(frozen=True)
class InputFile:
    path: Path
    base: Path | None = None  # the folder (or glob root) it was found under; None: named itself


@dataclass
class FileResult:
    """What happened to one input."""

    source: Path
    output: Path | None
    status: str  # DONE, SKIPPED or FAILED
    reason: str = ""  # one line, for skipped and failed
    seconds: float = 0.0
    megapixels: float = 0.0
    tiles: int = 0
    notes: list[str] = field(default_factory=list)  # what had to change (alpha dropped...)
    extra_outputs: list[Path] = field(default_factory=list)  # compare image, dilation map


@dataclass
class BatchSummary:
    results: list[FileResult]
    rank: RankInfo = field(default_factory=RankInfo)
    device: str | None = None  # where the model ran, e.g. "cpu", "cuda:0"
    precision: str | None = None  # its autocast precision: "fp32", "bf16" or "fp16"

    def with_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[FileResult]:
        return self.with_status(DONE)

    @property
    def skipped(self) -> list[FileResult]:
        return self.with_status(SKIPPED)

    @property
    def failed(self) -> list[FileResult]:
        return self.with_status(FAILED)

    @property
    def ok(self) -> bool:
        return not self.failed


class Reporter(Protocol):
    """How a batch tells its caller what happens (the CLI draws progress bars with it)."""

    def message(self, text: str) -> None: ...

    def file_started(self, index: int, total: int, source: Path) -> None: ...

    def tile_progress(self, done: int, total: int) -> None: ...

    def file_finished(self, result: FileResult) -> None: ...


class SilentReporter:
    def message(self, text: str) -> None:
        pass

    def file_started(self, index: int, total: int, source: Path) -> None:
        pass

    def tile_progress(self, done: int, total: int) -> None:
        pass

    def file_finished(self, result: FileResult) -> None:
        pass


# ---------------------------------------------------------------- inputs and outputs


def _reason(exc: BaseException, source: Path) -> str:
    """The first line of the error, without the file name the result line already shows."""
    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    for prefix in (f"{source}: ", f"{source.name}: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def _is_our_output(path: Path, suffix: str, tags: Sequence[str] = OUTPUT_TAGS) -> bool:
    stem = path.stem
    return bool(suffix) and any(stem.endswith(suffix + tag) for tag in tags)


def _images_in(folder: Path, recursive: bool, suffix: str, tags: Sequence[str] = OUTPUT_TAGS) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in candidates
        if p.suffix.lower() in SUPPORTED_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)  # hidden; our .NAME.part files
        and not _is_our_output(p, suffix, tags)  # results of an earlier run
        and p.is_file()
    )


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if GLOB_CHARACTERS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def collect_inputs(
    specs: Sequence[str | Path], recursive: bool = False, suffix: str = DEFAULT_SUFFIX, exclude: Path | None = None,
    tags: Sequence[str] = OUTPUT_TAGS,
) -> tuple[list[InputFile], list[FileResult]]:
    """Expand files, folders and globs into input files (sorted per spec, duplicates
    dropped); specs that name nothing come back as failed results.

    Folders and globs skip hidden files, names that look like results (NAME{suffix}.EXT and
    the compare / map images: NAME{suffix}{tag} for each of `tags`) and anything under
    `exclude` (the output folder), so a run
    never feeds on its own outputs, even while another torchrun process is writing them.
    """
    excluded = exclude.resolve() if exclude is not None else None

    def wanted(path: Path) -> bool:
        return excluded is None or not path.resolve().is_relative_to(excluded)

    inputs: list[InputFile] = []
    problems: list[FileResult] = []
    seen: set[Path] = set()

    def add(path: Path, base: Path | None) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            inputs.append(InputFile(path, base))

    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = [p for p in _images_in(path, recursive, suffix, tags) if wanted(p)]
            if not found:
                hint = "" if recursive else " (use --recursive for subfolders)"
                problems.append(FileResult(path, None, FAILED, f"no images in this folder{hint}"))
            for image in found:
                add(image, path)
        elif path.exists() or path.is_symlink():
            add(path, None)
        elif GLOB_CHARACTERS & set(str(spec)):
            matches = sorted(Path(m) for m in glob.glob(str(spec), recursive=True))
            root = _glob_root(str(spec))
            found = []
            for match in matches:
                if match.is_dir():
                    found += _images_in(match, recursive, suffix, tags) if recursive else []
                elif match.suffix.lower() in SUPPORTED_EXTENSIONS and not _is_our_output(match, suffix, tags):
                    found.append(match)
            found = [p for p in found if wanted(p)]
            if not found:
                problems.append(FileResult(path, None, FAILED, "no image matches this pattern"))
            for image in found:
                add(image, root)
        else:
            problems.append(FileResult(path, None, FAILED, "file not found"))
    return inputs, problems


@dataclass(frozen=True)
class PlannedFile:
    source: InputFile
    output: Path
    format: ImageFormat
    compare_output: Path | None
    maps_output: Path | None
    radius_outputs: tuple[Path, ...] = ()  # 16-bit radius map, its colour picture


def _output_is_file(output: Path) -> bool:
    return not output.is_dir() and output.suffix.lower() in SUPPORTED_EXTENSIONS


def check_output_option(output: Path | None, format_name: str | None) -> None:
    """Usage errors of --output alone, before any file: a name with an extension that is no
    image format (out.heic used to become a folder of that name; an existing folder stays
    one), or a file name whose format --format contradicts."""
    if output is None or output.is_dir() or not output.suffix:
        return
    if output.suffix.lower() not in SUPPORTED_EXTENSIONS:
        known = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise ConfigError(f"--output {output}: {output.suffix!r} is not an image format ({known}); "
                          "a folder to be made takes a name without an extension")
    if format_name is not None and format_from_name(format_name) is not format_from_path(output):
        raise ConfigError(f"--format {format_name} contradicts --output {output.name}")


def plan_outputs(inputs: Sequence[InputFile], options: DeblurOptions) -> list[PlannedFile | FileResult]:
    """Decide every output path, in input order: a PlannedFile, or a failed FileResult when
    the output would overwrite an input or another input's output.

    Depends only on the names, not on which outputs exist yet, so every torchrun process
    plans the same list while others are writing (`check_outputs` then checks each process'
    own share).
    Raises ConfigError when `output` names a file but several inputs were given, or is no
    usable name (check_output_option).
    """
    output = options.output
    forced = format_from_name(options.format) if options.format else None
    check_output_option(output, options.format)
    to_file = output is not None and _output_is_file(output)
    if to_file and len(inputs) > 1:
        raise ConfigError(f"--output {output} is a file name but {len(inputs)} inputs were given: give a folder")
    radius_weights = defocus_weights_for(options) if options.save_maps else None
    input_paths = {item.path.resolve() for item in inputs}
    claimed: dict[Path, Path] = {}
    entries: list[PlannedFile | FileResult] = []
    for item in inputs:
        source = item.path
        try:
            if to_file:
                assert output is not None
                fmt = format_from_path(output)  # agrees with --format: check_output_option
                target = output
            else:
                fmt = forced or format_from_path(source)
                extension = fmt.extension if forced else source.suffix
                name = f"{source.stem}{options.suffix}{extension}"
                if output is None:
                    target = source.parent / name
                else:
                    relative = source.parent.relative_to(item.base) if item.base is not None else Path()
                    target = output / relative / name
        except (ConfigError, ValueError) as exc:
            entries.append(FileResult(source, None, FAILED, _reason(exc, source)))
            continue
        compare = target.with_name(f"{target.stem}{COMPARE_TAG}{target.suffix}") if options.compare else None
        maps = target.with_name(f"{target.stem}{MAPS_TAG}.png") if options.save_maps else None
        radius = tuple(target.with_name(f"{target.stem}{tag}.png") for tag in (RADIUS_TAG, RADIUS_COLOUR_TAG)) \
            if options.save_maps and radius_weights is not None else ()
        resolved = [p.resolve() for p in (target, compare, maps, *radius) if p is not None]
        if any(p in input_paths for p in resolved):
            reason = "the output would overwrite an input (change --suffix or --output)"
            entries.append(FileResult(source, target, FAILED, reason))
            continue
        clash = next((claimed[p] for p in resolved if p in claimed), None)
        if clash is not None:
            entries.append(FileResult(source, target, FAILED, f"same output name as {clash}"))
            continue
        for p in resolved:
            claimed[p] = source
        entries.append(PlannedFile(item, target, fmt, compare, maps, radius))
    return entries


def defocus_weights_for(options: DeblurOptions) -> Path | None:
    """The defocus-map weights `--save-maps` uses, or None when there are none."""
    from fdikp_cli.defocus.weights import default_defocus_weights_path

    path = options.defocus_weights or default_defocus_weights_path()
    return path if path.is_file() else None


def _outputs_of(plan: PlannedFile) -> list[Path]:
    return [p for p in (plan.output, plan.compare_output, plan.maps_output, *plan.radius_outputs) if p is not None]


def check_existing(plan: PlannedFile, options: DeblurOptions) -> FileResult | None:
    """Skipped (skip_existing) or failed (no overwrite) when an output exists; else None."""
    outputs = _outputs_of(plan)
    existing = [p for p in outputs if p.exists()]
    if not existing or options.overwrite:
        return None
    source = plan.source.path
    if options.skip_existing and plan.output.exists():
        return FileResult(source, plan.output, SKIPPED, "output exists")
    return FileResult(source, plan.output, FAILED, f"{existing[0]} exists (use --overwrite or --skip-existing)")


def check_outputs(plans: Sequence[PlannedFile], options: DeblurOptions) -> list[PlannedFile | FileResult]:
    """Every plan whose outputs can be written, in order; a skipped or failed FileResult for
    the others: an output that exists (see check_existing), or a folder that cannot be
    written (read-only, not a folder...). Run before the first image, so that a batch never
    spends minutes of inference on files it cannot save."""
    checked: list[PlannedFile | FileResult] = [check_existing(plan, options) or plan for plan in plans]
    folders = [p.parent for entry in checked if isinstance(entry, PlannedFile) for p in _outputs_of(entry)]
    problems = unwritable_folders(folders)
    for i, entry in enumerate(checked):
        if isinstance(entry, PlannedFile):
            reason = next((problems[p.parent] for p in _outputs_of(entry) if p.parent in problems), None)
            if reason is not None:
                checked[i] = FileResult(entry.source.path, entry.output, FAILED, reason)
    return checked


# ---------------------------------------------------------------- the work


def _to_integer_pixels(image: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W, C) uint8/uint16, in place on the float buffer."""
    scale = 65535.0 if dtype == np.uint16 else 255.0
    image.mul_(scale).round_()
    integer = image.to(torch.uint16 if dtype == np.uint16 else torch.uint8)
    return integer.permute(1, 2, 0).contiguous().numpy()


@dataclass
class Engine:
    """The model and where it runs; for tile="auto", the tile an out-of-memory retry settled
    on (None until one happens: each image is sized from the free memory)."""

    model: Callable
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    auto_tile: int | None = None
    defocus: object | None = None  # DefocusWeights, loaded at the first radius map (--save-maps)


def deblur_file(
    engine: Engine, plan: PlannedFile, options: DeblurOptions, reporter: Reporter | None = None
) -> FileResult:
    """Read, restore and write one planned file. Raises FdikpError subclasses on failure."""
    reporter = reporter or SilentReporter()
    started = time.perf_counter()
    source = plan.source.path
    decoded = read_image(source, max_pixels=options.max_pixels)
    notes = list(decoded.notes)
    height, width, channels = decoded.pixels.shape
    with warnings.catch_warnings():  # Pillow's arrays are read-only; the tensor is only read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        image = torch.from_numpy(decoded.pixels).permute(2, 0, 1).unsqueeze(0)  # (1, C, H, W) view, uint8/16
    if channels == 1:
        image = image.expand(1, 3, height, width)  # grayscale: the same plane three times, no copy
    with_maps = options.save_maps and has_dilation_maps(engine.model)
    if options.save_maps and not with_maps:
        notes.append("no dilation map: the model has no PAC")
    if options.save_maps and not plan.radius_outputs:
        notes.append("no radius map: no defocus-map weights (weights/defocus_map.safetensors)")
    smallest = size_multiple(engine.model)
    if min(height, width) < smallest:
        notes.append(f"{width}x{height} px is too small for the model to find and undo blur (it needs at least "
                     f"{smallest} px a side): the output is not a restoration")

    def retried(old: int, new: int) -> None:
        engine.auto_tile = new  # later images start at the size that fitted
        reporter.message(f"{source.name}: out of memory with {old} px tiles, retrying with {new} px")

    result = restore_detailed(
        engine.model, image, tile=options.tile, overlap=options.overlap, device=engine.device, dtype=engine.dtype,
        start_tile=engine.auto_tile, with_maps=with_maps, on_tile=reporter.tile_progress, on_retry=retried,
        tone_lock=options.tone_lock,
    )  # fmt: skip
    dilation, tiles = result.dilation, result.tiles
    if options.tile == "auto" and tiles > 1 and result.tile:  # a fixed tile's notes came once, before the batch
        note = overlap_note(result.tile, options.overlap)
        notes += [note] if note else []
    restored = result.image[0]  # (3, H, W) float32 in [0, 1]
    del result  # the float buffer goes as soon as the integer pixels exist
    if channels == 1:
        restored = restored.mean(dim=0, keepdim=True)  # see the module docstring
    pixels = _to_integer_pixels(restored, decoded.pixels.dtype)
    del restored
    notes += write_image(
        plan.output, pixels, alpha=decoded.alpha, metadata=decoded.metadata, fmt=plan.format,
        quality=options.quality, strip_metadata=options.strip_metadata, overwrite=options.overwrite,
    )  # fmt: skip
    extras: list[Path] = []
    if plan.compare_output is not None:
        write_image(
            plan.compare_output, side_by_side(decoded.pixels, pixels), fmt=plan.format, quality=options.quality,
            metadata=decoded.metadata, strip_metadata=options.strip_metadata, overwrite=options.overwrite,
        )  # fmt: skip
        extras.append(plan.compare_output)
    if plan.maps_output is not None and dilation is not None:
        max_dilation = float(engine.model.config.pac_max_dilation)  # type: ignore[attr-defined]
        colours = dilation_colour_map(dilation[0, 0], max_dilation)
        write_image(plan.maps_output, colours, fmt=PNG, overwrite=options.overwrite)
        extras.append(plan.maps_output)
    if plan.radius_outputs:
        extras += _write_radius_map(engine, decoded.pixels, plan.radius_outputs, options)
    return FileResult(
        source, plan.output, DONE, seconds=time.perf_counter() - started, megapixels=height * width / 1e6,
        tiles=tiles, notes=notes, extra_outputs=extras,
    )  # fmt: skip


def run_guarded(source: Path, output: Path | None, work: Callable[[], FileResult]) -> FileResult:
    """`work()` for one file; any error becomes that file's FAILED result with a one-line
    reason, so that one bad file never ends a batch (shared by deblur and defocus-map)."""
    try:
        return work()
    except FdikpError as exc:
        return FileResult(source, output, FAILED, _reason(exc, source))
    except Exception as exc:  # noqa: BLE001 - one bad file must not end the batch
        return FileResult(source, output, FAILED, f"{type(exc).__name__}: {_reason(exc, source)}")


def _write_radius_map(engine: Engine, pixels: np.ndarray, outputs: tuple[Path, ...], options: DeblurOptions) -> list[Path]:
    """The calibrated blur radius map of the *input* photo (fdikp_cli.defocus), 16-bit + colour.

    A separate small network (about 1 s/MP on a CPU next to FDIKP's ~11 s/MP), estimated on
    the photo as given: the map says where the input was out of focus and by how much.
    """
    from fdikp_cli.defocus.maps import estimate_radius_map, photo_as_float, work_scale, write_map_pictures
    from fdikp_cli.defocus.weights import load_defocus_weights

    if engine.defocus is None:
        engine.defocus = load_defocus_weights(options.defocus_weights)
    photo = photo_as_float(pixels)  # (H, W, 3)
    radius = estimate_radius_map(engine.defocus, photo)  # type: ignore[arg-type]
    scale = work_scale(*photo.shape[:2])
    return write_map_pictures(radius, scale, outputs[0], outputs[1], overwrite=options.overwrite)


@dataclass(frozen=True)
class BatchPlan:
    """This process' share of a batch, checked before any work: what runs, what cannot."""

    work: list[PlannedFile]
    problems: list[FileResult]  # not found, unplannable, output exists / not writable, skipped
    rank: RankInfo = field(default_factory=RankInfo)


def plan_batch(specs: Sequence[str | Path], options: DeblurOptions, rank: RankInfo | None = None) -> BatchPlan:
    """Collect the inputs, plan every output and check it (see check_outputs)."""
    rank = rank or RankInfo()
    exclude = options.output if options.output is not None and not _output_is_file(options.output) else None
    inputs, problems = collect_inputs(specs, options.recursive, options.suffix, exclude=exclude)
    entries: list[PlannedFile | FileResult] = [*problems, *plan_outputs(inputs, options)]
    # Every process plans the same list, so the shares are disjoint and complete; each checks
    # only its own outputs (no other process writes them).
    mine = entries[rank.rank :: rank.world_size]
    planned = [entry for entry in mine if isinstance(entry, PlannedFile)]
    checked = check_outputs(planned, options)
    found = [entry for entry in mine if isinstance(entry, FileResult)]
    found += [entry for entry in checked if isinstance(entry, FileResult)]
    return BatchPlan([entry for entry in checked if isinstance(entry, PlannedFile)], found, rank)


def _tile_messages(model: Callable, options: DeblurOptions) -> list[str]:
    """What --tile N and --tile-overlap became, when restore() cannot use them as given (for
    --tile auto, the overlap is checked per photo: deblur_file)."""
    tile = options.tile
    if not isinstance(tile, int) or isinstance(tile, bool) or not tile:
        return []
    return tiling_notes(tile, options.overlap, tile_side(model, tile), size_multiple(model))


def run_batch(
    plan: BatchPlan, options: DeblurOptions, engine: Engine | None, reporter: Reporter | None = None
) -> BatchSummary:
    """Report the plan's problems at once, then deblur its work (`engine` may be None when
    there is none)."""
    reporter = reporter or SilentReporter()
    results: list[FileResult] = []
    for problem in plan.problems:
        reporter.file_finished(problem)
        results.append(problem)
    if engine is None or not plan.work:
        device = (str(engine.device), precision_name(engine.dtype)) if engine is not None else (None, None)
        return BatchSummary(results, plan.rank, *device)
    for message in _tile_messages(engine.model, options):
        reporter.message(message)
    for index, planned in enumerate(plan.work):
        source = planned.source.path
        result = check_existing(planned, options)  # again: an output may have appeared since
        if result is None:
            reporter.file_started(index, len(plan.work), source)
            result = run_guarded(source, planned.output, lambda: deblur_file(engine, planned, options, reporter))
        reporter.file_finished(result)
        results.append(result)
    return BatchSummary(results, plan.rank, str(engine.device), precision_name(engine.dtype))


def deblur_files(
    specs: Sequence[str | Path],
    options: DeblurOptions,
    engine: Engine,
    *,
    rank: RankInfo | None = None,
    reporter: Reporter | None = None,
) -> BatchSummary:
    """Collect, plan, check and deblur; this process' share of the files under torchrun."""
    return run_batch(plan_batch(specs, options, rank), options, engine, reporter)


def prepare_engine(
    weights: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    rank: RankInfo | None = None,
    reporter: Reporter | None = None,
) -> Engine:
    """Load the model (the shipped weights by default) on the resolved device and precision."""
    from fdikp_cli.weights import load_model

    reporter = reporter or SilentReporter()
    rank = rank or RankInfo()
    target = resolve_device(device, rank.local_rank)
    loaded = load_model(weights, device=target)
    if not loaded.trained:
        reporter.message(
            "warning: no weights file (weights/fdikp_default.safetensors or $FDIKP_WEIGHTS): the model is "
            "randomly initialised and will not deblur; pass --weights PATH"
        )
    dtype = resolve_precision(precision, target)
    usable, why = fall_back_if_unusable(loaded.model, target, dtype)
    if why:
        reporter.message(f"warning: {why}")
        loaded.model.to(usable)
        dtype = resolve_precision(precision, usable) if precision == "auto" else dtype
    use_fast_memory_format(loaded.model, usable, dtype)
    return Engine(loaded.model, usable, dtype)


def run_deblur(
    specs: Sequence[str | Path],
    options: DeblurOptions,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    reporter: Reporter | None = None,
) -> BatchSummary:
    """Everything `fdikp deblur` does: rank from torchrun's environment, the checked plan,
    the model (only when some file can run), the batch."""
    rank = rank_from_environment()
    if not specs:
        raise ConfigError("no inputs given")
    plan = plan_batch(specs, options, rank)
    engine = prepare_engine(weights, device, precision, rank, reporter) if plan.work else None
    return run_batch(plan, options, engine, reporter)
