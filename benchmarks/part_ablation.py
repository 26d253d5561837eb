"""How much of a model's gain passes through each of its parts (issue 23: "making FIKP's
features matter").

    nice -n 5 env OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.part_ablation \\
        --weights weights/fdikp_default.safetensors [--weights W2 ...] [--crop 512] [--limit N]

On a centre crop of each registered DPDD val pair (`reblur_fit.load_pair(register=True)`, as
`benchmarks.radius_bands` reads them), the model runs as it is, then once with each part
replaced by the neutral stand-in that removes what that part contributes:

- `kernels`: every predicted inverse kernel becomes the identity (centre tap 1), so the FIKP
  deconvolution features F are copies of the stage input; what is left of the gain comes from
  the coefficient maps C, the refinement conv and the global residual;
- `dilation`: each PAC dilation map becomes its own image mean: PAC keeps its average sampling
  rate but no longer knows where the blur is larger;
- `guidance` (blur-aware models): the blur-guidance slope and offset and the radius conv into
  the coefficient module are zero, i.e. the model without the defocus-map estimator;
- `gates` (blur-aware models): the stage-carry and deconvolution gates are zero.

Per variant: PSNR of the clamped output against the target (no tone lock: the tone lock would
hide part of what a stand-in changes), mean over pairs, and the share of the full model's gain
the variant loses, (full - variant) / (full - input). A part whose removal loses ~0 % does not
matter to the output, whatever it computes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmarks.gain_bands import psnr
from benchmarks.reblur_fit import PAIRS, load_pair

GUIDANCE_PARAMETERS = ("blur_guidance.slope", "blur_guidance.offset", "radius_to_coefficients.weight",
                       "radius_to_coefficients.bias", "state_dilation.to_logit.weight", "state_dilation.to_logit.bias")
GATE_PARAMETERS = ("carry_gate", "deconvolution_gate")


@contextlib.contextmanager
def patched_forward(module: nn.Module, wrap: Callable[[Callable], Callable]) -> Iterator[None]:
    """Replace module.forward by wrap(original forward) for the duration of the block."""
    original = module.forward
    module.forward = wrap(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.forward  # back to the class's forward


@contextlib.contextmanager
def zeroed(model: nn.Module, names: tuple[str, ...]) -> Iterator[int]:
    """Zero the named parameters the model has (yields how many); restore them afterwards."""
    params = dict(model.named_parameters())
    present = [params[n] for n in names if n in params]
    saved = [p.detach().clone() for p in present]
    with torch.no_grad():
        for p in present:
            p.zero_()
    try:
        yield len(present)
    finally:
        with torch.no_grad():
            for p, value in zip(present, saved):
                p.copy_(value)


def identity_kernels(model: nn.Module) -> contextlib.AbstractContextManager:
    """Every predicted inverse kernel -> the identity (B, N, K, K) with a centre tap of 1."""
    def wrap(original: Callable) -> Callable:
        def forward(x: torch.Tensor) -> torch.Tensor:
            kernels = original(x)  # (B, N, K, K)
            delta = torch.zeros_like(kernels)
            k = kernels.shape[-1]
            delta[..., k // 2, k // 2] = 1.0
            return delta
        return forward
    return patched_forward(model.fikp.kernel_predictor, wrap)


def flat_dilation(model: nn.Module) -> contextlib.AbstractContextManager:
    """Each dilation map (B, 1, H, W) -> its per-image mean, broadcast back to (B, 1, H, W)."""
    def wrap(original: Callable) -> Callable:
        def forward(x: torch.Tensor, logit_term: torch.Tensor | None = None) -> torch.Tensor:
            dilation = original(x, logit_term)
            return dilation.mean(dim=(-2, -1), keepdim=True).expand_as(dilation)
        return forward
    return patched_forward(model.fikp.dilation, wrap)


def variants(model: nn.Module) -> dict[str, Callable[[], contextlib.AbstractContextManager]]:
    """The stand-ins this model has parts for, by name ("full": none)."""
    names = {n for n, _ in model.named_parameters()}
    found: dict[str, Callable[[], contextlib.AbstractContextManager]] = {"full": contextlib.nullcontext,
                                                                          "kernels": lambda: identity_kernels(model)}
    if getattr(model.fikp, "dilation", None) is not None:
        found["dilation"] = lambda: flat_dilation(model)
    if names & set(GUIDANCE_PARAMETERS):
        found["guidance"] = lambda: zeroed(model, GUIDANCE_PARAMETERS)
    if names & set(GATE_PARAMETERS):
        found["gates"] = lambda: zeroed(model, GATE_PARAMETERS)
    return found


def share_lost(input_psnr: float, full_psnr: float, variant_psnr: float) -> float:
    """The share of the full model's gain over the input that a variant loses (nan without a gain)."""
    gain = full_psnr - input_psnr
    return (full_psnr - variant_psnr) / gain if abs(gain) > 1e-9 else float("nan")


