"""What `fdikp info` reports, as a plain dictionary (the library side of the command)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fdikp_cli import __version__


def describe(weights: str | Path | None = None) -> dict[str, Any]:
    """Version, configuration, parameter count and weights (path, sha256, provenance), and where
    the shipped models and the defocus-map estimator's weights are looked for."""
    import torch

    from fdikp_cli.defocus.weights import default_defocus_weights_path
    from fdikp_cli.model import count_parameters
    from fdikp_cli.weights import SHIPPED_MODELS, default_weights_path, load_model, shipped_weights_path

    loaded = load_model(weights, device="cpu")
    w = loaded.weights
    shipped = {}
    for name in SHIPPED_MODELS:
        path = shipped_weights_path(name)
        shipped[name] = {"path": str(path), "installed": path.is_file()}
    defocus = default_defocus_weights_path()
    return {
        "shipped_models": shipped,
        "defocus_map_weights": {"path": str(defocus), "installed": defocus.is_file()},
        "version": __version__,
        "torch": torch.__version__,
        "config": loaded.config.to_dict(),
        "parameters": count_parameters(loaded.model),
        "weights": {
            "path": str(w.path) if w else None,
            "expected_default": str(default_weights_path()),
            "sha256": w.sha256 if w else None,
            "provenance": w.provenance if w else {},
        },
    }
