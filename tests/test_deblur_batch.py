"""The batch library behind `fdikp deblur`: inputs, output names, policies, per-file results.

Most tests use small stand-in models (any callable returning an image tensor is accepted):
the file handling is the point here, not the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from fdikp_cli.errors import ConfigError
from fdikp_cli.inference.batch import (
    DeblurOptions,
    Engine,
    FileResult,
    PlannedFile,
    check_existing,
    collect_inputs,
    deblur_files,
    parse_tile,
    plan_outputs,
)
from fdikp_cli.inference.device import RankInfo, rank_from_environment
from fdikp_cli.model import FDIKP, FDIKPConfig

RNG = np.random.default_rng(2)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _channel_gains(x: torch.Tensor) -> torch.Tensor:
    """A model whose R, G, B outputs differ: 0.2, 0.4, 0.6 times the input."""
    return x * torch.tensor([0.2, 0.4, 0.6]).view(1, 3, 1, 1)


def _rgb(path: Path, h: int = 24, w: int = 32, **save: object) -> np.ndarray:
    array = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save)
    return array


def _plan(inputs: list, options: DeblurOptions) -> tuple[list[PlannedFile], list[FileResult]]:
    """plan_outputs then check_existing, split into what would run and what would not."""
    planned, problems = [], []
    for entry in plan_outputs(inputs, options):
        verdict = entry if isinstance(entry, FileResult) else check_existing(entry, options)
        (problems if verdict is not None else planned).append(verdict or entry)
    return planned, problems


def _names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_collect_folders_globs_and_missing(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.png", "sub/c.tif", "sub/deep/d.webp", "notes.txt", ".hidden.png", "a_deblurred.png"):
        target = tmp_path / name
        if name.endswith(".txt"):
            target.write_text("x")
        else:
            _rgb(target)
    flat, problems = collect_inputs([tmp_path])
    assert _names([i.path for i in flat], tmp_path) == ["a.png", "b.jpg"] and not problems
    deep, _ = collect_inputs([tmp_path], recursive=True)
    assert _names([i.path for i in deep], tmp_path) == ["a.png", "b.jpg", "sub/c.tif", "sub/deep/d.webp"]
    assert all(i.base == tmp_path for i in deep)
    globbed, _ = collect_inputs([str(tmp_path / "**" / "*.*")])
    assert _names([i.path for i in globbed], tmp_path) == ["a.png", "b.jpg", "sub/c.tif", "sub/deep/d.webp"]
    assert globbed[0].base == tmp_path
    both, problems = collect_inputs([tmp_path / "a.png", tmp_path, tmp_path / "missing.jpg", str(tmp_path / "*.gif")])
    assert _names([i.path for i in both], tmp_path) == ["a.png", "b.jpg"]  # a.png once
    assert [(p.source.name, p.reason) for p in problems] == [
        ("missing.jpg", "file not found"),
        ("*.gif", "no image matches this pattern"),
    ]
    # A file named explicitly is taken even when it looks like an earlier result.
    explicit, _ = collect_inputs([tmp_path / "a_deblurred.png"])
    assert len(explicit) == 1


def test_output_names(tmp_path: Path) -> None:
    photo = tmp_path / "in" / "Photo.JPG"
    nested = tmp_path / "in" / "sub" / "n.png"
    _rgb(photo)
    _rgb(nested)
    inputs, _ = collect_inputs([tmp_path / "in"], recursive=True)
    planned, problems = _plan(inputs, DeblurOptions())
    assert not problems
    assert [p.output for p in planned] == [
        tmp_path / "in" / "Photo_deblurred.JPG",  # the input's extension, as spelled
        tmp_path / "in" / "sub" / "n_deblurred.png",
    ]
    options = DeblurOptions(output=tmp_path / "out", suffix="", format="webp", compare=True, save_maps=True)
    planned, _ = _plan(inputs, options)
    assert [p.output for p in planned] == [tmp_path / "out" / "Photo.webp", tmp_path / "out" / "sub" / "n.webp"]
    assert planned[0].compare_output == tmp_path / "out" / "Photo_compare.webp"
    assert planned[0].maps_output == tmp_path / "out" / "Photo_dilation.png"
    single, _ = _plan(inputs[:1], DeblurOptions(output=tmp_path / "result.tif"))
    assert single[0].output == tmp_path / "result.tif" and single[0].format.name == "TIFF"
    with pytest.raises(ConfigError, match="file name but 2 inputs"):
        _plan(inputs, DeblurOptions(output=tmp_path / "result.tif"))


def test_never_overwrites_inputs_and_existing_outputs(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    _rgb(a)
    _rgb(b)
    inputs, _ = collect_inputs([a, b])
    _, problems = _plan(inputs, DeblurOptions(suffix="", overwrite=True))
    assert [p.reason for p in problems] == ["the output would overwrite an input (change --suffix or --output)"] * 2
    (tmp_path / "a_deblurred.png").write_bytes(b"old")
    planned, problems = _plan(inputs, DeblurOptions())
    assert [p.source.path for p in planned] == [b]
    assert problems[0].status == "failed" and "exists" in problems[0].reason
    planned, problems = _plan(inputs, DeblurOptions(skip_existing=True))
    assert [p.source.path for p in planned] == [b] and problems[0].status == "skipped"
    planned, problems = _plan(inputs, DeblurOptions(overwrite=True))
    assert len(planned) == 2 and not problems
    # Two inputs that would write the same file: the second is refused.
    c = tmp_path / "a.jpg"
    _rgb(c)
    inputs, _ = collect_inputs([a, c])
    _, problems = _plan(inputs, DeblurOptions(format="png", overwrite=True))
    assert len(problems) == 1 and "same output name" in problems[0].reason


def test_batch_goes_on_after_bad_files(tmp_path: Path) -> None:
    _rgb(tmp_path / "good1.png")
    _rgb(tmp_path / "good2.jpg")
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    summary = deblur_files([tmp_path], DeblurOptions(), Engine(_identity))
    status = {r.source.name: (r.status, r.reason) for r in summary.results}
    assert status["good1.png"] == ("done", "") and status["good2.jpg"] == ("done", "")
    assert status["zero.png"] == ("failed", "empty file (0 bytes)")
    assert status["corrupt.jpg"][0] == "failed" and status["corrupt.jpg"][1]
    assert not summary.ok and len(summary.done) == 2 and len(summary.failed) == 2
    assert (tmp_path / "good1_deblurred.png").is_file() and (tmp_path / "good2_deblurred.jpg").is_file()
    assert not (tmp_path / "zero_deblurred.png").exists() and not (tmp_path / "corrupt_deblurred.jpg").exists()


def test_identity_model_round_trips_16bit_and_alpha_exactly(tmp_path: Path) -> None:
    import cv2

    rgba = RNG.integers(0, 65536, (20, 30, 4), dtype=np.uint16)
    ok, data = cv2.imencode(".png", rgba[..., [2, 1, 0, 3]])
    (tmp_path / "deep.png").write_bytes(data.tobytes())
    summary = deblur_files([tmp_path / "deep.png"], DeblurOptions(tile=16, overlap=8), Engine(_identity))
    assert summary.ok and summary.results[0].tiles > 1
    out = cv2.imdecode(np.fromfile(tmp_path / "deep_deblurred.png", np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and np.array_equal(out[..., [2, 1, 0, 3]], rgba)


def test_alpha_passes_through_a_colour_changing_model(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    # tone_lock off: this model changes colours on purpose, to check which channel goes where.
    assert deblur_files([tmp_path / "t.png"], DeblurOptions(tone_lock=None), Engine(_channel_gains)).ok
    out = np.asarray(Image.open(tmp_path / "t_deblurred.png"))
    assert np.array_equal(out[..., 3], rgba[..., 3])
    expected_red = np.round(rgba[..., 0] / 255 * 0.2 * 255)
    assert np.abs(out[..., 0] - expected_red).max() <= 1


def test_grayscale_comes_back_gray_as_the_channel_mean(tmp_path: Path) -> None:
    gray = RNG.integers(0, 256, (16, 20), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    assert deblur_files([tmp_path / "g.png"], DeblurOptions(tone_lock=None), Engine(_channel_gains)).ok
    out = Image.open(tmp_path / "g_deblurred.png")
    assert out.mode == "L"
    expected = np.round(gray / 255 * 0.4 * 255)  # mean of 0.2, 0.4, 0.6
    assert np.abs(np.asarray(out).astype(float) - expected).max() <= 1


def test_exif_rotated_jpeg_comes_out_upright_with_metadata(tmp_path: Path) -> None:
    stored = np.zeros((32, 48, 3), dtype=np.uint8)
    stored[:, :24] = 255  # as stored: left half white; orientation 6 shows it as the top half
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0110] = "EOS R5"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=exif.tobytes(), icc_profile=icc, quality=95)
    assert deblur_files([tmp_path / "r.jpg"], DeblurOptions(), Engine(_identity)).ok
    out = Image.open(tmp_path / "r_deblurred.jpg")
    assert out.size == (32, 48)  # width, height: upright
    pixels = np.asarray(out)
    assert pixels[:20].mean() > 240 and pixels[-20:].mean() < 15
    assert out.getexif()[0x0112] == 1 and out.getexif()[0x0110] == "EOS R5"
    assert out.info["icc_profile"] == icc
    assert deblur_files([tmp_path / "r.jpg"], DeblurOptions(suffix="_s", strip_metadata=True), Engine(_identity)).ok
    stripped = Image.open(tmp_path / "r_s.jpg")
    assert "icc_profile" not in stripped.info and 0x0110 not in stripped.getexif()


def test_compare_and_maps(tmp_path: Path) -> None:
    _rgb(tmp_path / "p.png", 32, 48)
    torch.manual_seed(0)
    config = FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1, predictor_channels=8)
    model = FDIKP(config).eval()
    # No defocus-map weights here (their radius map is tested in test_defocus_cli.py).
    options = DeblurOptions(compare=True, save_maps=True, defocus_weights=tmp_path / "absent.safetensors")
    summary = deblur_files([tmp_path / "p.png"], options, Engine(model))
    assert summary.ok
    result = summary.results[0]
    assert result.extra_outputs == [tmp_path / "p_deblurred_compare.png", tmp_path / "p_deblurred_dilation.png"]
    compare = np.asarray(Image.open(tmp_path / "p_deblurred_compare.png"))
    assert compare.shape == (32, 96, 3)
    assert np.array_equal(compare[:, :48], np.asarray(Image.open(tmp_path / "p.png")))
    assert np.array_equal(compare[:, 48:], np.asarray(Image.open(tmp_path / "p_deblurred.png")))
    colours = Image.open(tmp_path / "p_deblurred_dilation.png")
    assert colours.size == (48, 32) and colours.mode == "RGB"
    # A model without PAC maps says so instead of failing.
    summary = deblur_files([tmp_path / "p.png"], DeblurOptions(suffix="_x", save_maps=True), Engine(_identity))
    assert summary.ok and "no dilation map" in summary.results[0].notes[-1]


def test_non_ascii_paths(tmp_path: Path) -> None:
    folder = tmp_path / "Urlaub München" / "日本"
    _rgb(folder / "Strand ñ.jpg")
    options = DeblurOptions(recursive=True, output=tmp_path / "Ergebnis ü")
    summary = deblur_files([tmp_path / "Urlaub München"], options, Engine(_identity))
    assert summary.ok
    assert (tmp_path / "Ergebnis ü" / "日本" / "Strand ñ_deblurred.jpg").is_file()


def test_ranks_split_the_files(tmp_path: Path) -> None:
    for i in range(5):
        _rgb(tmp_path / f"{i}.png", 8, 8)
    (tmp_path / "bad.png").write_bytes(b"")
    shares = [deblur_files([tmp_path], DeblurOptions(), Engine(_identity), rank=RankInfo(r, 2, r)) for r in range(2)]
    names = [sorted(r.source.name for r in s.results) for s in shares]
    assert not set(names[0]) & set(names[1])
    assert sorted(names[0] + names[1]) == sorted(["0.png", "1.png", "2.png", "3.png", "4.png", "bad.png"])
    assert len(list(tmp_path.glob("*_deblurred.png"))) == 5


def test_rank_environment() -> None:
    assert rank_from_environment({}) == RankInfo(0, 1, 0)
    assert rank_from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == RankInfo(3, 4, 1)
    with pytest.raises(ConfigError):
        rank_from_environment({"RANK": "4", "WORLD_SIZE": "4"})


def test_options_are_checked() -> None:
    assert parse_tile("auto") == "auto" and parse_tile("0") is None and parse_tile("512") == 512
    for bad in ("-1", "big"):
        with pytest.raises(ConfigError):
            parse_tile(bad)
    with pytest.raises(ConfigError, match="exclude"):
        DeblurOptions(overwrite=True, skip_existing=True)
    with pytest.raises(ConfigError):
        DeblurOptions(format="gif")
    with pytest.raises(ConfigError):
        DeblurOptions(quality=0)
    with pytest.raises(ConfigError):
        DeblurOptions(suffix="a/b")


def test_output_folder_inside_the_input_is_not_read_back(tmp_path: Path) -> None:
    _rgb(tmp_path / "p.png")
    options = DeblurOptions(recursive=True, output=tmp_path / "out", suffix="")
    first = deblur_files([tmp_path], options, Engine(_identity))
    assert [r.status for r in first.results] == ["done"] and (tmp_path / "out" / "p.png").is_file()
    again = DeblurOptions(recursive=True, output=tmp_path / "out", suffix="", skip_existing=True)
    second = deblur_files([tmp_path], again, Engine(_identity))
    assert [(r.source.name, r.status) for r in second.results] == [("p.png", "skipped")]


def test_a_model_failure_fails_only_that_file(tmp_path: Path) -> None:
    _rgb(tmp_path / "small.png", 8, 8)
    _rgb(tmp_path / "large.png", 40, 40)

    def picky(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 16:
            raise RuntimeError("kernel exploded\nwith a second line")
        return x

    summary = deblur_files([tmp_path], DeblurOptions(tile=None), Engine(picky))
    status = {r.source.name: (r.status, r.reason) for r in summary.results}
    assert status == {"large.png": ("failed", "RuntimeError: kernel exploded"), "small.png": ("done", "")}
    assert not (tmp_path / "large_deblurred.png").exists()
