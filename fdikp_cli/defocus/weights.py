"""Defocus-map weights: the estimator and its learned kernel bank in one safetensors file.

Metadata (strings): "format": "fdikp-defocus-map", "format_version": "1", "estimator": the
EstimatorConfig JSON, "kernel_bank": the KernelBankConfig JSON, "provenance": JSON (data,
steps, time, measured numbers). Tensors: "estimator.NAME" and "bank.NAME" (the state dicts).
The bank travels with the estimator because the map's unit is defined by it: the estimator was
trained so that reblurring with *this* bank reproduces real defocus.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
from fdikp_cli.errors import WeightsError
from fdikp_cli.weights import write_safetensors_atomic

FORMAT_NAME = "fdikp-defocus-map"
FORMAT_VERSION = "1"
DEFAULT_NAME = "defocus_map.safetensors"


def default_defocus_weights_path() -> Path:
    """$FDIKP_DEFOCUS_WEIGHTS if set, else `weights/defocus_map.safetensors` at the repository root."""
    env = os.environ.get("FDIKP_DEFOCUS_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent.parent / "weights" / DEFAULT_NAME


@dataclass
class DefocusWeights:
    """A loaded file: the estimator (eval mode), its bank, and where they came from."""

    path: Path
    model: DefocusMapNet
    bank: KernelBank
    provenance: dict[str, Any] = field(default_factory=dict)


def save_defocus_weights(model: DefocusMapNet, bank: KernelBank, path: str | Path,
                         provenance: dict[str, Any] | None = None,
                         storage_dtype: torch.dtype | None = None) -> Path:
    """Write both state dicts with their configurations (atomic rename, umask mode).

    storage_dtype (e.g. torch.float16) applies to the estimator only; the bank's log-taps stay
    float32 (a half-precision softmax input moves small taps by ~0.1 %, and the bank is small).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        value = value.detach().to("cpu").contiguous().clone()  # channels-last -> plain layout
        tensors[f"estimator.{name}"] = value.to(storage_dtype) if storage_dtype is not None and value.is_floating_point() else value
    for name, value in bank.state_dict().items():
        tensors[f"bank.{name}"] = value.detach().to("cpu", torch.float32).contiguous().clone()
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "estimator": model.config.to_json(),
        "kernel_bank": json.dumps(asdict(bank.config), sort_keys=True),
        "provenance": json.dumps(provenance or {}, sort_keys=True),
    }
    return write_safetensors_atomic(path, tensors, metadata)


def load_defocus_weights(path: str | Path | None = None, device: torch.device | str = "cpu") -> DefocusWeights:
    """Build the estimator and bank a weights file describes and load them (float32, eval mode).

    Raises WeightsError for a missing, foreign or mismatched file.
    """
    from safetensors import safe_open

    path = Path(path) if path is not None else default_defocus_weights_path()
    if not path.is_file():
        raise WeightsError(f"defocus-map weights not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # noqa: BLE001 - safetensors raises several unrelated types
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    if metadata.get("format") != FORMAT_NAME:
        raise WeightsError(f"{path} is not a defocus-map weights file (no 'format: {FORMAT_NAME}' metadata)")
    try:
        model = DefocusMapNet(EstimatorConfig.from_dict(json.loads(metadata["estimator"])))
        bank_values = json.loads(metadata["kernel_bank"])
        bank = KernelBank(KernelBankConfig(**bank_values))
        provenance = json.loads(metadata.get("provenance", "{}"))
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: invalid configuration metadata: {exc}") from None
    estimator_state = {k[len("estimator."):]: v.float() for k, v in tensors.items() if k.startswith("estimator.")}
    bank_state = {k[len("bank."):]: v.float() for k, v in tensors.items() if k.startswith("bank.")}
    try:
        model.load_state_dict(estimator_state)
        bank.load_state_dict(bank_state)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: tensors do not fit the described model: {str(exc).splitlines()[0]}") from None
    model.eval().to(device)
    bank.to(device)
    for parameter in (*model.parameters(), *bank.parameters()):
        parameter.requires_grad_(False)
    return DefocusWeights(path, model, bank, provenance)
