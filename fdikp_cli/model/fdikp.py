"""The FDIKP network: three scale-recurrent stages of FIKP + DSRM."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.model.apu import HiddenState, upsample_state
from fdikp_cli.model.blur_guidance import RADIUS_SCALE, BlurGuidance
from fdikp_cli.model.config import FDIKPConfig
from fdikp_cli.model.dsrm import CoefficientModule
from fdikp_cli.model.fikp import FIKP
from fdikp_cli.model.inverse_bank import InverseDiscBank
from fdikp_cli.model.state_dilation import StateDilationHead


@dataclass
class StageMaps:
    """What one stage predicted, for visualisation (all cropped to the stage's image)."""

    kernels_input: torch.Tensor  # (B, N, K, K) inverse kernels predicted from x_s
    kernels_previous: torch.Tensor  # (B, N, K, K) ... from the upsampled previous output
    dilation_input: torch.Tensor | None  # (B, 1, h, w) PAC dilation map of x_s
    coefficients: torch.Tensor  # (B, 6N, h, w) coefficient maps C_s
    radius: torch.Tensor | None = None  # (B, 1, h, w) guidance blur radius in stage px


@dataclass
class FDIKPOutput:
    images: list[torch.Tensor]  # [y_quarter, y_half, y_full]
    maps: list[StageMaps] = field(default_factory=list)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom and right so H and W are multiples; returns the original size.

    Replicate padding is used where the image is too small to reflect (e.g. 1 x 1).
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class FDIKP(nn.Module):
    """Frequency-Driven Inverse Kernel Prediction network.

    Shape: x (B, 3, H, W) in [0, 1], any H, W >= 1
        -> [y_1/4 (B, 3, ceil(H/4), ceil(W/4)), y_1/2 (B, 3, ceil(H/2), ceil(W/2)), y (B, 3, H, W)].
    Weights are shared across stages. Outputs are not clamped (training needs the gradients).
    """

    def __init__(self, config: FDIKPConfig | None = None) -> None:
        super().__init__()
        self.config = config or FDIKPConfig()
        self.fikp = FIKP(self.config)
        # The coefficient module sees the stage input and the upsampled previous output.
        self.coefficients = CoefficientModule(self.config, in_channels=6)
        self.to_image = nn.Conv2d(self.config.feature_channels, 3, 3, padding=1)
        self.blur_guidance = BlurGuidance() if self.config.dilation_source == "defocus_map" else None
        # Scalar gates of the two extra paths; zero: the model starts as it was without them.
        self.carry_gate = nn.Parameter(torch.zeros(())) if self.config.stage_carry else None
        self.deconvolution_gate = nn.Parameter(torch.zeros(())) if self.config.deconvolution_skip else None
        self.state_dilation = StateDilationHead(self.config.feature_channels) if self.config.dilation_from_state else None
        self.inverse_bank = None
        if self.config.inverse_bank_radii:
            self.inverse_bank = InverseDiscBank(self.config.inverse_bank_radii, self.config.inverse_bank_size,
                                                guided=self.blur_guidance is not None)
        self.radius_to_coefficients = None
        if self.config.coefficient_guidance:
            # Zero-initialised: the coefficient module starts as it was without the radius.
            self.radius_to_coefficients = nn.Conv2d(1, self.config.widths[0], 3, padding=1)
            nn.init.zeros_(self.radius_to_coefficients.weight)
            nn.init.zeros_(self.radius_to_coefficients.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_with_maps(x, keep_maps=False).images

    def forward_with_maps(self, x: torch.Tensor, keep_maps: bool = True) -> FDIKPOutput:
        """Run the network; with keep_maps, also return kernels, PAC dilation and C per stage."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"FDIKP expects (B, 3, H, W), got {tuple(x.shape)}")
        stages = self.config.num_stages
        padded, (h, w) = pad_to_multiple(x, self.config.size_multiple)
        previous: torch.Tensor | None = None
        correction: torch.Tensor | None = None  # y_{s-1} - x_{s-1}
        state: HiddenState | None = None
        radius = self.blur_guidance.radius_map(padded) if self.blur_guidance is not None else None
        result = FDIKPOutput(images=[])
        for s in range(stages):
            factor = 2 ** (stages - 1 - s)
            x_s = F.avg_pool2d(padded, factor) if factor > 1 else padded  # (B, 3, Hp/f, Wp/f)
            if previous is None:
                previous_up = x_s  # stage 1: the blurry x_1/4 stands in for a previous output
            else:
                previous_up = F.interpolate(previous, scale_factor=2.0, mode="bilinear", align_corners=False)
                state = upsample_state(state)  # type: ignore[arg-type]
            stage_radius, dilation_logit = None, None
            if self.blur_guidance is not None and radius is not None:
                stage_radius = self.blur_guidance.stage_radius(radius, factor, tuple(x_s.shape[-2:]))
                dilation_logit = self.blur_guidance.logit_term(stage_radius)  # (B, 1, Hp/f, Wp/f)
            if self.state_dilation is not None and state is not None:
                from_state = self.state_dilation(state[0], tuple(x_s.shape[-2:]))  # (B, 1, Hp/f, Wp/f)
                dilation_logit = from_state if dilation_logit is None else dilation_logit + from_state
            from_input = self.fikp(x_s, dilation_logit)
            # At the first stage the "previous output" is x_s itself: reuse, don't recompute.
            from_previous = from_input if previous is None else self.fikp(previous_up, dilation_logit)
            features = torch.cat([from_input.features, from_previous.features], dim=1)  # (B, 6N, ., .)
            stem_extra = None
            if self.radius_to_coefficients is not None and stage_radius is not None:
                # Radii of 0-30 px scaled to ~0-4, the range of the stem's other inputs' features.
                stem_extra = self.radius_to_coefficients(stage_radius.to(x_s.dtype) / RADIUS_SCALE)
            coefficients, state = self.coefficients(torch.cat([x_s, previous_up], dim=1), state, stem_extra)
            y_s = self.to_image(features * coefficients)  # (B, 3, Hp/f, Wp/f)
            if self.config.global_residual:
                y_s = y_s + x_s
            if self.deconvolution_gate is not None:
                deconvolved = from_input.features.unflatten(1, (-1, 3)).mean(dim=1)  # (B, 3, .): mean over kernels
                y_s = y_s + self.deconvolution_gate * (deconvolved - x_s)
            if self.inverse_bank is not None:
                y_s = y_s + self.inverse_bank(x_s, stage_radius)
            if self.carry_gate is not None and correction is not None:
                y_s = y_s + self.carry_gate * F.interpolate(correction, scale_factor=2.0, mode="bilinear",
                                                            align_corners=False)
            correction = y_s - x_s
            previous = y_s
            oh, ow = _ceil_div(h, factor), _ceil_div(w, factor)
            result.images.append(y_s[..., :oh, :ow])
            if keep_maps:
                dil = from_input.dilation
                result.maps.append(
                    StageMaps(
                        kernels_input=from_input.kernels,
                        kernels_previous=from_previous.kernels,
                        dilation_input=None if dil is None else dil[..., :oh, :ow],
                        coefficients=coefficients[..., :oh, :ow],
                        radius=None if stage_radius is None else stage_radius[..., :oh, :ow],
                    )
                )
        return result


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
