"""Precision of `fdikp deblur` / `fdikp evaluate` on CPU: bf16 autocast where the CPU runs bf16
natively, the exact fp32 path with `--precision fp32`, and how far bf16 moves the output.

The bf16 tests force the detector on, so they run on any CPU (bf16 is emulated, and slower,
on CPUs without it): they check the numbers, not the speed (benchmarks/bench_deblur.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.evaluation import EvaluationOptions, evaluate_dataset
from fdikp_cli.evaluation.protocol_io import read_image
from fdikp_cli.inference import device as device_module
from fdikp_cli.inference.batch import prepare_engine
from fdikp_cli.inference.device import (
    NATIVE_BF16_CPU_FLAGS,
    PRECISIONS,
    _onednn_bf16_available,
    cpu_has_native_bf16,
    precision_name,
    resolve_precision,
)
from fdikp_cli.inference.restore import restore
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.synth.scene import make_demo_scene
from fdikp_cli.weights import save_weights

CPU = torch.device("cpu")
SIDE = 96  # a multiple of FDIKPConfig().size_multiple (32): the model sees the image unpadded


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _scene_uint8(seed: int = 0) -> np.ndarray:
    """A natural-looking 96x96 photo: the demo scene (edges, text, gradients) softly defocused."""
    sharp = make_demo_scene((SIDE, SIDE), seed=seed)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 1.5, borderType=cv2.BORDER_REFLECT)
    return np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)  # (H, W, 3)


def _as_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)


@pytest.fixture(scope="module")
def model() -> FDIKP:
    """The paper's configuration, random weights from a fixed seed."""
    torch.manual_seed(0)
    return FDIKP(FDIKPConfig()).eval()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory, model: FDIKP) -> Path:
    return save_weights(model, tmp_path_factory.mktemp("w") / "fdikp.safetensors", provenance={"test": True})


def _fp32_reference(model: FDIKP, x: torch.Tensor) -> torch.Tensor:
    """The fp32 path as it was before precisions existed on CPU: the model called directly,
    no autocast, the full-resolution output clamped."""
    assert x.shape[-1] % model.config.size_multiple == 0 and x.shape[-2] % model.config.size_multiple == 0
    with torch.no_grad():
        return model(x)[-1].float().clamp(0.0, 1.0)


# --- detection and resolution ------------------------------------------------------------


def test_native_bf16_needs_a_bf16_flag_in_cpuinfo() -> None:
    plain_avx512 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl avx512dq\n"
    assert not cpu_has_native_bf16(plain_avx512)  # converts bf16, has no bf16 arithmetic
    assert not cpu_has_native_bf16("")
    assert not cpu_has_native_bf16("Features\t: fp asimd bf16 i8mm\n")  # ARM: not measured, fp32
    assert not cpu_has_native_bf16("model name\t: has avx512_bf16 in its name\n")  # only the flags line counts
    for flag in sorted(NATIVE_BF16_CPU_FLAGS):
        text = f"processor\t: 0\nflags\t\t: fpu avx512f {flag} avx512_vnni\n\nprocessor\t: 1\n"
        assert cpu_has_native_bf16(text) is _onednn_bf16_available()


def test_the_system_answer_follows_this_machines_cpuinfo() -> None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        assert cpu_has_native_bf16() is False
        return
    assert cpu_has_native_bf16() is cpu_has_native_bf16(text)


def test_auto_on_cpu_falls_back_to_fp32_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", CPU) is torch.float32
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", CPU) is torch.bfloat16
    assert resolve_precision("AUTO ", CPU) is torch.bfloat16
    assert resolve_precision("fp32", CPU) is torch.float32  # an explicit choice wins over detection
    assert resolve_precision("auto", torch.device("mps")) is torch.float32  # never bf16 on MPS


def test_precision_names_are_the_option_spellings() -> None:
    assert {precision_name(dtype) for dtype in PRECISIONS.values()} == set(PRECISIONS)
    assert all(PRECISIONS[precision_name(dtype)] is dtype for dtype in PRECISIONS.values())


# --- outputs ----------------------------------------------------------------------------------


def test_fp32_is_bit_identical_to_the_plain_fp32_forward(model: FDIKP, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)  # fp32 must not care
    x = _as_tensor(_scene_uint8())
    out = restore(model, x, dtype=resolve_precision("fp32", CPU))
    assert out.dtype is torch.float32 and torch.equal(out, _fp32_reference(model, x))


def _shipped_model() -> FDIKP:
    from fdikp_cli.weights import default_weights_path, load_model

    if not default_weights_path().is_file():
        pytest.skip(f"no shipped weights at {default_weights_path()}")
    return load_model(None, device="cpu").model.eval()


