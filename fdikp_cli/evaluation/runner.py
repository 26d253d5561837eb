"""Evaluate folders of outputs, or run the model over a dataset's test split and evaluate it.

Both paths score one image at a time (full-resolution images differ in size; the metric
functions themselves are batched). PSNR / SSIM / MAE are computed in float64, LPIPS in float32.
A pair that cannot be scored (sizes differ, unreadable file, too small...) does not stop the
run: it is listed in the report's `unscored` with its reason, and the others are scored.
Ctrl-C stops the run with EvaluationInterrupted, which carries the report of the pairs done so
far (marked partial), so that minutes of scoring are not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from fdikp_cli.errors import ConfigError, DatasetError, FdikpError, LpipsWeightsMissing
from fdikp_cli.evaluation.pairing import DatasetName, EvalPair, PairBy, pair_folders, resolve_dataset
from fdikp_cli.evaluation.protocol_io import Protocol, check_bit_depth, get_protocol, quantize, read_image, write_png
from fdikp_cli.evaluation.report import EvaluationReport, ImageResult, Scores, Unscored, check_folder_writable
from fdikp_cli.inference.tone_lock import DEFAULT_TONE_LOCK_SIGMA
from fdikp_cli.inference.device import precision_name, resolve_device, resolve_precision, use_fast_memory_format
from fdikp_cli.metrics import mae, psnr, ssim
from fdikp_cli.metrics.lpips import LPIPS, load_lpips

ProgressHook = Callable[[int, int, str], None]
"""Called after each image with (done, total, image name)."""
Predict = Callable[[EvalPair], "tuple[torch.Tensor, torch.Tensor | None]"]
"""One pair's prediction and blurry source (None when unknown), (1, 3, H, W) in [0, 1]."""


class EvaluationInterrupted(KeyboardInterrupt):
    """Ctrl-C during scoring. Still a KeyboardInterrupt (a caller that does not look for it
    stops as before), carrying the report of the pairs finished so far (`report.partial`)."""

    def __init__(self, report: EvaluationReport) -> None:
        super().__init__()
        self.report = report


@dataclass(frozen=True)
class EvaluationOptions:
    protocol: str = "dpdd"
    bit_depth: int = 8
    use_lpips: bool = True
    lpips_weights: Path | None = None  # folder searched first (--lpips-dir); then $FDIKP_LPIPS_DIR, the cache
    lpips_download: bool = True
    # LPIPS backbone(s): alex (column lpips), squeeze (column lpips_squeeze), or both. SqueezeNet's
    # weights are not bundled: asking for them without them is an error (load_squeeze_lpips).
    lpips_net: str = "alex"
    device: str = "auto"  # auto|cpu|cuda|cuda:N|mps ("auto": CUDA when available)
    precision: str = "auto"  # the model's autocast precision (--dataset): auto|fp32|fp16|bf16, see resolve_precision
    labels: dict[str, Path] = field(default_factory=dict)  # group name -> text file of image names
    # The model's outputs keep the input's tones above this Gaussian sigma (px), as `fdikp
    # deblur` writes them (fdikp_cli.inference.tone_lock); None or 0: the raw model output.
    tone_lock: float | None = DEFAULT_TONE_LOCK_SIGMA


class Scorer:
    """Scores one prediction against its target under a protocol.

    PSNR / SSIM / MAE run in float64 (on CUDA when `device` is CUDA, else on the CPU: MPS has
    no float64); LPIPS runs in float32 on `device`.
    """

    def __init__(self, protocol: Protocol, bit_depth: int, lpips: LPIPS | None, device: torch.device,
                 lpips_squeeze: nn.Module | None = None) -> None:
        self.protocol = protocol
        self.bit_depth = bit_depth
        self.lpips = lpips
        self.lpips_squeeze = lpips_squeeze
        self.device = device
        self.exact_device = device if device.type == "cuda" else torch.device("cpu")

    @torch.no_grad()
    def __call__(self, name: str, pred: torch.Tensor, target: torch.Tensor) -> Scores:
        """pred, target (1, 3, H, W) in [0, 1] (any float dtype) -> Scores."""
        if pred.shape != target.shape:
            raise DatasetError(
                f"{name}: sizes differ: {_size(pred)} vs target {_size(target)} (evaluation never resizes)"
            )
        smallest = 32 if self.lpips is not None or self.lpips_squeeze is not None else self.protocol.ssim.size
        if min(target.shape[-2:]) < smallest:
            raise DatasetError(f"{name}: {_size(target)} is too small to evaluate (needs at least {smallest}x{smallest})")
        pred = pred.to(self.exact_device, torch.float64).clamp(0, 1)
        target = target.to(self.exact_device, torch.float64)
        if self.protocol.quantize_predictions:
            pred = quantize(pred, self.bit_depth)
        lpips_value = None
        if self.lpips is not None:
            lpips_value = self.lpips(pred.to(self.device, torch.float32), target.to(self.device, torch.float32)).item()
        squeeze_value = None
        if self.lpips_squeeze is not None:
            squeeze_value = self.lpips_squeeze(pred.to(self.device, torch.float32),
                                               target.to(self.device, torch.float32)).item()
        return Scores(
            lpips_squeeze=squeeze_value,
            psnr=psnr(pred, target).item(),
            ssim=ssim(pred, target, config=self.protocol.ssim).item(),
            mae=mae(pred, target).item(),
            lpips=lpips_value,
        )