def centre_crop(image: torch.Tensor, side: int) -> torch.Tensor:
    """(1, 3, H, W) -> (1, 3, min(side, H), min(side, W)) from the centre."""
    h, w = image.shape[-2:]
    ch, cw = min(side, h), min(side, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[..., top : top + ch, left : left + cw]


@torch.no_grad()
def restore_plain(model: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """One whole forward pass, autocast in `dtype`, clamped to [0, 1]. (H, W, 3) float64."""
    with torch.autocast(device_type="cpu", dtype=dtype, enabled=dtype != torch.float32):
        y = model(x)[-1]
    return y.float().clamp(0.0, 1.0)[0].permute(1, 2, 0).double().numpy()


def score(weights: str, pairs: list[tuple[torch.Tensor, torch.Tensor]], dtype: torch.dtype) -> dict:
    from fdikp_cli.inference.device import use_fast_memory_format
    from fdikp_cli.weights import load_model

    model = load_model(weights, allow_random=False).model.eval()
    use_fast_memory_format(model, torch.device("cpu"), dtype)
    found = variants(model)
    psnrs: dict[str, list[float]] = {name: [] for name in found}
    inputs = []
    start = time.perf_counter()
    for blurred, sharp in pairs:
        target = sharp[0].permute(1, 2, 0).double().numpy()
        inputs.append(psnr(blurred[0].permute(1, 2, 0).double().numpy(), target))
        for name, stand_in in found.items():
            with stand_in():
                psnrs[name].append(psnr(restore_plain(model, blurred, dtype), target))
    mean = {name: float(np.mean(v)) for name, v in psnrs.items()}
    input_psnr = float(np.mean(inputs))
    return {
        "weights": weights, "input_psnr": input_psnr, "psnr": mean,
        "share_lost": {n: share_lost(input_psnr, mean["full"], v) for n, v in mean.items() if n != "full"},
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", action="append", required=True, help="weights file (repeatable)")
    parser.add_argument("--data-root", type=Path, default=PAIRS / "val")
    parser.add_argument("--crop", type=int, default=512, help="centre crop side (px)")
    parser.add_argument("--limit", type=int, default=0, help="first N pairs in name order (0: all)")
    parser.add_argument("--precision", default="auto", help="auto (as fdikp evaluate), fp32, bf16")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from fdikp_cli.inference.device import precision_name, resolve_precision

    if not (args.data_root / "source").is_dir():
        raise SystemExit(f"needs {args.data_root}/source and target/ (set FDIKP_SHARED_DIR or --data-root)")
    names = sorted(p.name for p in (args.data_root / "source").iterdir() if p.suffix.lower() in (".png", ".jpg"))
    names = names[: args.limit] if args.limit > 0 else names
    dtype = resolve_precision(args.precision, torch.device("cpu"))
    pairs = [tuple(centre_crop(t, args.crop) for t in load_pair(args.data_root, n, 1.0, register=True)) for n in names]
    print(f"{len(pairs)} registered pairs of {args.data_root}, centre {args.crop}² crops, {precision_name(dtype)}, "
          f"clamped, no tone lock", flush=True)
    report = {"data_root": str(args.data_root), "crop": args.crop, "pairs": names, "precision": precision_name(dtype),
              "models": [score(w, pairs, dtype) for w in args.weights]}  # type: ignore[arg-type]
    print("\n| weights | input | full model | " + " | ".join(f"without {n}" for n in ("kernels", "dilation", "guidance", "gates")) + " |")
    print("|---|---|---|---|---|---|---|")
    for m in report["models"]:
        cells = []
        for n in ("kernels", "dilation", "guidance", "gates"):
            cells.append(f"{m['psnr'][n]:.3f} ({m['share_lost'][n]:+.0%} of the gain lost)" if n in m["psnr"] else "-")
        print(f"| {Path(m['weights']).name} | {m['input_psnr']:.3f} | {m['psnr']['full']:.3f} | " + " | ".join(cells) + " |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