@pytest.mark.parametrize("which", ["random", "shipped"])
def test_auto_bf16_output_stays_within_45_db_of_fp32(
    which: str, model: FDIKP, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Measured ~67 dB (random weights) and ~68 dB (shipped weights); 45 dB is issue 11's bound.
    The random model's kernel heads start near zero, so only the shipped weights exercise the
    predicted kernels."""
    model = model if which == "random" else _shipped_model()
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    x = _as_tensor(_scene_uint8())
    dtype = resolve_precision("auto", CPU)
    assert dtype is torch.bfloat16
    half = restore(model, x, dtype=dtype)
    full = _fp32_reference(model, x)
    assert half.dtype is torch.float32 and half.shape == full.shape
    assert not torch.equal(half, full)  # autocast really ran in bf16
    assert _psnr(half, full) >= 45.0


# --- through the commands -----------------------------------------------------------------


def test_deblur_precision_fp32_writes_the_exact_fp32_output(
    tmp_path: Path, model: FDIKP, weights_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    pixels = _scene_uint8(seed=1)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    result = CliRunner().invoke(
        app, ["deblur", str(tmp_path / "photo.png"), "--weights", str(weights_file), "--device", "cpu", "--precision", "fp32",
              "--tone-lock", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "1 done, 0 skipped, 0 failed (on cpu, fp32)" in result.output
    written = np.asarray(Image.open(tmp_path / "photo_deblurred.png"))
    expected = (_fp32_reference(model, _as_tensor(pixels))[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(written, expected)


def test_deblur_engine_resolves_auto_from_the_detector(weights_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: False)
    assert prepare_engine(weights_file, "cpu", "auto").dtype is torch.float32
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    assert prepare_engine(weights_file, "cpu", "auto").dtype is torch.bfloat16
    assert prepare_engine(weights_file, "cpu", "fp32").dtype is torch.float32


def _pairs(root: Path) -> None:
    for i, name in enumerate(("a", "b")):
        target = (make_demo_scene((SIDE, SIDE), seed=10 + i) * 255).round().astype(np.uint8)
        source = cv2.GaussianBlur(target, (0, 0), 2.0)
        for sub, image in (("target", target), ("source", source)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / sub / f"{name}.png"), image[:, :, ::-1])


def test_evaluate_precision_is_reported_and_bf16_metrics_stay_close(
    tmp_path: Path, model: FDIKP, weights_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    _pairs(tmp_path / "set")
    reports = {
        spec: evaluate_dataset(
            "pairs", tmp_path / "set", weights_file, options=EvaluationOptions(use_lpips=False, device="cpu", precision=spec, tone_lock=None)
        )
        for spec in ("fp32", "auto")
    }
    assert reports["fp32"].model_run == {"device": "cpu", "precision": "fp32", "tone_lock": None}
    assert reports["auto"].model_run == {"device": "cpu", "precision": "bf16", "tone_lock": None}
    # fp32: the scores of the exact fp32 output (scored in float64 like every output).
    source = read_image(tmp_path / "set" / "source" / "a.png", 8).float()  # as evaluate reads it
    target = read_image(tmp_path / "set" / "target" / "a.png", 8)
    exact = _psnr(_fp32_reference(model, source), target)
    assert reports["fp32"].images[0].scores.psnr == pytest.approx(exact, abs=1e-9)
    fp32, bf16 = reports["fp32"].mean(), reports["auto"].mean()
    assert fp32["psnr"] != bf16["psnr"]  # the model really ran in bf16
    assert abs(fp32["psnr"] - bf16["psnr"]) < 0.02 and abs(fp32["ssim"] - bf16["ssim"]) < 1e-3


def test_evaluate_cli_precision_option(tmp_path: Path, weights_file: Path) -> None:
    _pairs(tmp_path / "set")
    out = tmp_path / "report.json"
    args = ["evaluate", "--dataset", "pairs", "--data-root", str(tmp_path / "set"), "--weights", str(weights_file),
            "--no-lpips", "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, "--precision", "fp32", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["model_run"] == {"device": "cpu", "precision": "fp32", "tone_lock": 32.0}
    assert "cpu, fp32)" in result.output
    bad = CliRunner().invoke(app, [*args, "--precision", "fp8"])
    assert bad.exit_code == 2 and "--precision must be" in bad.output and "Traceback" not in bad.output


def _conv_weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def test_bf16_engine_stores_convolutions_channels_last_and_fp32_keeps_the_exact_layout(
    weights_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    fast, exact = prepare_engine(weights_file, "cpu", "auto"), prepare_engine(weights_file, "cpu", "fp32")
    fast_weights, exact_weights = _conv_weights(fast.model), _conv_weights(exact.model)
    assert fast_weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in fast_weights
                                if w.shape[-1] > 1 or w.shape[-2] > 1)  # 1x1 kernels are both layouts at once
    assert all(w.is_contiguous() for w in exact_weights)
    # The layout changes only the order of bf16 roundings: still within issue 11's 45 dB of fp32.
    x = _as_tensor(_scene_uint8(seed=1))
    half = restore(fast.model, x, dtype=fast.dtype)
    full = _fp32_reference(exact.model, x)
    assert _psnr(half, full) >= 45.0
