"""Turn a scored weights file into a shipped one: float16 storage, its scores in its metadata.

    .venv/bin/python tools/ship_weights.py runs/snaps/blur1_s2000.safetensors \\
        --evaluation runs/evals/blur1_s2000.json --bands runs/evals/blur1_s2000_bands.json \\
        -o weights/fdikp_default.safetensors --overwrite

The source is a float32 file written by `fdikp train` (its EMA, SWA or a checkpoint), scored on
the val pairs with `fdikp evaluate --json-file` (whole images) and `python -m
benchmarks.radius_bands --json` (gain per measured blur radius). The output keeps the source's
configuration and training provenance and adds:

- `evaluation`: the whole-val means of the output and the blurry input, the image count, protocol,
  precision and tone lock (what `make demo` and `fdikp info` quote);
- `radius_bands`: the gain per blur-radius band and the dilation map's rank correlation;
- `source`: the float32 file's path and sha256; `replaces`: the sha256 and evaluation of the file
  at the output path before, when there was one.

Before writing, the float16 tensors are checked against the float32 ones on two centre crops of
val photos (fp32 forward passes of both): refused below MIN_FP16_PSNR dB, since the float16 file
must lose nothing measurable.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdikp_cli.weights import load_model, read_weights, save_weights  # noqa: E402

MIN_FP16_PSNR = 60.0  # dB between the float16 file's outputs and the float32 file's
EVALUATION_COMMAND = ("fdikp evaluate --dataset pairs --data-root ../shared/data/dpdd-canon-iso/val "
                      "--lpips-dir ../shared/weights/lpips")


def evaluation_summary(report: dict) -> dict:
    """The part of an `fdikp evaluate --json-file` report a weights file carries."""
    if report.get("partial") or report.get("unscored"):
        raise SystemExit("the evaluation report is partial or left images unscored: score all pairs first")
    return {
        "command": EVALUATION_COMMAND, "images": report["count"], "mean": report["mean"],
        "blurry_input": report["baseline"], "protocol": report["protocol"], "precision": report["precision"],
        "tone_lock": report["model_run"]["tone_lock"], "whole_image": report["tiling"]["whole_image"],
        "date": report["date"],
    }


def bands_summary(report: dict) -> dict:
    """Gain per band and the map correlations of the first model of a radius_bands report."""
    model = report["models"][0]
    return {
        "command": "python -m benchmarks.radius_bands",
        "gain": {band["band"]: round(band["gain"], 4) for band in model["bands"]},
        "spearman_dilation": model.get("spearman_dilation"),
        "spearman_guidance": model.get("spearman_guidance"),
        "stages": model.get("stages"),
    }


def fp16_agreement(source: Path, half: dict[str, torch.Tensor], crops: list[torch.Tensor]) -> float:
    """Lowest PSNR (dB) over `crops` between fp32 passes with the source tensors and the float16 ones."""
    full = load_model(source).model.eval()
    rounded = load_model(source).model.eval()
    rounded.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    worst = float("inf")
    with torch.no_grad():
        for crop in crops:
            a, b = full(crop)[-1].clamp(0, 1), rounded(crop)[-1].clamp(0, 1)
            mse = float((a - b).square().mean())
            worst = min(worst, 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-20))).item())
    return worst


def val_crops(root: Path, count: int = 2, side: int = 384) -> list[torch.Tensor]:
    from fdikp_cli.synth.writer import read_rgb

    crops = []
    for path in sorted((root / "source").iterdir())[:count]:
        image = torch.from_numpy(read_rgb(path).transpose(2, 0, 1).copy())[None].float()  # (1, 3, H, W)
        h, w = image.shape[-2:]
        sh, sw = min(side, h), min(side, w)
        crops.append(image[..., (h - sh) // 2 : (h - sh) // 2 + sh, (w - sw) // 2 : (w - sw) // 2 + sw])
    return crops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="float32 weights file (a run's EMA, SWA or checkpoint)")
    parser.add_argument("--evaluation", type=Path, required=True, help="fdikp evaluate --json-file report")
    parser.add_argument("--bands", type=Path, required=True, help="benchmarks.radius_bands --json report")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--val-root", type=Path, default=ROOT.parent / "shared" / "data" / "dpdd-canon-iso" / "val")
    args = parser.parse_args()
    if args.output.exists() and not args.overwrite:
        raise SystemExit(f"{args.output} exists (--overwrite replaces it)")
    source = read_weights(args.source)
    provenance = dict(source.provenance)
    provenance["evaluation"] = evaluation_summary(json.loads(args.evaluation.read_text()))
    provenance["radius_bands"] = bands_summary(json.loads(args.bands.read_text()))
    provenance["source"] = {"path": str(args.source), "sha256": source.sha256}
    provenance["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if args.output.exists():
        before = read_weights(args.output)
        provenance["replaces"] = {"sha256": before.sha256, "evaluation": before.provenance.get("evaluation")}
    half = {k: v.half() if v.is_floating_point() else v for k, v in source.state_dict.items()}
    agreement = fp16_agreement(args.source, half, val_crops(args.val_root))
    print(f"float16 vs float32 outputs: {agreement:.1f} dB at worst (2 centre 384² val crops, fp32 passes)")
    if agreement < MIN_FP16_PSNR:
        raise SystemExit(f"refused: float16 storage changes the outputs (below {MIN_FP16_PSNR} dB)")
    model = load_model(args.source).model
    save_weights(model, args.output, provenance=provenance, storage_dtype=torch.float16)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB): whole val PSNR "
          f"{provenance['evaluation']['mean']['psnr']:.3f} dB over {provenance['evaluation']['images']} pairs")


if __name__ == "__main__":
    main()
