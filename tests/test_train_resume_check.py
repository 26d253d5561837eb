"""fdikp_cli.training.resume_check: what counts as a changed setting on resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdikp_cli.errors import ConfigError
from fdikp_cli.training.config import StageOptions, resolve, to_toml
from fdikp_cli.training.resume_check import check_resume_config, config_changes


def test_changes_are_named_and_session_settings_are_not_changes() -> None:
    saved = resolve("paper-dpdd", None, {}, [], StageOptions(crop="64", lr=1e-4))
    # Session settings (where and how fast it runs, when it logs) and float noise of --lr's scaling
    # (1e-4 * 5e-5 / 1e-4) are not changes.
    same = resolve("paper-dpdd", None, {"run": {"device": "cpu", "log_every": 7, "max_steps": 3},
                                        "data": {"workers": 0}}, [], StageOptions(crop="64", lr=1e-4))
    assert config_changes(saved, same) == []
    wanted = resolve("paper-dpdd", None, {}, ["loss.fft=0.5"], StageOptions(crop="96,64", lr=1e-4))
    assert [c.describe() for c in config_changes(saved, wanted)] == ["loss.fft 0.2 -> 0.5", "stages.0.crop 64 -> 96"]


def test_a_run_without_config_toml_is_not_checked_and_allow_returns_the_changes(tmp_path: Path) -> None:
    wanted = resolve("paper-dpdd", None, {}, [], StageOptions(crop="96"))
    assert check_resume_config(tmp_path, wanted) == []
    (tmp_path / "config.toml").write_text(to_toml(resolve("paper-dpdd", None, {}, [], StageOptions(crop="64"))))
    with pytest.raises(ConfigError, match=r"stages\.0\.crop 64 -> 96; stages\.1\.crop 64 -> 96"):
        check_resume_config(tmp_path, wanted)
    assert [c.key for c in check_resume_config(tmp_path, wanted, allow=True)] == ["stages.0.crop", "stages.1.crop"]
