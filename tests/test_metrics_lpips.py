"""LPIPS: published golden values, loss behaviour, and the weight lookup / download logic
(exercised offline with fake fetchers)."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from fdikp_cli.errors import LpipsWeightsMissing
from fdikp_cli.metrics import lpips_weights as lw
from fdikp_cli.metrics.lpips import LPIPS, load_lpips
from tests.conftest import SHARED_DIR

GOLDEN = {"I03": 0.7237, "I04": 0.2572, "I06": 0.05079, "I08": 0.05205, "I19": 0.4253}


def _weights_dir() -> Path:
    """FDIKP_LPIPS_DIR (set by the Makefile) or shared/weights/lpips; skip when absent."""
    directory = Path(os.environ.get("FDIKP_LPIPS_DIR") or SHARED_DIR / "weights" / "lpips")
    if not ((directory / lw.FEATURES_FILE).is_file() and (directory / lw.HEADS_FILE).is_file()):
        pytest.skip(f"LPIPS weights absent from {directory} (set FDIKP_LPIPS_DIR to the folder holding them)")
    return directory


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real ~/.cache, never see the caller's FDIKP_LPIPS_DIR by accident."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="module")
def lpips_model() -> LPIPS:
    return load_lpips(_weights_dir(), download=False)


def _read_rgb(path: Path) -> torch.Tensor:
    array = np.array(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(array).permute(2, 0, 1)[None]  # (1, 3, H, W)


def _golden_pair(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    root = SHARED_DIR / "data" / "metrics-golden"
    if not (root / "ref" / f"{name}.bmp").is_file():
        pytest.skip(f"needs {root} (the shared data folder beside the checkout)")
    return _read_rgb(root / "dist" / f"{name}.bmp"), _read_rgb(root / "ref" / f"{name}.bmp")


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_lpips_reproduces_published_values(lpips_model: LPIPS, name: str) -> None:
    dist, ref = _golden_pair(name)
    assert lpips_model(dist, ref).item() == pytest.approx(GOLDEN[name], abs=1e-4)


def test_lpips_is_batched_symmetric_and_zero_on_identity(lpips_model: LPIPS) -> None:
    torch.manual_seed(0)
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    batched = lpips_model(a, b)
    assert batched.shape == (2,)
    torch.testing.assert_close(batched, torch.cat([lpips_model(a[i : i + 1], b[i : i + 1]) for i in range(2)]), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(lpips_model(b, a), batched)
    assert lpips_model(a, a).abs().max() < 1e-6


def test_inputs_in_01_flag_maps_to_minus_one_one(lpips_model: LPIPS) -> None:
    torch.manual_seed(1)
    a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    raw = LPIPS(inputs_in_01=False).load_weights(lpips_model.source)  # type: ignore[arg-type]
    torch.testing.assert_close(raw(a * 2 - 1, b * 2 - 1), lpips_model(a, b))
    # The peers' mistake (a [0, 1] image given as if it were [-1, 1]) gives a different number.
    assert abs(raw(a, b).item() - lpips_model(a, b).item()) > 1e-3


def test_lpips_as_a_loss_passes_gradients_to_the_input_only(lpips_model: LPIPS) -> None:
    torch.manual_seed(2)
    target = torch.rand(1, 3, 48, 48)
    pred = target.clone().add_(0.1 * torch.randn_like(target)).clamp_(0, 1).requires_grad_(True)
    lpips_model.train()  # stays in eval mode
    assert not lpips_model.training
    lpips_model(pred, target).sum().backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in lpips_model.parameters())


def test_lpips_refuses_tiny_or_mismatched_images(lpips_model: LPIPS) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        lpips_model(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="one shape"):
        lpips_model(torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 41))


# --- weight lookup -------------------------------------------------------------------------


def _copy_weights(destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in (lw.FEATURES_FILE, lw.HEADS_FILE):
        shutil.copy(_weights_dir() / name, destination / name)
    return destination


def test_pinned_sha256_are_those_of_the_shared_files() -> None:
    directory = _weights_dir()
    for name in (lw.FEATURES_FILE, lw.HEADS_FILE):
        assert lw.sha256_file(directory / name) == lw.FILE_SHA256[name]
        tensors = load_file(str(directory / name))
        assert lw.tensors_sha256(tensors, lw.FEATURE_KEYS if name == lw.FEATURES_FILE else lw.HEAD_KEYS) == lw.TENSORS_SHA256[name]


def test_lookup_order_argument_then_env_then_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg_dir, env_dir, cache_dir = tmp_path / "arg", _copy_weights(tmp_path / "env"), _copy_weights(tmp_path / "cache")
    monkeypatch.setenv(lw.ENV_VAR, str(env_dir))
    found = lw.find_lpips_weights(arg_dir, download=False, cache_dir=cache_dir)  # arg_dir is empty
    assert (found.origin, found.directory) == (lw.ENV_VAR, env_dir)
    _copy_weights(arg_dir)
    assert lw.find_lpips_weights(arg_dir, download=False, cache_dir=cache_dir).origin == "argument"
    monkeypatch.delenv(lw.ENV_VAR)
    assert lw.find_lpips_weights(None, download=False, cache_dir=cache_dir).origin == "cache"


def test_absent_weights_without_download_explain_how_to_provide_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lw.ENV_VAR, raising=False)
    with pytest.raises(LpipsWeightsMissing) as info:
        load_lpips(tmp_path / "nothing", download=False, cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "--lpips-dir" in message and lw.ENV_VAR in message and lw.FEATURES_FILE in message
    assert str(tmp_path / "nothing") in message


def test_a_tampered_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import save_file

    directory = _copy_weights(tmp_path / "w")
    heads = load_file(str(directory / lw.HEADS_FILE))
    heads["alex.lin2.weight"] = heads["alex.lin2.weight"] * 1.01
    save_file(heads, str(directory / lw.HEADS_FILE))
    with pytest.raises(LpipsWeightsMissing, match="does not hold the pinned"):
        lw.find_lpips_weights(directory, download=False, cache_dir=tmp_path / "cache")


# --- download (no network here: fake fetchers serve official-format pickles) ---------------


def _official_pickles(tmp_path: Path, tamper: bool = False) -> dict[str, Path]:
    """Files shaped like the official downloads: torchvision's full AlexNet state dict (zip
    format) and LPIPS's alex.pth (old pickle format, keys lin{i}.model.1.weight)."""
    directory = _weights_dir()
    features = load_file(str(directory / lw.FEATURES_FILE))
    features["classifier.1.weight"] = torch.zeros(4, 9216)  # the parts LPIPS does not use
    features["classifier.1.bias"] = torch.zeros(4)
    heads = load_file(str(directory / lw.HEADS_FILE))
    alex = {f"lin{i}.model.1.weight": heads[f"alex.lin{i}.weight"].clone() for i in range(5)}
    if tamper:
        alex["lin0.model.1.weight"] += 0.001
    paths = {"features": tmp_path / "alexnet.pth", "heads": tmp_path / "alex.pth"}
    torch.save(features, paths["features"])
    torch.save(alex, paths["heads"], _use_new_zipfile_serialization=False)
    return paths


