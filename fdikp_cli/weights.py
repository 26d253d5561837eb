"""Weights files: safetensors only, with the model configuration and provenance in metadata.

Metadata keys (all strings, as safetensors requires):
    "format": "fdikp-weights", "format_version": "1", "config": FDIKPConfig JSON,
    "provenance": JSON object (training data, steps, date, hardware, metrics...).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fdikp_cli.errors import ConfigError, OutputExistsError, OutputWriteError, WeightsError
from fdikp_cli.file_mode import apply_umask, check_writable_folder, replaced_atomically
from fdikp_cli.hashing import sha256_file
from fdikp_cli.model import FDIKP, FDIKPConfig

FORMAT_NAME = "fdikp-weights"
FORMAT_VERSION = "1"
DEFAULT_WEIGHTS_NAME = "fdikp_default.safetensors"
WEIGHTS_SUFFIX = ".safetensors"  # the only format written: a .pt name would promise a pickle


def default_weights_path() -> Path:
    """The shipped weights: $FDIKP_WEIGHTS if set, else `weights/fdikp_default.safetensors` at
    the repository root (next to the package in a source checkout or editable install)."""
    env = os.environ.get("FDIKP_WEIGHTS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "weights" / DEFAULT_WEIGHTS_NAME


# The weights files shipped in weights/, by the name `--model` gives them: "default" is tuned
# for PSNR; "perceptual" is fine-tuned from it with the defocus-weighted critic (issue 13,
# weights/PERCEPTUAL.md) and trades a little PSNR for texture.
SHIPPED_MODELS = {"default": DEFAULT_WEIGHTS_NAME, "perceptual": "fdikp_perceptual.safetensors"}


def shipped_weights_dir() -> Path:
    """weights/ at the repository root (next to the package in a checkout or editable install)."""
    return Path(__file__).resolve().parent.parent / "weights"


def shipped_weights_path(model: str) -> Path:
    """The file of a shipped model; "default" honours $FDIKP_WEIGHTS (default_weights_path)."""
    if model not in SHIPPED_MODELS:
        raise ConfigError(f"unknown model {model!r}: expected one of {', '.join(SHIPPED_MODELS)}")
    if model == "default" and os.environ.get("FDIKP_WEIGHTS"):
        return default_weights_path()
    return shipped_weights_dir() / SHIPPED_MODELS[model]


def resolve_model_weights(model: str | None, weights: str | Path | None) -> Path | None:
    """The weights file for `--model NAME` / `--weights FILE` (give at most one).

    None for neither (or --model default): the default weights, whose absence load_model turns
    into a warning and a random model. The perceptual weights are optional: their absence is an
    error naming the file, never a silent fall-back to the default model.
    """
    if model is not None and weights is not None:
        raise ConfigError("give --model or --weights, not both")
    if model is None:
        return Path(weights).expanduser() if weights is not None else None
    path = shipped_weights_path(model)
    if model == "default":
        return None if not path.is_file() else path
    if not path.is_file():
        raise WeightsError(f"the {model} weights are not installed: {path} is missing. Use --model default, or "
                           f"--weights FILE for a weights file of your own")
    return path


def write_safetensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write a safetensors file under a temporary name and rename it: a crash never leaves half a
    file, a failure no temporary file; the file gets the mode the umask gives new files
    (safetensors itself writes 0600). OutputWriteError when it cannot be written."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
            apply_umask(tmp)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}") from None
    except SafetensorError as exc:  # safetensors' own I/O errors (disk full, read-only...)
        raise OutputWriteError(f"cannot write {path}: {exc}") from None
    return path


def check_weights_output(path: str | Path, overwrite: bool = False) -> Path:
    """The path a weights file is to be written to, checked before any work (as `fdikp deblur`
    checks its outputs): a folder in its place or one that cannot be written in is an
    OutputWriteError, an existing file without `overwrite` an OutputExistsError, and a name
    that is not .safetensors a ConfigError (the file would not be what its name says)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputWriteError(f"{path} is a folder: give a file name, e.g. {path / ('model' + WEIGHTS_SUFFIX)}")
    if path.suffix.lower() != WEIGHTS_SUFFIX:
        raise ConfigError(f"{path}: weights are written as safetensors: give a name ending in {WEIGHTS_SUFFIX}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists (use --overwrite to replace it)")
    check_writable_folder(path.parent)
    return path


