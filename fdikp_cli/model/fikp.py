"""FIKP = inverse-kernel prediction (DIKP or the spatial baseline) + PAC + refinement conv."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fdikp_cli.model.config import FDIKPConfig
from fdikp_cli.model.kernel_predictor import FrequencyKernelPredictor, SpatialKernelPredictor
from fdikp_cli.model.pac import DilationMap, fixed_dilation_conv, position_adaptive_conv


@dataclass
class FikpOutput:
    features: torch.Tensor  # (B, 3N, H, W) deconvolution features
    kernels: torch.Tensor  # (B, N, K, K) predicted inverse kernels
    dilation: torch.Tensor | None  # (B, 1, H, W) PAC dilation map, None without PAC


class FIKP(nn.Module):
    """Deconvolve an RGB image with N predicted inverse kernels at per-pixel dilation.

    Shape: (B, 3, H, W) -> FikpOutput with features (B, 3N, H, W).
    """

    def __init__(self, config: FDIKPConfig) -> None:
        super().__init__()
        n, k = config.kernels, config.kernel_size
        if config.kernel_predictor == "frequency":
            self.kernel_predictor = FrequencyKernelPredictor(config.predictor_channels, config.predictor_pool, n, k,
                                                             config.spectrum_reference_size)
        else:
            self.kernel_predictor = SpatialKernelPredictor(config.predictor_channels, config.predictor_pool, n, k)
        self.dilation = DilationMap(config.pac_max_dilation) if config.pac else None
        self.refine = nn.Conv2d(3 * n, 3 * n, 3, padding=1)
        # Zero-initialised residual refinement: at start the features are the deconvolutions.
        nn.init.zeros_(self.refine.weight)
        nn.init.zeros_(self.refine.bias)

    def forward(self, x: torch.Tensor, dilation_logit: torch.Tensor | None = None) -> FikpOutput:
        """dilation_logit (B, 1, H, W): an outside term added to the dilation map's logit."""
        kernels = self.kernel_predictor(x).to(x.dtype)  # (B, N, K, K)
        if self.dilation is not None:
            dilation = self.dilation(x, dilation_logit)  # (B, 1, H, W)
            features = position_adaptive_conv(x, kernels, dilation)
        else:
            dilation = None
            features = fixed_dilation_conv(x, kernels)
        return FikpOutput(features + self.refine(features), kernels, dilation)