def _serve(monkeypatch: pytest.MonkeyPatch, pickles: dict[str, Path]):
    """A fetcher that serves the fake pickles by URL, recording the URLs asked for."""
    urls = {
        lw.DOWNLOAD_SOURCES[lw.FEATURES_FILE].url: pickles["features"],
        lw.DOWNLOAD_SOURCES[lw.HEADS_FILE].url: pickles["heads"],
    }
    # The fake torchvision file cannot have the real file's sha256 prefix: pin the fake one.
    prefix = hashlib.sha256(pickles["features"].read_bytes()).hexdigest()[:8]
    monkeypatch.setitem(lw.DOWNLOAD_SOURCES, lw.FEATURES_FILE, lw.DownloadSource(lw.DOWNLOAD_SOURCES[lw.FEATURES_FILE].url, prefix))
    asked: list[str] = []

    def fetch(url: str, destination: Path) -> None:
        asked.append(url)
        shutil.copy(urls[url], destination)

    return fetch, asked


def test_download_converts_verifies_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lw.ENV_VAR, raising=False)
    fetch, asked = _serve(monkeypatch, _official_pickles(tmp_path))
    cache = tmp_path / "cache"
    model = load_lpips(None, cache_dir=cache, fetcher=fetch)
    assert model.source is not None and model.source.origin == "download"
    assert len(asked) == 2 and sorted(p.name for p in cache.iterdir()) == sorted([lw.FEATURES_FILE, lw.HEADS_FILE])
    reference = load_lpips(_weights_dir(), download=False)
    a, b = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(model(a, b), reference(a, b), rtol=0, atol=0)

    def no_network(url: str, destination: Path) -> None:
        raise AssertionError("the cache should have been used")

    assert load_lpips(None, cache_dir=cache, fetcher=no_network).source.origin == "cache"  # type: ignore[union-attr]


def test_a_wrong_download_is_refused_and_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lw.ENV_VAR, raising=False)
    fetch, _ = _serve(monkeypatch, _official_pickles(tmp_path, tamper=True))
    cache = tmp_path / "cache"
    with pytest.raises(LpipsWeightsMissing, match="download failed.*does not hold the pinned"):
        load_lpips(None, cache_dir=cache, fetcher=fetch)
    assert not (cache / lw.HEADS_FILE).exists()
    assert [p.name for p in cache.iterdir() if p.name.startswith(".download")] == []


def test_a_corrupt_torchvision_download_fails_its_sha_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lw.ENV_VAR, raising=False)
    pickles = _official_pickles(tmp_path)
    fetch, _ = _serve(monkeypatch, pickles)
    pickles["features"].write_bytes(pickles["features"].read_bytes()[:-10])  # truncated after pinning
    with pytest.raises(LpipsWeightsMissing, match="sha256 check"):
        load_lpips(None, cache_dir=tmp_path / "cache", fetcher=fetch)


def test_offline_download_reports_how_to_provide_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lw.ENV_VAR, raising=False)

    def offline(url: str, destination: Path) -> None:
        raise urllib.error.URLError("no network")

    with pytest.raises(LpipsWeightsMissing) as info:
        load_lpips(None, cache_dir=tmp_path / "cache", fetcher=offline)
    assert "download failed" in str(info.value) and "no network" in str(info.value) and "--lpips-dir" in str(info.value)