def _size(image: torch.Tensor) -> str:
    return f"{image.shape[-1]}x{image.shape[-2]}"


def read_labels(path: Path) -> list[str]:
    """A text file of image names, one per line (blank lines and # comments ignored)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read the label list {path}: {exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def assign_groups(pairs: list[EvalPair], labels: dict[str, Path]) -> tuple[dict[str, list[str]], list[str]]:
    """Image names per label group (matched by file name or stem), and warnings."""
    groups: dict[str, list[str]] = {}
    warnings: list[str] = []
    for group, path in labels.items():
        names = read_labels(path)
        wanted = set(names) | {Path(n).stem for n in names}
        groups[group] = [p.name for p in pairs if (p.aliases | {p.name}) & wanted]
        matched = {a for p in pairs if p.name in groups[group] for a in p.aliases | {p.name}}
        unknown = [n for n in names if n not in matched and Path(n).stem not in matched]
        if unknown:
            warnings.append(f"{len(unknown)} names in the {group} list match no evaluated image (e.g. {', '.join(unknown[:3])})")
    return groups, warnings


def _load_squeeze(options: EvaluationOptions, device: torch.device) -> nn.Module | None:
    if not options.use_lpips or options.lpips_net == "alex":
        return None
    from fdikp_cli.metrics.lpips_squeeze import load_squeeze_lpips

    return load_squeeze_lpips(options.lpips_weights, device=device)  # asked for: missing weights are an error


def _load_lpips_or_reason(options: EvaluationOptions, device: torch.device) -> tuple[LPIPS | None, str | None]:
    if options.lpips_net not in ("alex", "squeeze", "both"):
        raise ConfigError(f"--lpips-net must be alex, squeeze or both, got {options.lpips_net!r}")
    if not options.use_lpips:
        return None, "LPIPS not requested"
    if options.lpips_net == "squeeze":
        return None, "AlexNet LPIPS not requested (--lpips-net squeeze)"
    try:
        return load_lpips(options.lpips_weights, device=device, download=options.lpips_download), None
    except LpipsWeightsMissing as exc:
        return None, str(exc)


def _new_report(options: EvaluationOptions, lpips: LPIPS | None, lpips_missing: str | None,
                device: torch.device) -> EvaluationReport:
    protocol = get_protocol(options.protocol)
    source = lpips.source if lpips is not None else None
    return EvaluationReport(
        protocol=protocol.name,
        protocol_description=protocol.description,
        bit_depth=options.bit_depth,
        images=[],
        lpips={"directory": str(source.directory), "origin": source.origin} if source is not None else None,
        lpips_missing=lpips_missing,
        device=str(device),
    )


def _one_line(exc: BaseException, name: str) -> str:
    """The error's first line, without the pair name that the report already shows."""
    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    text = text.removeprefix(f"{name}: ")
    return text if isinstance(exc, FdikpError) else f"{type(exc).__name__}: {text}"


def _score_all(
    pairs: list[EvalPair],
    predict: Predict,
    scorer: Scorer,
    options: EvaluationOptions,
    progress: ProgressHook | None,
    report: EvaluationReport,
) -> None:
    """Score every pair that can be scored into `report`; the others go to its `unscored` with
    their reason. Ctrl-C raises EvaluationInterrupted with the pairs finished so far."""
    report.pairs_total = len(pairs)
    try:
        for done, pair in enumerate(pairs, start=1):
            try:
                pred, source = predict(pair)
                target = read_image(pair.target, options.bit_depth)
                baseline = scorer(f"{pair.name} (blurry input)", source, target) if source is not None else None
                report.images.append(ImageResult(pair.name, scorer(pair.name, pred, target), baseline))
            except Exception as exc:  # noqa: BLE001 - one bad pair must not end the evaluation
                report.unscored.append(Unscored(pair.name, _one_line(exc, pair.name)))
            if progress is not None:
                progress(done, len(pairs), pair.name)
    except KeyboardInterrupt:
        report.partial = True
        raise EvaluationInterrupted(report) from None


