"""Strip self-attention (Stripformer): attention inside each row/column strip (intra) and
between whole row/column strips (inter). Both work for any H and W."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.model.blocks import LayerNorm2d


class IntraStripAttention(nn.Module):
    """Half the channels attend along rows, half along columns; tokens are pixels of a strip.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = LayerNorm2d(channels)
        self.split = nn.Conv2d(channels, channels, 1)
        self.qkv_h = nn.Linear(channels // 2, 3 * (channels // 2))
        self.qkv_v = nn.Linear(channels // 2, 3 * (channels // 2))
        self.fuse = nn.Conv2d(channels, channels, 1)

    def _attend(self, tokens: torch.Tensor, qkv: nn.Linear) -> torch.Tensor:
        # tokens (S, L, c): S strips of L pixels.
        s, length, c = tokens.shape
        q, k, v = qkv(tokens).reshape(s, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (S, heads, L, c/heads)
        return out.transpose(1, 2).reshape(s, length, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        horizontal, vertical = self.split(self.norm(x)).chunk(2, dim=1)  # (B, C/2, H, W) each
        rows = horizontal.permute(0, 2, 3, 1).reshape(b * h, w, c // 2)
        rows = self._attend(rows, self.qkv_h).reshape(b, h, w, c // 2).permute(0, 3, 1, 2)
        cols = vertical.permute(0, 3, 2, 1).reshape(b * w, h, c // 2)
        cols = self._attend(cols, self.qkv_v).reshape(b, w, h, c // 2).permute(0, 3, 2, 1)
        return x + self.fuse(torch.cat([rows, cols], dim=1))


class InterStripAttention(nn.Module):
    """Whole rows (and whole columns) are the tokens: attention between strips.

    A token is a strip's features flattened (c/heads * W values per head for rows), so the
    attention matrix is H x H (W x W) whatever the image size.
    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = LayerNorm2d(channels)
        self.qkv_h = nn.Conv2d(channels // 2, 3 * (channels // 2), 1)
        self.qkv_v = nn.Conv2d(channels // 2, 3 * (channels // 2), 1)
        self.split = nn.Conv2d(channels, channels, 1)
        self.fuse = nn.Conv2d(channels, channels, 1)

    def _attend_rows(self, x: torch.Tensor, qkv: nn.Conv2d) -> torch.Tensor:
        # x (B, c, H, W): tokens are the H rows.
        b, c, h, w = x.shape
        q, k, v = qkv(x).reshape(b, 3, self.heads, c // self.heads, h, w).unbind(1)
        # (B, heads, H, c/heads * W)
        q, k, v = (t.permute(0, 1, 3, 2, 4).reshape(b, self.heads, h, -1) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v)
        return out.reshape(b, self.heads, h, c // self.heads, w).permute(0, 1, 3, 2, 4).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        horizontal, vertical = self.split(self.norm(x)).chunk(2, dim=1)
        rows = self._attend_rows(horizontal, self.qkv_h)
        cols = self._attend_rows(vertical.transpose(-2, -1), self.qkv_v).transpose(-2, -1)
        return x + self.fuse(torch.cat([rows, cols], dim=1))


class ConvFeedForward(nn.Module):
    """LayerNorm, 4x GELU MLP, with a depthwise 3x3 conv as positional encoding.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, expansion: int = 4) -> None:
        super().__init__()
        self.positional = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.norm = LayerNorm2d(channels)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, channels * expansion, 1),
            nn.GELU(),
            nn.Conv2d(channels * expansion, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.positional(x)
        return x + self.mlp(self.norm(x))


class StripAttentionBlock(nn.Module):
    """Intra-strip then inter-strip attention, each followed by its feed-forward.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            IntraStripAttention(channels, heads),
            ConvFeedForward(channels),
            InterStripAttention(channels, heads),
            ConvFeedForward(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
