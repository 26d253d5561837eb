"""`make demo`: deblur a scene the project renders itself and report the PSNR gain.

Nothing from outside the repository is needed: a procedural sharp scene is defocused by the
synthetic-defocus engine, deblurred with the shipped weights, and scored against its sharp
original. Outputs go to demo_out/.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from fdikp_cli.errors import FdikpError

IN_FOCUS_RADIUS = 1.0  # px of circle-of-confusion radius: below it the blur is under a pixel wide


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)).save(path)


def run_demo(out_dir: Path = Path("demo_out"), seed: int = 3) -> dict[str, float]:
    import torch

    from fdikp_cli.inference.device import precision_name, resolve_precision, use_fast_memory_format
    from fdikp_cli.inference.restore import restore
    from fdikp_cli.inference.tone_lock import DEFAULT_TONE_LOCK_SIGMA
    from fdikp_cli.metrics import masked_psnr, psnr, ssim
    from fdikp_cli.synth import SynthConfig, make_demo_scene, synthesize_pair
    from fdikp_cli.weights import load_model

    out_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_model(None)
    if loaded.trained:
        assert loaded.weights is not None
        provenance = loaded.weights.provenance
        print(f"weights: {loaded.weights.path} (sha256 {loaded.weights.sha256[:12]}…)")
        evaluation = provenance.get("evaluation")
        if evaluation:
            # Measured when the weights were shipped, on real photographs (see weights/README.md).
            out, base = evaluation["mean"], evaluation["blurry_input"]
            print(
                f"  on real defocused photos ({evaluation['images']} DPDD validation pairs, "
                f"`{evaluation['command']}`): PSNR {base['psnr']:.2f} -> {out['psnr']:.2f} dB "
                f"({out['psnr'] - base['psnr']:+.2f} dB), SSIM {base['ssim']:.4f} -> {out['ssim']:.4f}"
            )
    else:
        print("weights: NONE FOUND - running a randomly initialised model (expect no real gain)")

    sharp = make_demo_scene((384, 576), seed=seed)
    pair = synthesize_pair(sharp, seed=seed, config=SynthConfig(max_radius=6.0))
    to_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()  # noqa: E731
    blurred_t, sharp_t = to_tensor(pair.blurred), to_tensor(pair.sharp)
    start = time.perf_counter()
    dtype = resolve_precision("auto", torch.device("cpu"))  # as `fdikp deblur` runs it
    use_fast_memory_format(loaded.model, torch.device("cpu"), dtype)
    restored_t = restore(loaded.model, blurred_t, dtype=dtype, tone_lock=DEFAULT_TONE_LOCK_SIGMA)
    seconds = time.perf_counter() - start

    restored = restored_t[0].numpy().transpose(1, 2, 0)
    _save_png(out_dir / "sharp.png", pair.sharp)
    _save_png(out_dir / "blurred.png", pair.blurred)
    _save_png(out_dir / "deblurred.png", restored)
    _save_png(out_dir / "compare.png", np.concatenate([pair.blurred, restored, pair.sharp], axis=1))

    # Where the scene was in focus the model should leave it alone; where it was defocused it
    # should restore detail. The two parts of the PSNR say which of these a change in it comes from.
    in_focus = torch.from_numpy(pair.radius <= IN_FOCUS_RADIUS)[None, None]  # (1, 1, H, W)
    regions = {name: mask for name, mask in (("in_focus", in_focus), ("defocused", ~in_focus)) if bool(mask.any())}
    result = {
        "psnr_blurred": float(psnr(blurred_t, sharp_t)[0]),
        "psnr_deblurred": float(psnr(restored_t, sharp_t)[0]),
        "ssim_blurred": float(ssim(blurred_t, sharp_t)[0]),
        "ssim_deblurred": float(ssim(restored_t, sharp_t)[0]),
        "seconds": seconds,
    }
    for name, mask in regions.items():
        result[f"psnr_blurred_{name}"] = float(masked_psnr(blurred_t, sharp_t, mask)[0])
        result[f"psnr_deblurred_{name}"] = float(masked_psnr(restored_t, sharp_t, mask)[0])
        result[f"share_{name}"] = float(mask.float().mean())
    gain = result["psnr_deblurred"] - result["psnr_blurred"]
    print(f"scene: procedural test scene {sharp.shape[1]}x{sharp.shape[0]}, synthetic defocus (seed {seed})")
    print(f"PSNR  blurred {result['psnr_blurred']:.2f} dB -> deblurred {result['psnr_deblurred']:.2f} dB (gain {gain:+.2f} dB)")
    for name, label in (("in_focus", f"in focus (r <= {IN_FOCUS_RADIUS:g} px)"), ("defocused", "defocused")):
        if f"share_{name}" in result:
            before, after = result[f"psnr_blurred_{name}"], result[f"psnr_deblurred_{name}"]
            print(f"      {label}, {result[f'share_{name}']:.0%} of the scene: {before:.2f} -> {after:.2f} dB ({after - before:+.2f} dB)")
    print(f"SSIM  blurred {result['ssim_blurred']:.4f} -> deblurred {result['ssim_deblurred']:.4f}")
    print(f"time  {seconds:.2f} s on CPU ({precision_name(dtype)}, tone lock sigma {DEFAULT_TONE_LOCK_SIGMA:g} px)")
    print(f"wrote {out_dir / 'deblurred.png'} and {out_dir / 'compare.png'} (blurred | deblurred | sharp)")
    return result


USAGE = "usage: python -m fdikp_cli.demo [OUT_DIR]   (default demo_out; the shipped weights, or FDIKP_WEIGHTS)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    # One optional folder; anything that looks like an option is a mistake, not a folder to create.
    if len(args) > 1 or (args and args[0].startswith("-")):
        print(f"fdikp demo: unexpected arguments {' '.join(args)}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        run_demo(Path(args[0]) if args else Path("demo_out"))
    except FdikpError as exc:  # e.g. $FDIKP_WEIGHTS naming a missing file: say so, no traceback
        print(f"fdikp demo: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
