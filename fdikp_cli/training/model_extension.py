"""Starting a run from weights written before a model extension (blur guidance, gates).

The extension fields of FDIKPConfig default to the old form, so an old file loads as it was;
a run may switch them on over such a file (`--model-config`): the new parts start from their
own initialisation (zero gates: the same outputs as the file's model), except the guidance's
estimator, which is the shipped calibrated defocus-map network.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from fdikp_cli.errors import ConfigError
from fdikp_cli.model import FDIKP, FDIKPConfig

# Parameters of the extension that start at zero (they get optim.gate_lr_scale).
GATE_PARAMETERS = ("carry_gate", "deconvolution_gate", "blur_guidance.slope", "blur_guidance.offset",
                   "radius_to_coefficients.weight", "radius_to_coefficients.bias",
                   "state_dilation.to_logit.weight", "state_dilation.to_logit.bias",
                   "inverse_bank.to_image.weight", "inverse_bank.to_image.bias")

# The fields a run may change over an initialisation file: all start as the identity.
EXTENSION_FIELDS = ("spectrum_reference_size", "dilation_source", "stage_carry", "deconvolution_skip",
                    "coefficient_guidance", "dilation_from_state", "inverse_bank_radii", "inverse_bank_size")


def extended_config(stored: FDIKPConfig, overrides: dict, source: str) -> FDIKPConfig:
    """The stored configuration with the overrides, which may differ from it in extension fields only."""
    wanted = FDIKPConfig.from_dict({**stored.to_dict(), **overrides})
    changed = sorted(k for k, v in wanted.to_dict().items() if stored.to_dict()[k] != v)
    foreign = [k for k in changed if k not in EXTENSION_FIELDS]
    if foreign:
        raise ConfigError(f"--model-config differs from the configuration stored in {source} in "
                          f"{', '.join(foreign)} (only {', '.join(EXTENSION_FIELDS)} can be added to it)")
    return wanted


def load_guidance_estimator(model: FDIKP, path: str | None = None) -> None:
    """Put the calibrated defocus-map estimator (default: the shipped file) into the guidance."""
    from fdikp_cli.defocus.weights import load_defocus_weights

    if model.blur_guidance is None:
        return
    loaded = load_defocus_weights(path)
    if loaded.model.config != model.blur_guidance.estimator.config:
        raise ConfigError(f"{loaded.path}: its estimator configuration differs from the guidance's")
    model.blur_guidance.estimator.load_state_dict(loaded.model.state_dict())


def parameter_groups(model: nn.Module, gate_lr_scale: float) -> list[dict[str, Any]]:
    """Adam's parameter groups: the trainable weights, and the extension's scalars at a scaled lr.

    Each group carries `lr_scale`, which the trainer applies to every stage's lr."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    gates = [p for n, p in named if n in GATE_PARAMETERS]
    groups: list[dict[str, Any]] = [{"params": [p for n, p in named if n not in GATE_PARAMETERS], "lr_scale": 1.0}]
    if gates:
        groups.append({"params": gates, "lr_scale": gate_lr_scale})
    return groups