def _prepare(options: EvaluationOptions) -> tuple[torch.device, Scorer, EvaluationReport]:
    protocol = get_protocol(options.protocol)
    check_bit_depth(options.bit_depth)
    device = resolve_device(options.device)
    lpips, reason = _load_lpips_or_reason(options, device)
    squeeze = _load_squeeze(options, device)
    return device, Scorer(protocol, options.bit_depth, lpips, device, squeeze), _new_report(options, lpips, reason, device)


def evaluate_folders(
    pred_dir: str | Path,
    target_dir: str | Path,
    *,
    source_dir: str | Path | None = None,
    pair_by: PairBy = "name",
    options: EvaluationOptions | None = None,
    progress: ProgressHook | None = None,
) -> EvaluationReport:
    """Metrics of existing outputs against their targets (and of the sources, when given)."""
    options = options or EvaluationOptions()
    pairs = pair_folders(Path(pred_dir), Path(target_dir), Path(source_dir) if source_dir else None, pair_by)
    _, scorer, report = _prepare(options)
    report.groups, report.warnings = assign_groups(pairs, options.labels)
    report.layout = f"{pred_dir} vs {target_dir} (paired by {pair_by})"

    def predict(pair: EvalPair) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert pair.prediction is not None
        source = read_image(pair.source, options.bit_depth) if pair.source is not None else None
        return read_image(pair.prediction, options.bit_depth), source

    _score_all(pairs, predict, scorer, options, progress, report)
    return report


def evaluate_dataset(
    dataset: DatasetName,
    data_root: str | Path,
    weights: str | Path | None = None,
    *,
    tile: int | None = None,
    overlap: int = 64,
    save_outputs: str | Path | None = None,
    allow_random: bool = False,
    options: EvaluationOptions | None = None,
    progress: ProgressHook | None = None,
) -> EvaluationReport:
    """Run the model over the dataset's test split (whole images unless `tile`) and evaluate.

    Outputs are scored as floats clamped to [0, 1] (never re-quantised under `dpdd`);
    `save_outputs` also writes them as PNG at the protocol's bit depth, named after the sources
    (the folder is checked first: an OutputWriteError before the model is even loaded).
    The model runs under autocast in `options.precision` (auto: bf16 on CPUs with native bf16,
    see resolve_precision); its outputs are float32 and the metrics are computed on them as
    float64 / float32 (LPIPS), never in reduced precision.
    """
    from fdikp_cli.inference.restore import restore, tile_side
    from fdikp_cli.weights import load_model

    options = options or EvaluationOptions()
    out_dir = Path(save_outputs) if save_outputs is not None else None
    if out_dir is not None:
        check_folder_writable(out_dir, "--save-outputs")
    resolved = resolve_dataset(dataset, data_root)
    device, scorer, report = _prepare(options)
    dtype = resolve_precision(options.precision, device)  # before loading: a bad spec fails fast
    loaded = load_model(weights, device=device, allow_random=allow_random)
    use_fast_memory_format(loaded.model, device, dtype)
    report.model_run = {"device": str(device), "precision": precision_name(dtype), "tone_lock": options.tone_lock or None}
    report.groups, report.warnings = assign_groups(resolved.pairs, options.labels)
    report.layout = resolved.layout
    side = tile_side(loaded.model, tile)  # what restore() really runs, as restore() clamps it
    report.tiling = {"tile": side, "overlap": min(overlap, side // 2) if side else None, "whole_image": not side}
    report.weights = (
        {"path": str(loaded.weights.path), "sha256": loaded.weights.sha256, "trained": True}
        if loaded.weights is not None
        else {"path": None, "sha256": None, "trained": False}
    )

    def predict(pair: EvalPair) -> tuple[torch.Tensor, torch.Tensor | None]:
        assert pair.source is not None
        source = read_image(pair.source, options.bit_depth)  # (1, 3, H, W) float64
        pred = restore(loaded.model, source.float(), tile=tile, overlap=overlap, device=device, dtype=dtype,
                       tone_lock=options.tone_lock)
        if out_dir is not None:
            write_png(out_dir / f"{pair.name}.png", pred, options.bit_depth)
        return pred, source

    _score_all(resolved.pairs, predict, scorer, options, progress, report)
    return report