def save_weights(
    model: FDIKP | nn.Module,
    path: str | Path,
    config: FDIKPConfig | None = None,
    provenance: dict[str, Any] | None = None,
    storage_dtype: torch.dtype | None = None,
) -> Path:
    """Write the model's state dict and its configuration + provenance as a safetensors file.

    The file is written to a temporary name and renamed, so a crash never leaves half a file;
    it gets the mode the umask gives new files (safetensors writes 0600).
    storage_dtype (e.g. torch.float16): floating-point tensors are stored in that type, which
    halves the file; loading casts them back to the model's float32 parameters. Check the
    outputs against the full-precision file before shipping (weights/README.md does).
    """
    config = config or getattr(model, "config", None)
    if config is None:
        raise WeightsError("save_weights needs the model configuration")
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    if storage_dtype is not None:
        tensors = {k: v.to(storage_dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config.to_json(),
        "provenance": json.dumps(provenance or {}, sort_keys=True),
    }
    return write_safetensors_atomic(path, tensors, metadata)


@dataclass
class WeightsFile:
    """The content of a weights file."""

    path: Path
    config: FDIKPConfig
    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


def read_weights(path: str | Path) -> WeightsFile:
    """Read and validate a weights file; every problem is a WeightsError with a clear message."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state_dict = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file (truncated or foreign?): {exc}") from None
    if metadata.get("format") != FORMAT_NAME:
        raise WeightsError(f"{path} is a safetensors file but not FDIKP weights (no 'format: {FORMAT_NAME}' metadata)")
    try:
        config = FDIKPConfig.from_json(metadata["config"])
        provenance = json.loads(metadata.get("provenance", "{}"))
    except (KeyError, ConfigError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: invalid configuration metadata: {exc}") from None
    return WeightsFile(path, config, state_dict, provenance, sha256_file(path))


def load_state_checked(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "weights") -> None:
    """load_state_dict that explains every missing, unexpected or mis-shaped tensor."""
    own = model.state_dict()
    problems: list[str] = []
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    if missing:
        problems.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensors (e.g. {', '.join(unexpected[:3])})")
    for key in sorted(set(own) & set(state_dict)):
        if own[key].shape != state_dict[key].shape:
            problems.append(f"{key}: file has {tuple(state_dict[key].shape)}, model needs {tuple(own[key].shape)}")
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise WeightsError(f"{source} do not fit the model: {shown}")
    model.load_state_dict(state_dict, strict=True)


# Parts of FDIKP that a file written before them lacks, and which start from their own
# initialisation (zero gates, the guidance's zero slope): see FDIKPConfig's later fields.
EXTENSION_PREFIXES = ("blur_guidance.", "carry_gate", "deconvolution_gate", "radius_to_coefficients.",
                      "state_dilation.", "inverse_bank.")


def load_state_extending(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "weights") -> list[str]:
    """Like load_state_checked, but tensors of the extension parts may be missing from the file:
    they keep the model's own values. Returns the keys that kept them."""
    kept = sorted(k for k in set(model.state_dict()) - set(state_dict) if k.startswith(EXTENSION_PREFIXES))
    merged = {**{k: model.state_dict()[k] for k in kept}, **state_dict}
    load_state_checked(model, merged, source)
    return kept


@dataclass
class LoadedModel:
    """A model ready for inference, and where its weights came from."""

    model: FDIKP
    config: FDIKPConfig
    weights: WeightsFile | None  # None: randomly initialised (no weights file found)

    @property
    def trained(self) -> bool:
        return self.weights is not None


def load_model(
    path: str | Path | None = None,
    device: torch.device | str = "cpu",
    allow_random: bool = True,
) -> LoadedModel:
    """Build an FDIKP model from a weights file (default: the shipped weights) in eval mode.

    With path=None and no shipped weights, returns a randomly initialised model when
    allow_random is True (callers must say so to the user), else raises WeightsError. A
    $FDIKP_WEIGHTS that names a missing file is always an error.
    """
    explicit = path is not None
    path = Path(path).expanduser() if explicit else default_weights_path()
    if not path.is_file():
        if not explicit and os.environ.get("FDIKP_WEIGHTS"):
            # Set by the user: a typo must not quietly turn into a random model's results.
            raise WeightsError(f"weights file not found: {path} (named by $FDIKP_WEIGHTS)")
        if explicit or not allow_random:
            raise WeightsError(f"weights file not found: {path}")
        config = FDIKPConfig()
        return LoadedModel(FDIKP(config).to(device).eval(), config, None)
    weights = read_weights(path)
    model = FDIKP(weights.config)
    load_state_checked(model, weights.state_dict, source=str(path))
    return LoadedModel(model.to(device).eval(), weights.config, weights)
