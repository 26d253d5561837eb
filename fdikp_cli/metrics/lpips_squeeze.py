"""LPIPS v0.1 with the SqueezeNet 1.1 backbone, in plain torch (no torchvision).

The DefocusGAN paper's LPIPS 0.111 is most likely this variant (spec gap 9); tables elsewhere
use AlexNet (fdikp_cli.metrics.lpips). Same computation as the AlexNet metric: inputs in [0, 1]
mapped to [-1, 1], the LPIPS scaling layer, features tapped after each of SqueezeNet's seven
ReLU stages (torchvision `features` indices 1, 4, 7, 9, 10, 11, 12), unit-normalised over
channels, squared difference, 1x1 linear heads without bias, spatial mean, sum over layers.

Weights: nothing here is bundled. Two files, as their publishers distribute them, are looked
for in the LPIPS folders (`--lpips-dir`, $FDIKP_LPIPS_DIR, the user cache, a checkout's shared folder) and verified by
their sha256 before use:
  - `squeezenet1_1-b8a52dc0.pth`: torchvision's ImageNet SqueezeNet 1.1;
  - `squeeze.pth`: the LPIPS v0.1 linear heads (PerceptualSimilarity, lpips/weights/v0.1/).
Both are read with torch.load(weights_only=True), which executes no code. Without them,
`load_squeeze_lpips` raises LpipsWeightsMissing naming the files and where they come from.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from fdikp_cli.errors import LpipsWeightsMissing
from fdikp_cli.hashing import sha256_file
from fdikp_cli.metrics.lpips import _SCALE, _SHIFT, _unit_normalise, check_lpips_inputs
from fdikp_cli.metrics.lpips_weights import ENV_VAR, candidate_dirs

BACKBONE_FILE = "squeezenet1_1-b8a52dc0.pth"
HEADS_FILE = "squeeze.pth"
BACKBONE_URL = "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"
HEADS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/squeeze.pth"
FILE_SHA256 = {
    # torchvision names the file after the first 8 hex digits of this digest.
    BACKBONE_FILE: "b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b",
    # computed from the file in the LPIPS repository (v0.1); the same bytes are
    # lpips/weights/v0.1/squeeze.pth inside PyPI's lpips-0.1.4 wheel (checked 2026-12-03).
    HEADS_FILE: "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76",
}
_TAP_AFTER = (1, 4, 7, 9, 10, 11, 12)
_CHANNELS = (64, 128, 256, 384, 384, 512, 512)


class Fire(nn.Module):
    """SqueezeNet's fire module. Shape: (B, C_in, H, W) -> (B, e1 + e3, H, W)."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.squeeze(x))
        return torch.cat([torch.relu(self.expand1x1(s)), torch.relu(self.expand3x3(s))], dim=1)


def _squeezenet_features() -> nn.Sequential:
    """SqueezeNet 1.1 `features` with torchvision's indices (so its state dict loads)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2),  # 0: (B, 64, H/2, W/2)
        nn.ReLU(),  # 1 -> tap
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # 2
        Fire(64, 16, 64, 64),  # 3
        Fire(128, 16, 64, 64),  # 4 -> tap (128)
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # 5
        Fire(128, 32, 128, 128),  # 6
        Fire(256, 32, 128, 128),  # 7 -> tap (256)
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),  # 8
        Fire(256, 48, 192, 192),  # 9 -> tap (384)
        Fire(384, 48, 192, 192),  # 10 -> tap (384)
        Fire(384, 64, 256, 256),  # 11 -> tap (512)
        Fire(512, 64, 256, 256),  # 12 -> tap (512)
    )


class SqueezeLPIPS(nn.Module):
    """LPIPS distance (v0.1, SqueezeNet 1.1). Build with `load_squeeze_lpips()`.

    Shape: pred, target (B, 3, H, W), RGB in [0, 1] -> (B,). H, W >= 32 (as the AlexNet metric).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.features = _squeezenet_features()
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in _CHANNELS)
        self.source: Path | None = None
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "SqueezeLPIPS":
        return super().train(False)  # a metric: never in training mode

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_lpips_inputs(pred, target)
        batch = pred.shape[0]
        x = torch.cat([pred, target], dim=0).to(self.shift.dtype) * 2 - 1  # (2B, 3, H, W) in [-1, 1]
        x = (x - self.shift) / self.scale
        distance = x.new_zeros(batch)
        heads = iter(self.heads)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAP_AFTER:
                feats = _unit_normalise(x)
                diff = (feats[:batch] - feats[batch:]).square()  # (B, C_l, h_l, w_l)
                distance = distance + next(heads)(diff).mean(dim=(1, 2, 3))
        return distance


_HEAD_KEY = re.compile(r"^lin(\d)\.(?:model\.\d+\.)?weight$")  # official: lin{i}.model.1.weight


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    digest = sha256_file(path)
    if digest != FILE_SHA256[path.name]:
        raise LpipsWeightsMissing(f"{path} is not the published {path.name} (sha256 {digest[:12]}…, expected "
                                  f"{FILE_SHA256[path.name][:12]}…); LPIPS from other weights is not comparable")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not the expected file"
        raise LpipsWeightsMissing(f"{path} cannot be read as a state dict: {exc}") from None
    return state


def missing_message(searched: list[tuple[str, Path]]) -> str:
    places = "; ".join(f"{where}: {path}" for where, path in searched)
    return (f"SqueezeNet LPIPS needs {BACKBONE_FILE} (torchvision's SqueezeNet 1.1, {BACKBONE_URL}) and "
            f"{HEADS_FILE} (LPIPS v0.1 heads, {HEADS_URL}, also lpips/weights/v0.1/squeeze.pth inside "
            f"`pip download --no-deps lpips==0.1.4`) in one folder (looked in {places}); put both in the "
            f"folder of --lpips-dir or ${ENV_VAR}. They are not bundled with fdikp")


def load_squeeze_lpips(weights_dir: str | Path | None = None, device: torch.device | str = "cpu") -> SqueezeLPIPS:
    """SqueezeNet LPIPS with verified weights, frozen, on `device`; LpipsWeightsMissing when absent."""
    searched = candidate_dirs(weights_dir)
    for _, directory in searched:
        backbone, heads = directory / BACKBONE_FILE, directory / HEADS_FILE
        if backbone.is_file() and heads.is_file():
            model = SqueezeLPIPS()
            features = {k.removeprefix("features."): v for k, v in _read_pickle(backbone).items()
                        if k.startswith("features.")}
            model.features.load_state_dict(features)
            linear = {int(m.group(1)): v for k, v in _read_pickle(heads).items() if (m := _HEAD_KEY.match(k))}
            for i, head in enumerate(model.heads):
                head.weight.copy_(linear[i])
            model.source = directory
            return model.requires_grad_(False).to(device)
    raise LpipsWeightsMissing(missing_message(searched))
