"""`make demo`'s report: the whole-scene PSNR and its in-focus / defocused parts agree."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_demo_reports_both_regions_and_they_add_up_to_the_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fdikp_cli.demo import run_demo

    result = run_demo(tmp_path)
    assert (tmp_path / "compare.png").is_file()
    assert result["share_in_focus"] + result["share_defocused"] == pytest.approx(1.0)
    assert 0.05 < result["share_in_focus"] < 0.95  # the scene has both, or the split says nothing
    for image in ("blurred", "deblurred"):
        # The whole image's MSE is the pixel-share-weighted mean of the two regions' MSEs.
        parts = sum(result[f"share_{r}"] * 10 ** (-result[f"psnr_{image}_{r}"] / 10) for r in ("in_focus", "defocused"))
        assert 10 ** (-result[f"psnr_{image}"] / 10) == pytest.approx(parts, rel=1e-4)
    assert "in focus (r <= 1 px)" in capsys.readouterr().out


@pytest.mark.parametrize("args, code", [(["--help"], 0), (["-h"], 0), (["--out", "x"], 2), (["a", "b"], 2)])
def test_demo_options_are_not_taken_for_an_output_folder(args: list[str], code: int, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from fdikp_cli import demo

    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr(demo, "run_demo", lambda out: ran.append(out))
    assert demo.main(args) == code
    assert ran == [] and list(tmp_path.iterdir()) == []  # no folder named like an option
    assert "usage: python -m fdikp_cli.demo" in (capsys.readouterr().out if code == 0 else capsys.readouterr().err)


def test_demo_takes_one_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fdikp_cli import demo

    ran = []
    monkeypatch.setattr(demo, "run_demo", lambda out: ran.append(out))
    assert demo.main([str(tmp_path / "out")]) == 0 and ran == [tmp_path / "out"]


def test_demo_with_fdikp_weights_naming_a_missing_file_stops_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fdikp_cli import demo

    monkeypatch.setenv("FDIKP_WEIGHTS", str(tmp_path / "typo.safetensors"))
    assert demo.main([str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "typo.safetensors" in err and "FDIKP_WEIGHTS" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "deblurred.png").exists()  # no random model's results
