"""Weights files: safetensors round trip, metadata, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fdikp_cli.errors import WeightsError
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.weights import load_model, read_weights, save_weights


def test_round_trip_is_bit_exact_with_config_and_provenance(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = FDIKPConfig(kernel_size=3, widths=(8, 16, 16, 16), attention_heads=2)
    model = FDIKP(config)
    path = save_weights(model, tmp_path / "w.safetensors", provenance={"steps": 12, "data": "unit test"})
    loaded = load_model(path)
    assert loaded.config == config
    assert loaded.weights is not None and loaded.weights.provenance == {"steps": 12, "data": "unit test"}
    assert len(loaded.weights.sha256) == 64
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(model.eval()(x)[-1], loaded.model(x)[-1])


def test_wrong_shapes_are_named(tmp_path: Path) -> None:
    small = FDIKP(FDIKPConfig(widths=(8, 16, 16, 16), attention_heads=2))
    path = save_weights(small, tmp_path / "w.safetensors")
    weights = read_weights(path)
    from fdikp_cli.weights import load_state_checked

    with pytest.raises(WeightsError, match="do not fit the model: .*file has"):
        load_state_checked(FDIKP(FDIKPConfig()), weights.state_dict, source="w.safetensors")


def test_truncated_file_gives_clear_error(tmp_path: Path) -> None:
    path = save_weights(FDIKP(FDIKPConfig(widths=(8, 8, 8, 8), attention_heads=2)), tmp_path / "w.safetensors")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_model(truncated)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(foreign))
    with pytest.raises(WeightsError, match="not FDIKP weights"):
        load_model(foreign)
    junk = tmp_path / "junk.safetensors"
    junk.write_text("hello")
    with pytest.raises(WeightsError):
        load_model(junk)


def test_missing_explicit_file_fails_but_default_may_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "absent.safetensors")
    # No shipped file (as in an install without weights/): a random model, which callers announce.
    monkeypatch.delenv("FDIKP_WEIGHTS", raising=False)
    monkeypatch.setattr("fdikp_cli.weights.default_weights_path", lambda: tmp_path / "not_shipped.safetensors")
    loaded = load_model(None)
    assert not loaded.trained
    with pytest.raises(WeightsError):
        load_model(None, allow_random=False)


def test_fdikp_weights_naming_a_missing_file_is_an_error_not_a_random_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FDIKP_WEIGHTS", str(tmp_path / "typo.safetensors"))
    with pytest.raises(WeightsError, match=r"typo.safetensors \(named by \$FDIKP_WEIGHTS\)"):
        load_model(None)


def test_half_precision_storage_halves_the_file_and_loads_into_float32(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = FDIKP(FDIKPConfig(kernel_size=3, widths=(8, 16, 16, 16), attention_heads=2))
    full = save_weights(model, tmp_path / "full.safetensors")
    half = save_weights(model, tmp_path / "half.safetensors", storage_dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert all(v.dtype == torch.float16 for v in read_weights(half).state_dict.values() if v.is_floating_point())
    loaded = load_model(half).model
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for key, value in model.state_dict().items():  # fp16 rounding only: relative error <= 2^-11
        assert torch.allclose(loaded.state_dict()[key], value, rtol=2**-10, atol=1e-7), key
