"""`fdikp info`: readable lines at any width, nothing cut; --json unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.weights import read_weights, save_weights

TINY = FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1, predictor_channels=8)


def test_info_prints_whole_paths_and_provenance_as_lines(tmp_path: Path) -> None:
    torch.manual_seed(0)
    folder = tmp_path / ("a folder with a rather long name to pass eighty columns" * 2)
    path = save_weights(FDIKP(TINY), folder / "w.safetensors", provenance={
        "data": {"dataset": "pairs", "sources": ["pairs: 38 pairs", "synthetic: 164 sharp photos"]},
        "stages": [{"crop": 128, "lr": 0.00019999999999999998}, {"crop": 256, "lr": 1e-4}],
        "validation": {"psnr": 25.923494401123},
    })
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["info", "--weights", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"weights: {path}" in lines and f"sha256: {read_weights(path).sha256}" in lines
    provenance = lines[lines.index("provenance:") + 1 :]
    assert provenance == [
        "  data:",
        "    dataset: pairs",
        "    sources: pairs: 38 pairs; synthetic: 164 sharp photos",
        "  stages:",
        "    - crop: 128, lr: 0.0002",
        "    - crop: 256, lr: 0.0001",
        "  validation:",
        "    psnr: 25.9235",
    ]
    assert "  widths: 8, 16, 32" in lines and "{" not in result.output
    as_json = json.loads(CliRunner().invoke(app, ["info", "--weights", str(path), "--json"]).output)
    assert as_json["weights"]["provenance"]["stages"][0]["crop"] == 128


def test_info_names_the_defocus_map_weights_and_whether_they_are_there(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "no_such_defocus.safetensors"
    monkeypatch.setenv("FDIKP_DEFOCUS_WEIGHTS", str(missing))
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    assert f"defocus-map weights (defocus-map, deblur --save-maps): {missing} (not installed)" in result.output.splitlines()
    present = tmp_path / "defocus.safetensors"
    present.write_bytes(b"x")  # info only says where the file is; defocus-map itself validates it
    monkeypatch.setenv("FDIKP_DEFOCUS_WEIGHTS", str(present))
    report = json.loads(CliRunner().invoke(app, ["info", "--json"]).output)
    assert report["defocus_map_weights"] == {"path": str(present), "installed": True}
