"""Network interpolation of two weights files: the blend, its ends, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.errors import WeightsError
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.weights import load_model, read_weights, save_weights
from fdikp_cli.weights_interpolation import interpolate_state_dicts, write_interpolated

TINY = FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1, predictor_channels=8)


def _two_files(tmp_path: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    a = save_weights(FDIKP(TINY), tmp_path / "a.safetensors")
    torch.manual_seed(1)
    b = save_weights(FDIKP(TINY), tmp_path / "b.safetensors")
    return a, b


def test_blend_is_elementwise_and_its_ends_are_the_inputs() -> None:
    a = {"w": torch.tensor([0.0, 2.0, -4.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([1.0, 0.0, 4.0]), "n": torch.tensor(3)}
    assert torch.equal(interpolate_state_dicts(a, b, 0.25)["w"], torch.tensor([0.25, 1.5, -2.0]))
    assert torch.equal(interpolate_state_dicts(a, b, 0.0)["w"], a["w"])
    assert torch.equal(interpolate_state_dicts(a, b, 1.0)["w"], b["w"])
    assert int(interpolate_state_dicts(a, b, 0.5)["n"]) == 3
    with pytest.raises(WeightsError, match="integer tensors differ"):
        interpolate_state_dicts(a, {**b, "n": torch.tensor(4)}, 0.5)
    with pytest.raises(WeightsError, match="different tensors"):
        interpolate_state_dicts(a, {"w": b["w"]}, 0.5)
    with pytest.raises(WeightsError, match="shapes"):
        interpolate_state_dicts(a, {**b, "w": torch.zeros(4)}, 0.5)
    with pytest.raises(WeightsError, match=r"\[0, 1\]"):
        interpolate_state_dicts(a, b, 1.5)


def test_written_file_is_a_loadable_model_between_the_two(tmp_path: Path) -> None:
    a, b = _two_files(tmp_path)
    out = write_interpolated(a, b, 0.3, tmp_path / "mix.safetensors")
    mixed, first, second = (read_weights(p) for p in (out, a, b))
    for name, value in mixed.state_dict.items():
        if value.is_floating_point():
            expected = 0.7 * first.state_dict[name] + 0.3 * second.state_dict[name]
            torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
    assert mixed.provenance["interpolation"]["alpha"] == 0.3
    assert mixed.provenance["interpolation"]["b"]["sha256"] == second.sha256
    model = load_model(out, device="cpu").model
    assert model(torch.rand(1, 3, 32, 32))[-1].shape == (1, 3, 32, 32)


def test_refuses_other_configurations_and_existing_outputs(tmp_path: Path) -> None:
    a, _ = _two_files(tmp_path)
    other = save_weights(FDIKP(FDIKPConfig(widths=(8, 16, 24), level_blocks=(1, 1, 1), bottleneck_res_blocks=1,
                                          predictor_channels=8)), tmp_path / "other.safetensors")
    with pytest.raises(WeightsError, match="different model configurations"):
        write_interpolated(a, other, 0.5, tmp_path / "x.safetensors")
    result = CliRunner().invoke(app, ["interpolate", str(a), str(a), "--alpha", "0.5", "-o", str(a)])
    assert result.exit_code == 1 and "exists" in result.output
    assert CliRunner().invoke(app, ["interpolate", str(a), str(a), "--alpha", "2", "-o", "y"]).exit_code == 2


def test_cli_writes_fp16_when_asked(tmp_path: Path) -> None:
    a, b = _two_files(tmp_path)
    out = tmp_path / "half.safetensors"
    result = CliRunner().invoke(app, ["interpolate", str(a), str(b), "--alpha", "0.5", "-o", str(out), "--fp16"])
    assert result.exit_code == 0, result.output
    state = read_weights(out).state_dict
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
