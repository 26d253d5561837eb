"""fdikp_cli.evaluation: pairing rules, protocol reading (8/16-bit), scoring against
independent references (scikit-image / numpy), reports, and running the model over a dataset."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from fdikp_cli import __version__
from fdikp_cli.errors import ConfigError, DatasetError
from fdikp_cli.evaluation import EvaluationOptions, evaluate_dataset, evaluate_folders, pair_folders, resolve_dataset
from fdikp_cli.evaluation.protocol_io import PROTOCOLS, read_image
from fdikp_cli.evaluation.report import EvaluationReport, ImageResult, Scores
from fdikp_cli.evaluation.runner import Scorer
from fdikp_cli.metrics.ssim import SSIM_WANG
from tests.conftest import shared_path

NO_LPIPS = EvaluationOptions(use_lpips=False, device="cpu")


def _write(path: Path, rgb: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8/uint16 RGB array as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def _random_rgb(seed: int, h: int = 40, w: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _blurred(rgb: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(rgb, (5, 5), 1.5)


def _make_triplets(root: Path, names: list[str], size: tuple[int, int] = (40, 48)) -> dict[str, dict[str, np.ndarray]]:
    """root/{pred,target,source}/NAME.png: target random, source a blur of it, pred in between."""
    data = {}
    for i, name in enumerate(names):
        target = _random_rgb(i, *size)
        source = _blurred(target)
        pred = ((target.astype(np.uint16) + source) // 2).astype(np.uint8)
        for sub, image in (("target", target), ("source", source), ("pred", pred)):
            _write(root / sub / f"{name}.png", image)
        data[name] = {"target": target, "source": source, "pred": pred}
    return data


# --- pairing -------------------------------------------------------------------------------


def test_mismatched_names_are_refused_with_what_is_missing(tmp_path: Path) -> None:
    _make_triplets(tmp_path, ["a", "b", "c"])
    (tmp_path / "pred" / "b.png").unlink()
    _write(tmp_path / "pred" / "zzz.png", _random_rgb(9))
    with pytest.raises(DatasetError) as info:
        pair_folders(tmp_path / "pred", tmp_path / "target")
    message = str(info.value)
    assert "1 in " in message and "have no target in" in message and message.split("; ")[0].endswith(": zzz")
    assert "1 targets in" in message and message.endswith("have no image in " + str(tmp_path / "pred") + ": b")


def test_name_pairing_matches_stems_across_extensions(tmp_path: Path) -> None:
    _write(tmp_path / "pred" / "x.png", _random_rgb(0))
    rgb = _random_rgb(1)
    (tmp_path / "target").mkdir()
    assert cv2.imwrite(str(tmp_path / "target" / "x.bmp"), rgb)
    pairs = pair_folders(tmp_path / "pred", tmp_path / "target")
    assert [(p.name, p.prediction.name, p.target.name) for p in pairs] == [("x", "x.png", "x.bmp")]  # type: ignore[union-attr]


def test_dpdd_test_c_pairs_by_sorted_order(tmp_path: Path) -> None:
    test_c = tmp_path / "dpdd" / "test_c"
    for s, t in (("1P0A0917", "1P0A0916"), ("1P0A0920", "1P0A0919"), ("1P0A1001", "1P0A1000")):
        _write(test_c / "source" / f"{s}.png", _random_rgb(0))
        _write(test_c / "target" / f"{t}.png", _random_rgb(1))
    resolved = resolve_dataset("dpdd", tmp_path / "dpdd")
    assert [(p.source.stem, p.target.stem) for p in resolved.pairs] == [  # type: ignore[union-attr]
        ("1P0A0917", "1P0A0916"),
        ("1P0A0920", "1P0A0919"),
        ("1P0A1001", "1P0A1000"),
    ]
    assert "sorted order" in resolved.layout
    # The same names would be refused by name pairing.
    with pytest.raises(DatasetError, match="do not pair by name"):
        resolve_dataset("pairs", test_c)
    (test_c / "target" / "1P0A1000.png").unlink()
    with pytest.raises(DatasetError, match="different numbers"):
        resolve_dataset("dpdd", tmp_path / "dpdd")


def test_shared_validation_folder_works_as_pairs_and_as_every_dataset() -> None:
    root = shared_path("data", "dpdd-canon-iso", "val")
    # The folder grows (8 pairs, then 18): count its files independently of the pairing code.
    expected = len([p for p in (root / "source").iterdir() if (root / "target" / p.name).is_file()])
    assert expected >= 8
    for dataset in ("pairs", "rtf", "realdof", "dpdd", "lfdof"):  # lenient: pairs layout for all
        resolved = resolve_dataset(dataset, root)
        assert len(resolved.pairs) == expected
        assert all(p.source is not None and p.source.name == p.target.name for p in resolved.pairs)


def test_lfdof_inputs_map_to_ground_truth_by_longest_prefix(tmp_path: Path) -> None:
    split = tmp_path / "lfdof" / "test_data"
    for name in ("IMG_1", "IMG_10"):
        _write(split / "ground_truth" / f"{name}.png", _random_rgb(0))
    for name in ("IMG_1_ap2", "IMG_1_ap5", "IMG_10_ap3"):
        _write(split / "input" / f"{name}.png", _random_rgb(1))
    _write(split / "input" / "IMG_10" / "IMG_10_ap7.png", _random_rgb(2))  # per-scene subfolder form
    pairs = resolve_dataset("lfdof", tmp_path / "lfdof").pairs
    mapping = {p.name: p.target.stem for p in pairs}
    assert mapping == {"IMG_1_ap2": "IMG_1", "IMG_1_ap5": "IMG_1", "IMG_10_ap3": "IMG_10", "IMG_10/IMG_10_ap7": "IMG_10"}
    _write(split / "input" / "IMG_2_ap1.png", _random_rgb(3))
    with pytest.raises(DatasetError, match="IMG_2_ap1.png"):
        resolve_dataset("lfdof", tmp_path / "lfdof")


def test_missing_dataset_layout_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="test_c/source"):
        resolve_dataset("dpdd", tmp_path / "empty")
    with pytest.raises(ConfigError, match="unknown dataset"):
        resolve_dataset("imagenet", tmp_path / "empty")  # type: ignore[arg-type]


# --- reading per protocol ------------------------------------------------------------------


def test_16_bit_png_is_reduced_to_its_high_byte_in_8_bit_mode(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    deep = rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    path = _write(tmp_path / "deep.png", deep)
    eight = read_image(path, bit_depth=8)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(eight, (deep >> 8).astype(np.float64) / 255)
    # The reference reader the protocol names: OpenCV IMREAD_COLOR (8-bit, BGR).
    opencv = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float64) / 255
    np.testing.assert_array_equal(eight, opencv)
    sixteen = read_image(path, bit_depth=16)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(sixteen, deep.astype(np.float64) / 65535)
    # An 8-bit file reads the same at either depth.
    shallow = _write(tmp_path / "shallow.png", _random_rgb(1))
    torch.testing.assert_close(read_image(shallow, 8), read_image(shallow, 16), rtol=0, atol=1e-15)
    with pytest.raises(ConfigError):
        read_image(shallow, 12)


# --- scoring -------------------------------------------------------------------------------


def test_folder_scores_match_scikit_image_and_baseline_is_reported(tmp_path: Path) -> None:
    data = _make_triplets(tmp_path, ["a", "b"])
    report = evaluate_folders(tmp_path / "pred", tmp_path / "target", source_dir=tmp_path / "source", options=NO_LPIPS)
    assert [r.name for r in report.images] == ["a", "b"]
    for result in report.images:
        t = data[result.name]["target"] / 255.0
        for scores, image in ((result.scores, data[result.name]["pred"]), (result.baseline, data[result.name]["source"])):
            x = image / 255.0
            assert scores is not None
            assert scores.psnr == pytest.approx(peak_signal_noise_ratio(t, x, data_range=1.0), abs=1e-6)
            assert scores.ssim == pytest.approx(structural_similarity(x, t, channel_axis=-1, data_range=1.0), abs=1e-6)
            assert scores.mae == pytest.approx(np.abs(x - t).mean(), abs=1e-12)
            assert scores.lpips is None
    mean = report.mean()
    assert mean["psnr"] == pytest.approx(np.mean([r.scores.psnr for r in report.images]))
    assert report.lpips_missing == "LPIPS not requested"
    # The prediction is better than the blurry input here: the baseline is really the input's.
    assert mean["psnr"] > report.baseline_mean()["psnr"]  # type: ignore[index]


def test_wang_protocol_rounds_predictions_and_uses_gaussian_ssim() -> None:
    torch.manual_seed(0)
    target = torch.round(torch.rand(1, 3, 32, 32, dtype=torch.float64) * 255) / 255
    pred = (target + 0.02 * torch.randn_like(target)).clamp(0, 1)  # float, not on 8-bit levels
    scores = Scorer(PROTOCOLS["wang"], 8, None, torch.device("cpu"))("x", pred, target)
    pred8 = np.round(pred[0].permute(1, 2, 0).numpy() * 255)
    target8 = target[0].permute(1, 2, 0).numpy() * 255
    assert scores.psnr == pytest.approx(peak_signal_noise_ratio(target8, pred8, data_range=255), abs=1e-6)
    expected = structural_similarity(
        pred8, target8, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert scores.ssim == pytest.approx(expected, abs=1e-6)
    assert PROTOCOLS["wang"].ssim == SSIM_WANG
    dpdd = Scorer(PROTOCOLS["dpdd"], 8, None, torch.device("cpu"))("x", pred, target)
    assert dpdd.psnr != pytest.approx(scores.psnr, abs=1e-4)  # dpdd keeps the float output


def test_a_pair_that_cannot_be_scored_leaves_the_others_scored(tmp_path: Path) -> None:
    """Issue 14: one pair whose sizes differed aborted the whole evaluation with no report."""
    data = _make_triplets(tmp_path, ["a", "b", "c"])
    _write(tmp_path / "pred" / "b.png", _random_rgb(0, 40, 47))
    (tmp_path / "pred" / "c.png").write_bytes(b"not a png")
    report = evaluate_folders(tmp_path / "pred", tmp_path / "target", source_dir=tmp_path / "source", options=NO_LPIPS)
    assert [r.name for r in report.images] == ["a"]
    assert [u.name for u in report.unscored] == ["b", "c"]
    assert report.unscored[0].reason == "sizes differ: 47x40 vs target 48x40 (evaluation never resizes)"
    expected = peak_signal_noise_ratio(data["a"]["target"], data["a"]["pred"], data_range=255)
    assert report.mean()["psnr"] == pytest.approx(expected, abs=1e-6)  # the mean of the scored pair alone


def test_label_groups_give_indoor_and_outdoor_means(tmp_path: Path) -> None:
    _make_triplets(tmp_path, ["a", "b", "c"])
    (tmp_path / "indoor.txt").write_text("# indoor scenes\na.png\nb\n")
    (tmp_path / "outdoor.txt").write_text("c\nnot_here\n")
    options = EvaluationOptions(use_lpips=False, device="cpu", labels={"indoor": tmp_path / "indoor.txt", "outdoor": tmp_path / "outdoor.txt"})
    report = evaluate_folders(tmp_path / "pred", tmp_path / "target", options=options)
    assert report.groups == {"indoor": ["a", "b"], "outdoor": ["c"]}
    by_name = {r.name: r.scores.psnr for r in report.images}
    assert report.mean("indoor")["psnr"] == pytest.approx((by_name["a"] + by_name["b"]) / 2)
    assert report.mean("outdoor")["psnr"] == pytest.approx(by_name["c"])
    assert len(report.warnings) == 1 and "not_here" in report.warnings[0]


def test_absent_lpips_weights_leave_the_other_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FDIKP_LPIPS_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _make_triplets(tmp_path, ["a"])
    options = EvaluationOptions(lpips_weights=tmp_path / "none", lpips_download=False, device="cpu")
    report = evaluate_folders(tmp_path / "pred", tmp_path / "target", options=options)
    assert report.images[0].scores.lpips is None and report.mean()["lpips"] is None
    assert report.lpips_missing is not None and "--lpips-dir" in report.lpips_missing
    assert report.images[0].scores.psnr > 0


# --- report --------------------------------------------------------------------------------


def test_json_and_csv_shapes(tmp_path: Path) -> None:
    report = EvaluationReport(
        protocol="dpdd",
        protocol_description="d",
        bit_depth=8,
        images=[
            ImageResult("a", Scores(30.0, 0.9, 0.01, 0.1), Scores(20.0, 0.7, 0.05, 0.4)),
            ImageResult("same", Scores(math.inf, 1.0, 0.0, 0.0), Scores(22.0, 0.8, 0.03, 0.3)),
        ],
        groups={"indoor": ["a"]},
    )
    data = json.loads(report.write_json(tmp_path / "r.json").read_text())
    assert data["protocol"] == "dpdd"
    assert data["images"][0] == {
        "name": "a", "psnr": 30.0, "ssim": 0.9, "mae": 0.01, "lpips": 0.1,
        "baseline": {"psnr": 20.0, "ssim": 0.7, "mae": 0.05, "lpips": 0.4},
    }
    assert data["images"][1]["psnr"] is None  # +inf is not JSON
    assert data["mean"]["psnr"] is None and data["mean"]["ssim"] == pytest.approx(0.95)
    assert data["baseline"]["psnr"] == pytest.approx(21.0)
    assert data["groups"]["indoor"]["mean"]["psnr"] == 30.0 and data["groups"]["indoor"]["baseline"]["lpips"] == 0.4
    assert data["gain"]["ssim"] == pytest.approx(0.2) and data["groups"]["indoor"]["gain"]["psnr"] == 10.0
    assert data["fdikp_version"] == __version__ and data["date"] and data["unscored"] == []
    assert {"device", "precision", "tiling"} <= set(data)
    rows = list(csv.DictReader(open(report.write_csv(tmp_path / "r.csv"))))
    assert [r["name"] for r in rows] == ["a", "same", "mean", "mean:indoor", "baseline", "gain", "gain:indoor"]
    assert float(rows[0]["baseline_psnr"]) == 20.0 and float(rows[3]["psnr"]) == 30.0
    assert float(rows[4]["ssim"]) == pytest.approx(0.75) and float(rows[5]["ssim"]) == pytest.approx(0.2)
    assert rows[5]["psnr"] == "inf" and float(rows[6]["psnr"]) == 10.0  # an identical pair: infinite PSNR


# --- running the model ---------------------------------------------------------------------


def test_evaluate_dataset_runs_the_model_and_saves_outputs(tmp_path: Path) -> None:
    from fdikp_cli.inference.device import PRECISIONS, precision_name, resolve_precision, use_fast_memory_format
    from fdikp_cli.inference.restore import restore
    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.weights import load_model, save_weights

    torch.manual_seed(0)
    weights = save_weights(FDIKP(FDIKPConfig()), tmp_path / "w.safetensors", provenance={"test": True})
    root = tmp_path / "set"
    data = _make_triplets(root, ["p", "q"], size=(36, 52))  # uses source/ and target/ (pairs layout)
    out = tmp_path / "outputs"
    report = evaluate_dataset("pairs", root, weights, save_outputs=out, options=NO_LPIPS)
    assert report.tiling == {"tile": None, "overlap": None, "whole_image": True}
    assert report.weights["path"] == str(weights) and report.weights["trained"]  # type: ignore[index]
    assert sorted(p.name for p in out.iterdir()) == ["p.png", "q.png"]
    # Independent recomputation: run the model by hand, in the precision the report names
    # (auto: bf16 on CPUs with native bf16, else fp32), and score with scikit-image.
    assert report.model_run == {"device": "cpu", "precision": precision_name(resolve_precision("auto", torch.device("cpu"))),
                                "tone_lock": 32.0}
    dtype = PRECISIONS[report.model_run["precision"]]
    model = load_model(weights, device="cpu").model
    use_fast_memory_format(model, torch.device("cpu"), dtype)  # the layout the report's precision runs in
    source = torch.from_numpy(data["p"]["source"] / 255.0).permute(2, 0, 1)[None]
    pred = restore(model, source.float(), dtype=dtype, tone_lock=32.0).double()[0].permute(1, 2, 0).numpy()
    target = data["p"]["target"] / 255.0
    result = report.images[0]
    assert result.name == "p"
    assert result.scores.psnr == pytest.approx(peak_signal_noise_ratio(target, pred, data_range=1.0), abs=1e-5)
    assert result.scores.ssim == pytest.approx(structural_similarity(pred, target, channel_axis=-1, data_range=1.0), abs=1e-5)
    assert result.baseline is not None
    assert result.baseline.psnr == pytest.approx(peak_signal_noise_ratio(target, data["p"]["source"] / 255.0, data_range=1.0), abs=1e-6)
    # The saved PNG is the float output rounded to 8 bits.
    saved = cv2.imread(str(out / "p.png"), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.abs(saved.astype(np.float64) - pred * 255).max() <= 0.5 + 1e-6


def test_evaluate_dataset_records_the_tile_really_used(tmp_path: Path) -> None:
    """restore() rounds the tile to the size multiple (at least two) and clamps the overlap to
    half a tile; the report used to record the requested numbers instead."""
    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.weights import save_weights

    torch.manual_seed(0)
    config = FDIKPConfig()
    weights = save_weights(FDIKP(config), tmp_path / "w.safetensors", provenance={"test": True})
    root = tmp_path / "set"
    _make_triplets(root, ["p"], size=(36, 52))
    report = evaluate_dataset("pairs", root, weights, tile=config.size_multiple + 5, overlap=500, options=NO_LPIPS)
    side = 2 * config.size_multiple
    assert report.tiling == {"tile": side, "overlap": side // 2, "whole_image": False}


def test_lpips_in_the_report_is_the_lpips_module_on_the_same_images(tmp_path: Path) -> None:
    import os

    from fdikp_cli.metrics.lpips import load_lpips
    from tests.conftest import SHARED_DIR

    weights_dir = Path(os.environ.get("FDIKP_LPIPS_DIR") or SHARED_DIR / "weights" / "lpips")
    if not (weights_dir / "lpips_v0.1_linear_heads.safetensors").is_file():
        pytest.skip(f"LPIPS weights absent from {weights_dir} (set FDIKP_LPIPS_DIR)")
    data = _make_triplets(tmp_path, ["a"], size=(48, 64))
    options = EvaluationOptions(lpips_weights=weights_dir, lpips_download=False, device="cpu")
    report = evaluate_folders(tmp_path / "pred", tmp_path / "target", source_dir=tmp_path / "source", options=options)
    lpips = load_lpips(weights_dir, download=False)
    as_tensor = lambda a: torch.from_numpy(a / np.float32(255)).permute(2, 0, 1)[None].float()  # noqa: E731
    expected = lpips(as_tensor(data["a"]["pred"]), as_tensor(data["a"]["target"])).item()
    assert report.images[0].scores.lpips == pytest.approx(expected, abs=1e-6)
    assert report.images[0].baseline.lpips > report.images[0].scores.lpips  # type: ignore[union-attr]
    assert report.lpips == {"directory": str(weights_dir), "origin": "argument"}
