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
