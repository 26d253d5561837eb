"""APU: the recurrent unit that turns decoded features and the hidden state into coefficient
maps C and the next hidden state (after SRN / GKMNet)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The recurrent state (h, c) of the ConvLSTM, at half the stage resolution.
HiddenState = tuple[torch.Tensor, torch.Tensor]


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell. Shape: x (B, Ci, H, W), (h, c) 2 x (B, Ch, H, W) -> (h, c)."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: HiddenState) -> HiddenState:
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class APU(nn.Module):
    """x_res = ReLU(Conv3x3(features)) at full resolution; a 5x5 ConvLSTM on the features pooled
    to 1/2 carries the hidden state; C = 2 * sigmoid(h_up * x_res + h_up) - 1, in (-1, 1).

    Shape: features (B, Cf, H, W), state 2 x (B, Cc, H/2, W/2) or None
        -> coefficients (B, Cc, H, W), state 2 x (B, Cc, H/2, W/2).
    """

    def __init__(self, in_channels: int, coefficient_channels: int) -> None:
        super().__init__()
        self.coefficient_channels = coefficient_channels
        self.to_coefficients = nn.Conv2d(in_channels, coefficient_channels, 3, padding=1)
        self.cell = ConvLSTMCell(in_channels, coefficient_channels, 5)

    def initial_state(self, features: torch.Tensor) -> HiddenState:
        b, _, h, w = features.shape
        zeros = features.new_zeros(b, self.coefficient_channels, h // 2, w // 2)
        return zeros, zeros.clone()

    def forward(self, features: torch.Tensor, state: HiddenState | None) -> tuple[torch.Tensor, HiddenState]:
        x_res = F.relu(self.to_coefficients(features))  # (B, Cc, H, W)
        pooled = F.avg_pool2d(features, 2)  # (B, Cf, H/2, W/2)
        if state is None:
            state = self.initial_state(features)
        h, c = self.cell(pooled, state)
        h_up = F.interpolate(h, size=features.shape[-2:], mode="bilinear", align_corners=False)
        coefficients = 2.0 * torch.sigmoid(h_up * x_res + h_up) - 1.0
        return coefficients, (h, c)


def upsample_state(state: HiddenState) -> HiddenState:
    """Carry the hidden state to the next (twice finer) stage."""
    return tuple(F.interpolate(t, scale_factor=2.0, mode="bilinear", align_corners=False) for t in state)  # type: ignore[return-value]
