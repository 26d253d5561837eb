"""pyproject.toml: the SPDX license string (the table form is deprecated and warned about at
install), and tensorboard in the extras that `make test` / `make demo` install."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_license_is_an_spdx_string_and_tensorboard_comes_with_the_test_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    extras = project["optional-dependencies"]
    assert any(spec.startswith("tensorboard") for spec in extras["tensorboard"])
    assert any(spec.startswith("tensorboard") for spec in extras["test"])
    assert '-e ".[test]"' in (ROOT / "Makefile").read_text()
