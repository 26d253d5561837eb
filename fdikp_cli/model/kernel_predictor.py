"""Inverse-kernel prediction: the paper's DIKP (frequency) and the spatial ablation baseline."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.model.frequency import amplitude_phase, kernel_from_spectrum


def near_zero_head(conv: nn.Conv2d) -> None:
    """Tiny weights: a nearly uniform softmax at start, i.e. nearly delta inverse kernels (the
    model starts close to the identity), while gradients still reach the layers before it."""
    nn.init.normal_(conv.weight, std=1e-3)
    nn.init.zeros_(conv.bias)


class Predictor(nn.Module):
    """2 x (Conv, ReLU, AdaptiveAvgPool), then Conv: per-image logits on a K x K grid.

    Shape: (B, C_in, H, W) -> (B, N, K, K). The softmax is applied by the caller, which needs
    either the probabilities or their logarithm.
    """

    def __init__(self, in_channels: int, channels: int, pool: int, kernels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.pool1 = nn.AdaptiveAvgPool2d(pool)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.pool2 = nn.AdaptiveAvgPool2d(kernel_size)
        self.head = nn.Conv2d(channels, kernels, 1)
        near_zero_head(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(F.relu(self.conv1(x)))  # (B, c, pool, pool)
        x = self.pool2(F.relu(self.conv2(x)))  # (B, c, K, K)
        return self.head(x)  # (B, N, K, K)


def log_softmax_grid(logits: torch.Tensor) -> torch.Tensor:
    """log-softmax over the K x K grid of each kernel. (B, N, K, K) -> (B, N, K, K)."""
    b, n, k, _ = logits.shape
    return F.log_softmax(logits.reshape(b, n, k * k), dim=-1).reshape(b, n, k, k)


class AmplitudeAttention(nn.Module):
    """Attention(A): amplitude residual, Conv, global average pooling (to the kernel grid), Softmax.

    The residual A - smooth(A) removes the smooth 1/f fall-off that every natural image has
    (kernel-irrelevant content) and keeps the ripples that the blur kernel imprints.
    Shape: (B, 3, H, W) -> log-attention (B, N, K, K).
    """

    def __init__(self, channels: int, kernels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(kernel_size)
        self.head = nn.Conv2d(channels, kernels, 1)
        near_zero_head(self.head)

    def forward(self, amplitude: torch.Tensor) -> torch.Tensor:
        residual = amplitude - F.avg_pool2d(amplitude, 5, stride=1, padding=2, count_include_pad=False)
        x = self.pool(F.relu(self.conv(residual)))  # (B, c, K, K)
        return log_softmax_grid(self.head(x))


class FrequencyKernelPredictor(nn.Module):
    """DIKP: inverse kernels from the amplitude and phase spectra of the input.

    K_A = softmax(Predictor(A)); K_P = softmax(Predictor(P)) * Attention(A);
    K_P' = pi * tanh(log(K^4 K_P)) (zero phase where both softmaxes are uniform);
    k* = Re iFFT(|K_A| e^{j K_P'}), scaled to unit DC gain (sum of taps = 1).
    Shape: (B, 3, H, W) -> kernels (B, N, K, K), one set shared by R, G, B.
    """

    def __init__(self, channels: int, pool: int, kernels: int, kernel_size: int,
                 spectrum_reference_size: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.spectrum_reference_size = spectrum_reference_size
        self.amplitude_predictor = Predictor(3, channels, pool, kernels, kernel_size)
        self.phase_predictor = Predictor(3, channels, pool, kernels, kernel_size)
        self.attention = AmplitudeAttention(channels, kernels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amplitude, phase = amplitude_phase(x, self.spectrum_reference_size)  # (B, 3, H, W) each
        k_amplitude = log_softmax_grid(self.amplitude_predictor(amplitude)).exp()  # (B, N, K, K)
        log_k_phase = log_softmax_grid(self.phase_predictor(phase)) + self.attention(amplitude)
        uniform = 4.0 * math.log(self.kernel_size)  # -log of (1/K^2)^2
        k_phase = math.pi * torch.tanh(log_k_phase + uniform)
        # The DC bin of an inverse defocus kernel is real and positive (a blur keeps the mean).
        centre = self.kernel_size // 2
        dc_mask = torch.ones_like(k_phase)
        dc_mask[..., centre, centre] = 0.0
        kernels = kernel_from_spectrum(k_amplitude, k_phase * dc_mask)
        return kernels / kernels.sum(dim=(-2, -1), keepdim=True)


class SpatialKernelPredictor(nn.Module):
    """Ablation baseline: the Predictor reads the image itself, not its spectra.

    k* = delta + z - mean(z), so the taps always sum to 1 and a zero head gives the identity.
    Shape: (B, 3, H, W) -> kernels (B, N, K, K).
    """

    def __init__(self, channels: int, pool: int, kernels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.predictor = Predictor(3, channels, pool, kernels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.predictor(x)  # (B, N, K, K)
        delta = torch.zeros_like(z)
        delta[..., self.kernel_size // 2, self.kernel_size // 2] = 1.0
        return delta + z - z.mean(dim=(-2, -1), keepdim=True)
