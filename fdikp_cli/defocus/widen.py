"""Growing a trained defocus-map estimator wider without losing what it learnt (Net2Net-style).

The estimator's remaining error sits at large radii and in flat areas, which a wider coarse path
might read better; a network that wide trained from scratch needs the ~18,000 CPU steps the
shipped one took. Instead every old weight is copied into the wider network and every weight
that feeds an old channel from a new one is zero, so the wider network computes exactly the old
map; the new channels start from the usual He initialisation, and the zero weights that read
them get gradients (input activation x upstream gradient) from the first step on.
"""

from __future__ import annotations

import torch

from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
from fdikp_cli.errors import ConfigError


def check_widenable(old: EstimatorConfig, new: EstimatorConfig) -> None:
    """Raise ConfigError unless `new` has `old`'s levels and output range, each level at least as wide."""
    if len(old.widths) != len(new.widths) or old.max_radius != new.max_radius:
        raise ConfigError(f"estimator {new.widths} (max radius {new.max_radius:g}) cannot start from "
                          f"{old.widths} (max radius {old.max_radius:g}): the number of levels and the range must match")
    if any(int(n) < int(o) for o, n in zip(old.widths, new.widths)):
        raise ConfigError(f"estimator widths {new.widths} are narrower than {old.widths} at some level")


def widen_estimator(old: DefocusMapNet, config: EstimatorConfig, seed: int = 0) -> DefocusMapNet:
    """A `config`-wide estimator (float32, CPU) that computes `old`'s map exactly."""
    check_widenable(old.config, config)
    torch.manual_seed(seed)
    wide = DefocusMapNet(config)  # He-initialised: the new channels keep these weights
    state = wide.state_dict()
    for name, trained in old.state_dict().items():
        value = state[name].detach().clone().float()
        trained = trained.detach().float().cpu()
        if value.dim() == 4:  # conv weight (out, in, k, k)
            out_old, in_old = trained.shape[:2]
            value[:out_old, :in_old] = trained
            value[:out_old, in_old:] = 0.0  # no new channel feeds an old one
        else:  # bias (out,)
            value[: trained.shape[0]] = trained
        state[name] = value
    wide.load_state_dict(state)
    return wide
