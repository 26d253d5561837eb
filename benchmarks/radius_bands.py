"""Deblurring gain by measured blur radius, and whether the PAC dilation map follows the blur.

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.radius_bands \\
        --weights weights/fdikp_default.safetensors [--weights W2 ...] [--limit N] [--json OUT]

A whole-image PSNR mixes in-focus regions, where nothing can be gained, with strongly blurred
ones. Here each real DPDD val pair (whole image, registered as training registers it:
`reblur_fit.load_pair(register=True)`, i.e. the blurred capture moved onto the sharp one and
the sharp one given the blurred one's exposure) is cut into 32 px blocks, and per block:

1. the blur radius is *measured from the pair*, not from any model: the sharp capture is
   blurred with uniform discs (the anti-aliased disc `fdikp synth` renders, `synth.psf`) of
   radius 0, 0.5, ..., 25 px through one shared spectrum (`defocus.fft_conv`, reflected
   borders), and the block takes the radius whose result is closest (MSE) to the blurred
   capture, after removing a per-block, per-channel offset (a local exposure difference;
   a gain is not allowed: scaling down contrast would trade against blurring). Fits are cached
   in `runs/radius_cache/` keyed by pair, file and fitting parameters;
2. textured blocks are kept: those where the radius is measurable, i.e. the sharp target has
   detail (RMS of sharp minus its Gaussian σ=2 low-pass >= TEXTURE_THRESHOLD = 0.01) and the
   fit is well determined (the best disc's MSE at most half the r = 0 MSE, or for blocks
   fitted at r <= 2 px, at most half the worst candidate's: see FIT_RATIO);
3. the model runs on the whole blurred image as `fdikp evaluate` runs it (autocast at
   `--precision auto`: bf16 on CPUs with native bf16; tone lock at the default σ; clamped to
   [0, 1]); per radius band (r <= 2, 2-4, 4-7, 7-12, > 12 px) the squared errors of all its
   textured blocks of all pairs are pooled into the PSNR of the input and of the output against
   the target, and their difference (the gain); the whole-image gain is the mean over pairs;
4. the full-resolution stage's PAC dilation map (`forward_with_maps(x).maps[-1].dilation_input`,
   from the same pass) is averaged per block: its Spearman rank correlation with the measured
   radius over textured blocks (all pairs pooled) and its mean per band; the same for the
   blur-guidance radius (`maps[-1].radius`) of models that have one;
5. each stage's own gain (the issue's "measure each stage's own gain"), from the same pass: the
   stage output y_s (clamped, no tone lock: the tone lock is a last-stage step) against the
   target area-averaged to the stage's scale 1/f, and the input x_s = the blurred image averaged
   the same way (what the stage was given), PSNR over whole images, mean over pairs.

A model that deblurs should gain most in the middle bands; a dilation map that "follows blur"
has a clearly positive Spearman correlation and rises from band to band.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.gain_bands import lowpass, psnr
from benchmarks.reblur_fit import PAIRS, load_pair

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / "runs" / "radius_cache"

BLOCK = 32  # px; the grid starts at the top-left corner, partial blocks at the bottom/right are dropped
RADII = tuple(0.5 * i for i in range(51))  # candidate disc radii 0..25 px
# Highpass RMS (sharp minus its Gaussian σ=2 low-pass, mean over R, G, B) a block needs for its
# radius to be measurable: 0.01 (2.6/255). On the 18 val pairs the flattest 1 % of blocks (sky,
# plain walls: little more than the f/22 target's noise) measure 0.0015 and the median block
# 0.03; at 0.01 that noise is ~2 % of a block's detail energy, and 81 % of the blocks pass.
TEXTURE_SIGMA = 2.0
TEXTURE_THRESHOLD = 0.01
# A fit is well determined when the best disc's MSE is at most FIT_RATIO of the alternative
# that matters: for a blurred block (best r > IN_FOCUS_RADIUS) the r = 0 MSE (the disc
# explains at least half of the difference between the captures, so the block is told apart
# from "no blur"); for an in-focus block the largest MSE over the candidates (it is told apart
# from strong blur). In-focus blocks need their own test because r = 0 seldom wins (5 % of the
# val blocks): the captures' sub-pixel misregistration (~0.2 px left after registration) and
# noise make r = 0.5-1.5 the best fit, its MSE a median 37 % under r = 0's, so the r = 0 test
# alone would drop half of the in-focus blocks.
FIT_RATIO = 0.5
IN_FOCUS_RADIUS = 2.0
BAND_EDGES = (2.0, 4.0, 7.0, 12.0)  # band k: edges[k-1] < r <= edges[k]
BAND_NAMES = ("r<=2", "2<r<=4", "4<r<=7", "7<r<=12", "r>12")


# ---------------------------------------------------------------------------------------------
# Radius measurement


def disc_kernel(radius: float) -> torch.Tensor:
    """The uniform anti-aliased disc of `radius` px that `fdikp synth` renders (sum 1, float64).

    Shape: -> (W, W), W odd; radius 0 is the 1 x 1 delta.
    """
    from fdikp_cli.synth.psf import psf_kernel

    return torch.from_numpy(psf_kernel(radius).astype(np.float64))


def block_mean(x: torch.Tensor, block: int) -> torch.Tensor:
    """Mean over each block x block tile (partial tiles dropped). (B, C, H, W) -> (B, C, H // b, W // b)."""
    return F.avg_pool2d(x, block)


def block_offset_mse(blurred: torch.Tensor, candidate: torch.Tensor, block: int) -> torch.Tensor:
    """Per-block MSE between two images after removing each block's per-channel mean difference,
    averaged over channels. (1, C, H, W) x2 -> (hb, wb) float64."""
    diff = blurred.double() - candidate.double()  # (1, C, H, W); float64: small residuals' variances stay exact
    variance = block_mean(diff * diff, block) - block_mean(diff, block) ** 2  # (1, C, hb, wb)
    return variance.clamp(min=0.0).mean(dim=1)[0]


@dataclass
class BlockFit:
    """The per-block radius fit of one pair (all arrays (hb, wb) unless noted)."""

    radius: np.ndarray  # best candidate radius, px
    mse_best: np.ndarray  # offset-removed MSE at the best radius
    mse_zero: np.ndarray  # ... at r = 0 (the sharp capture itself)
    curves: np.ndarray  # (R, hb, wb) MSE per candidate radius


def fit_block_radius(blurred: torch.Tensor, sharp: torch.Tensor, radii: tuple[float, ...] = RADII,
                     block: int = BLOCK) -> BlockFit:
    """For each block, the candidate disc radius whose blur of `sharp` best matches `blurred`.

    Shape: blurred, sharp (1, C, H, W) float in [0, 1] -> BlockFit of (H // block, W // block).
    The sharp image's spectrum is computed once (reflect-padded by the widest kernel's reach), and
    each radius costs one kernel transform and one inverse FFT of the image.
    """
    from fdikp_cli.defocus.fft_conv import SharedSpectrum

    if 0.0 not in radii:
        raise ValueError("radii must include 0 (the in-focus reference of the fit test)")
    kernels = [disc_kernel(r) for r in radii]
    sharp = sharp.float()
    spectrum = SharedSpectrum(sharp, max(k.shape[-1] // 2 for k in kernels))
    curves = torch.stack([
        block_offset_mse(blurred, sharp if k.numel() == 1 else spectrum.blur(k), block) for k in kernels
    ]).numpy()  # (R, hb, wb)
    best = curves.argmin(axis=0)  # (hb, wb)
    values = np.asarray(radii)
    return BlockFit(
        radius=values[best],
        mse_best=np.take_along_axis(curves, best[None], axis=0)[0],
        mse_zero=curves[radii.index(0.0)],
        curves=curves,
    )


def texture_rms(sharp: np.ndarray, block: int = BLOCK, sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """RMS per block of the sharp image's detail finer than a Gaussian σ, mean over channels.

    Shape: (H, W, 3) float -> (H // block, W // block).
    """
    detail = sharp.astype(np.float32) - lowpass(sharp, sigma)  # (H, W, 3)
    power = block_mean(torch.from_numpy(np.ascontiguousarray((detail**2).transpose(2, 0, 1)))[None], block)
    return np.sqrt(power[0].double().mean(dim=0).numpy())


def textured_mask(fit: BlockFit, texture: np.ndarray, threshold: float = TEXTURE_THRESHOLD,
                  fit_ratio: float = FIT_RATIO) -> np.ndarray:
    """Blocks whose radius is measurable: detailed target and a well-determined fit. (hb, wb) bool."""
    blurred = fit.mse_best <= fit_ratio * fit.mse_zero
    in_focus = (fit.radius <= IN_FOCUS_RADIUS) & (fit.mse_best <= fit_ratio * fit.curves.max(axis=0))
    determined = blurred | in_focus
    return (texture >= threshold) & determined


# ---------------------------------------------------------------------------------------------
# Statistics


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank. (N,) -> (N,) float64."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the last rank of each distinct value
    return ((ends - counts + 1 + ends) / 2.0)[inverse.reshape(-1)]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of the tie-averaged ranks); NaN if undefined."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"spearman: {a.shape} vs {b.shape}")
    if a.size < 2:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def band_index(radius: np.ndarray, edges: tuple[float, ...] = BAND_EDGES) -> np.ndarray:
    """Band of each radius: 0 for r <= edges[0], ..., len(edges) for r > edges[-1]. Same shape, int."""
    return np.searchsorted(np.asarray(edges), radius, side="left")


def pooled_psnr(mse: np.ndarray) -> float:
    """PSNR of the pooled squared errors of equally sized blocks (their mean MSE); NaN if none."""
    return float(10.0 * np.log10(1.0 / max(float(np.mean(mse)), 1e-12))) if mse.size else float("nan")


def block_mse(a: np.ndarray, b: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Per-block MSE over pixels and channels. (H, W, 3) x2 -> (hb, wb)."""
    diff = torch.from_numpy(np.ascontiguousarray((a.astype(np.float64) - b).transpose(2, 0, 1)))[None]
    return block_mean(diff * diff, block)[0].mean(dim=0).numpy()


def block_map_mean(image_map: torch.Tensor, block: int = BLOCK) -> np.ndarray:
    """A (1, 1, H, W) map averaged per block -> (hb, wb) float64."""
    return block_mean(image_map.double(), block)[0, 0].numpy()


# ---------------------------------------------------------------------------------------------
# Cache of the fits (they do not depend on the model)


def cache_key(root: Path, name: str, radii: tuple[float, ...], block: int) -> str:
    """Pair name, both files' size and mtime and the fitting parameters, hashed."""
    stats = [(p.stat().st_size, p.stat().st_mtime_ns) for p in (root / "source" / name, root / "target" / name)]
    text = json.dumps({"name": name, "files": stats, "radii": list(radii), "block": block, "psf": "synth-disc",
                       "register": True, "scale": 1.0, "offset": "block-channel", "v": 1})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_fit(root: Path, name: str, blurred: torch.Tensor, sharp: torch.Tensor, cache_dir: Path | None,
               radii: tuple[float, ...] = RADII, block: int = BLOCK) -> tuple[BlockFit, bool]:
    """The pair's BlockFit, from the cache when there; returns (fit, was_cached)."""
    path = None if cache_dir is None else cache_dir / f"{Path(name).stem}-{cache_key(root, name, radii, block)}.npz"
    if path is not None and path.is_file():
        with np.load(path) as stored:
            return BlockFit(**{k: stored[k] for k in BlockFit.__dataclass_fields__}), True
    fit = fit_block_radius(blurred, sharp, radii, block)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **asdict(fit))
    return fit, False


# ---------------------------------------------------------------------------------------------
# The model


@dataclass
class ModelRun:
    output: np.ndarray  # (H, W, 3) float32 in [0, 1], tone-locked as `fdikp evaluate` scores it
    dilation: torch.Tensor | None  # (1, 1, H, W) full-resolution PAC dilation map
    guidance: torch.Tensor | None  # (1, 1, H, W) blur-guidance radius, px (models with guidance)
    stages: list[np.ndarray]  # per stage, coarsest first: (ceil(H/f), ceil(W/f), 3) clamped output


def stage_view(image: np.ndarray, factor: int, multiple: int) -> np.ndarray:
    """An (H, W, 3) image as a stage of scale 1/factor sees it: padded as the model pads its
    input (`pad_to_multiple`), area-averaged by `factor`, cropped to (ceil(H/f), ceil(W/f))."""
    from fdikp_cli.model.fdikp import pad_to_multiple

    if factor == 1:
        return image
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()  # (1, 3, H, W)
    padded, (h, w) = pad_to_multiple(x, multiple)
    pooled = F.avg_pool2d(padded, factor)[..., : -(-h // factor), : -(-w // factor)]
    return pooled[0].permute(1, 2, 0).numpy()


def stage_gains(stages: list[np.ndarray], blurred: np.ndarray, sharp: np.ndarray, multiple: int) -> list[dict]:
    """Per stage (coarsest first): PSNR of its input x_s and of its output y_s against the
    target at the stage's scale, and the difference (the stage's own gain)."""
    rows = []
    for s, output in enumerate(stages):
        factor = 2 ** (len(stages) - 1 - s)
        target = stage_view(sharp, factor, multiple).astype(np.float64)
        psnr_in = psnr(stage_view(blurred, factor, multiple).astype(np.float64), target)
        psnr_out = psnr(output.astype(np.float64), target)
        rows.append({"scale": f"1/{factor}", "psnr_input": psnr_in, "psnr_output": psnr_out, "gain": psnr_out - psnr_in})
    return rows


@torch.no_grad()
def run_model(model: torch.nn.Module, image: np.ndarray, dtype: torch.dtype, tone_lock: float | None) -> ModelRun:
    """One un-tiled forward_with_maps pass: the restored image and the last stage's maps.

    The same steps as restore(tile=None): autocast in `dtype`, clamp to [0, 1], then the tone
    lock; restore() would need a second pass for the guidance radius.
    """
    from fdikp_cli.inference.tone_lock import lock_tone

    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()  # (1, 3, H, W)
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype != torch.float32):
        result = model.forward_with_maps(x)  # pads to the size multiple and crops back itself
    restored = result.images[-1].float().clamp(0.0, 1.0)
    if tone_lock:
        restored = lock_tone(restored, x, tone_lock)
    last = result.maps[-1]

    def plain(m: torch.Tensor | None) -> torch.Tensor | None:
        return None if m is None else m.float()

    stages = [y.float().clamp(0.0, 1.0)[0].permute(1, 2, 0).numpy() for y in result.images]
    return ModelRun(restored[0].permute(1, 2, 0).numpy(), plain(last.dilation_input), plain(last.radius), stages)


# ---------------------------------------------------------------------------------------------
# Scoring


@dataclass
class PairBlocks:
    """One pair's model-independent per-block measurements ((hb, wb) each) and whole-image PSNR."""

    name: str
    radius: np.ndarray
    textured: np.ndarray  # bool
    mse_input: np.ndarray
    psnr_input: float


def measure_pair(root: Path, name: str, cache_dir: Path | None, threshold: float,
                 fit_ratio: float) -> tuple[PairBlocks, np.ndarray, np.ndarray, bool]:
    """Register the pair, fit (or read) its block radii, pick its textured blocks.

    Returns the blocks, the registered blurred and sharp images (H, W, 3) and whether the fit
    came from the cache.
    """
    blurred, sharp = load_pair(root, name, 1.0, register=True)  # (1, 3, H, W) each
    fit, was_cached = cached_fit(root, name, blurred, sharp, cache_dir)
    x, y = (t[0].permute(1, 2, 0).numpy() for t in (blurred, sharp))  # (H, W, 3) float32
    textured = textured_mask(fit, texture_rms(y), threshold, fit_ratio)
    blocks = PairBlocks(name, fit.radius, textured, block_mse(x, y), psnr(x.astype(np.float64), y))
    return blocks, x, y, was_cached


def band_summary(radius: np.ndarray, mse_input: np.ndarray, mse_output: np.ndarray | None = None,
                 dilation: np.ndarray | None = None, guidance: np.ndarray | None = None) -> list[dict]:
    """Per band over the given (textured) blocks, all (N,): counts, pooled PSNRs, gain, map means."""
    bands = band_index(radius)
    rows = []
    for k, band_name in enumerate(BAND_NAMES):
        inside = bands == k
        row = {"band": band_name, "blocks": int(inside.sum()), "psnr_input": pooled_psnr(mse_input[inside])}
        if mse_output is not None:
            row["psnr_output"] = pooled_psnr(mse_output[inside])
            row["gain"] = row["psnr_output"] - row["psnr_input"]
        for key, values in (("mean_dilation", dilation), ("mean_guidance_radius", guidance)):
            if values is not None:
                row[key] = float(values[inside].mean()) if inside.any() else float("nan")
        rows.append(row)
    return rows


def score_model(weights: str, pairs: list[PairBlocks], images: dict[str, tuple[np.ndarray, np.ndarray]],
                dtype: torch.dtype, tone_lock: float | None) -> dict:
    """Run one weights file on every pair; its per-band numbers and map correlations."""
    from fdikp_cli.inference.device import use_fast_memory_format
    from fdikp_cli.weights import load_model

    loaded = load_model(weights, allow_random=False)
    use_fast_memory_format(loaded.model, torch.device("cpu"), dtype)  # as fdikp evaluate does
    start = time.perf_counter()
    out_mse, dilation, guidance, whole, per_stage = [], [], [], [], []
    multiple = loaded.model.config.size_multiple
    for pair in pairs:
        x, y = images[pair.name]
        run = run_model(loaded.model, x, dtype, tone_lock)
        per_stage.append(stage_gains(run.stages, x, y, multiple))
        out_mse.append(block_mse(run.output, y)[pair.textured])  # (N_pair,)
        whole.append(psnr(run.output.astype(np.float64), y))
        if run.dilation is not None:
            dilation.append(block_map_mean(run.dilation)[pair.textured])
        if run.guidance is not None:
            guidance.append(block_map_mean(run.guidance)[pair.textured])
    radius = np.concatenate([p.radius[p.textured] for p in pairs])  # (N,) all pairs' textured blocks
    mse_input = np.concatenate([p.mse_input[p.textured] for p in pairs])
    dil = np.concatenate(dilation) if dilation else None
    guide = np.concatenate(guidance) if guidance else None
    return {
        "weights": str(weights),
        "bands": band_summary(radius, mse_input, np.concatenate(out_mse), dil, guide),
        "psnr_whole": float(np.mean(whole)),
        "gain_whole": float(np.mean(whole) - np.mean([p.psnr_input for p in pairs])),
        "spearman_dilation": None if dil is None else spearman(dil, radius),
        "spearman_guidance": None if guide is None else spearman(guide, radius),
        "stages": [
            {"scale": rows[0]["scale"], **{k: float(np.mean([r[k] for r in rows])) for k in ("psnr_input", "psnr_output", "gain")}}
            for rows in zip(*per_stage)
        ],
        "seconds": time.perf_counter() - start,
    }


def jsonable(value: object) -> object:
    """NaN and infinities as null (strict JSON), recursively."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def fmt(value: float | None, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", action="extend", nargs="+", required=True, help="weights files (repeatable)")
    parser.add_argument("--data-root", type=Path, default=PAIRS / "val", help="pairs folder with source/ and target/")
    parser.add_argument("--limit", type=int, default=0, help="first N pairs in name order (0: all)")
    parser.add_argument("--json", type=Path, default=None, help="write the per-band numbers here")
    parser.add_argument("--precision", default="auto", help="model autocast: auto (as fdikp evaluate), fp32, bf16")
    parser.add_argument("--tone-lock", type=float, default=None, help="tone lock σ (px; default: the CLI's; 0: off)")
    parser.add_argument("--texture-threshold", type=float, default=TEXTURE_THRESHOLD)
    parser.add_argument("--fit-ratio", type=float, default=FIT_RATIO)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="fit cache (--no-cache: none)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from fdikp_cli.inference.device import precision_name, resolve_precision
    from fdikp_cli.inference.tone_lock import DEFAULT_TONE_LOCK_SIGMA
    from fdikp_cli.synth.writer import list_images

    if not (args.data_root / "source").is_dir() or not (args.data_root / "target").is_dir():
        raise SystemExit(f"needs {args.data_root}/source and target/ (set FDIKP_SHARED_DIR or --data-root)")
    names = [p.relative_to(args.data_root / "source").as_posix() for p in list_images(args.data_root / "source")]
    names = names[: args.limit] if args.limit > 0 else names
    dtype = resolve_precision(args.precision, torch.device("cpu"))
    tone_lock = DEFAULT_TONE_LOCK_SIGMA if args.tone_lock is None else (args.tone_lock or None)
    start = time.perf_counter()
    print(f"{len(names)} pairs from {args.data_root}, registered, {BLOCK} px blocks, radii 0..{RADII[-1]:g} px; "
          f"model {precision_name(dtype)}, tone lock {tone_lock or 'off'}, {args.threads} thread(s)", flush=True)

    # The fits and the registered pairs, once for all weights (18 pairs hold ~300 MB as float32).
    pairs: list[PairBlocks] = []
    images: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        t0 = time.perf_counter()
        blocks, x, y, was_cached = measure_pair(args.data_root, name, None if args.no_cache else args.cache_dir,
                                                args.texture_threshold, args.fit_ratio)
        pairs.append(blocks)
        images[name] = (x, y)
        r = blocks.radius[blocks.textured]
        print(f"  {name}: {'cached fit' if was_cached else 'fitted'}, {time.perf_counter() - t0:.1f} s; "
              f"{int(blocks.textured.sum())}/{blocks.textured.size} textured blocks, radius median "
              f"{fmt(float(np.median(r)) if r.size else None)} px, p90 "
              f"{fmt(float(np.quantile(r, 0.9)) if r.size else None)} px", flush=True)

    radius = np.concatenate([p.radius[p.textured] for p in pairs])
    mse_input = np.concatenate([p.mse_input[p.textured] for p in pairs])
    report: dict = {
        "data_root": str(args.data_root), "pairs": names, "block": BLOCK,
        "radii": {"min": RADII[0], "max": RADII[-1], "step": RADII[1] - RADII[0]},
        "texture_threshold": args.texture_threshold, "fit_ratio": args.fit_ratio,
        "precision": precision_name(dtype), "tone_lock": tone_lock,
        "input": {"bands": band_summary(radius, mse_input), "psnr_whole": float(np.mean([p.psnr_input for p in pairs]))},
        "models": [],
    }
    for weights in args.weights:
        report["models"].append(score_model(weights, pairs, images, dtype, tone_lock))
        print(f"  {weights}: {len(pairs)} images in {report['models'][-1]['seconds']:.0f} s", flush=True)

    print_tables(report)
    print(f"\nwall time {time.perf_counter() - start:.0f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(jsonable(report), indent=2))
        print(f"wrote {args.json}")


def print_tables(report: dict) -> None:
    """PSNR per band (the input row, then one row per weights: output PSNR (gain)), then the maps."""
    header = ["", *BAND_NAMES, "whole image (mean)", "Spearman dilation", "Spearman guidance"]
    print("\n| PSNR of textured blocks (dB) | " + " | ".join(header[1:]) + " |")
    print("|---|" + "---|" * (len(header) - 1))
    print("| blocks | " + " | ".join(str(b["blocks"]) for b in report["input"]["bands"]) + " | | | |")
    print("| input | " + " | ".join(fmt(b["psnr_input"]) for b in report["input"]["bands"])
          + f" | {fmt(report['input']['psnr_whole'])} | | |")
    for model in report["models"]:
        cells = [f"{fmt(b['psnr_output'])} ({fmt(b['gain'], signed=True)})" for b in model["bands"]]
        maps = [fmt(model[k]) if model[k] is not None else "-" for k in ("spearman_dilation", "spearman_guidance")]
        print(f"| {Path(model['weights']).name} | " + " | ".join(cells)
              + f" | {fmt(model['psnr_whole'])} ({fmt(model['gain_whole'], signed=True)}) | " + " | ".join(maps) + " |")
    print("\n| each stage's own gain (whole images, mean over pairs; clamped, no tone lock) | "
          + " | ".join(st["scale"] for st in report["models"][0]["stages"]) + " |")
    print("|---|" + "---|" * len(report["models"][0]["stages"]))
    for model in report["models"]:
        print(f"| {Path(model['weights']).name} | " + " | ".join(
            f"{fmt(st['psnr_input'])} -> {fmt(st['psnr_output'])} ({fmt(st['gain'], signed=True)})" for st in model["stages"])
            + " |")
    for model in report["models"]:
        if "mean_dilation" not in model["bands"][0]:
            continue
        print(f"\n{Path(model['weights']).name}: mean per band of the full-resolution maps")
        print("| map | " + " | ".join(BAND_NAMES) + " |")
        print("|---|" + "---|" * len(BAND_NAMES))
        for key, label in (("mean_dilation", "PAC dilation"), ("mean_guidance_radius", "guidance radius (px)")):
            if key in model["bands"][0]:
                print(f"| {label} | " + " | ".join(fmt(b[key]) for b in model["bands"]) + " |")


if __name__ == "__main__":
    main()
