"""Global context for tiles: what FDIKP's global operations compute from the whole photo,
taken from one pass over a copy of it and reused in every tile.

A tile alone gives FDIKP's global operations another input than the whole photo does: the
inverse kernels are predicted from the tile's spectra, and the bottleneck's strip attention
(intra: along whole rows and columns; inter: between whole rows and columns) and spectral
convolution mix the tile's features only. Measured on the first two DPDD val photos
(1024x683) with the shipped weights, tile 256, overlap 64, as mean |tiled - whole| / mean
|whole - input| (runs/tiling_probe, a throwaway script; docs/architecture.md has the table):
each tile on its own 0.49 / 0.38; all four taken from the whole photo 0.019 / 0.014; any one
of them alone 0.32-0.45. The rest of the network is convolutional and its reach fits in the
overlap; a larger overlap (128: 0.48) or another blend did not help. So the fix is the input
of those operations, not the blend.

    context = record_context(model, image, forward, multiple, to_float, device)  # one pass
    with context.applied(box=(y0, x0), tile_size=(th, tw)):                    # then per tile
        y = forward(tile)

record_context() runs the model once on the photo, downscaled to `side` px (its longest
side) when larger, so a 24 MP photo still never runs whole, and stores each global site's
output per call, in call order. In a tile's forward, hooks replace each site's output by the
stored one: the kernels (per image) as they are; the attention and spectral terms (maps at
the bottleneck) cropped to the tile's place. At scale 1 that crop is exact (tiles start on the
model's size multiple, a multiple of the bottleneck's factor) and only the network's local
part differs between tile and whole. Below scale 1 only the kernels are used: maps computed
at another scale made tiles worse than on their own (record_context has the numbers).

Models without such sites (any other callable; also the SRAM ablation's channel attention,
not covered) are tiled as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch
from torch import nn

from fdikp_cli.model.attention import InterStripAttention, IntraStripAttention
from fdikp_cli.model.ddm import SpectralConv
from fdikp_cli.model.kernel_predictor import FrequencyKernelPredictor, SpatialKernelPredictor

# How a site's output is stored and given back:
#   per_image: (B, ...) with no spatial grid (kernels): given back as it is;
#   residual:  output = input + term(input), term a (B, C, h, w) map: the term is stored;
#   map:       output = term(input), a (B, C, h, w) map: the output is stored.
SiteKind = Literal["per_image", "residual", "map"]
GLOBAL_SITES: dict[type[nn.Module], SiteKind] = {
    FrequencyKernelPredictor: "per_image",
    SpatialKernelPredictor: "per_image",
    IntraStripAttention: "residual",
    InterStripAttention: "residual",
    SpectralConv: "map",
}
DEFAULT_CONTEXT_SIDE = 1024  # px: the global pass costs about one 1024 px tile at most


def global_sites(model: object) -> list[tuple[nn.Module, SiteKind]]:
    """The model's modules whose output depends on the whole input, with their kind."""
    if not isinstance(model, nn.Module):
        return []
    return [(m, GLOBAL_SITES[type(m)]) for m in model.modules() if type(m) in GLOBAL_SITES]


def context_size(height: int, width: int, side: int) -> tuple[int, int]:
    """(h, w) of the copy the context pass sees: longest side at most `side`, aspect kept."""
    scale = min(1.0, side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _area_matrix(length: int, size: int) -> torch.Tensor:
    """(size, length) averaging weights of adaptive average pooling along one axis: output i is
    the mean of inputs floor(i L / n) .. ceil((i + 1) L / n) - 1, as F.interpolate(mode="area")."""
    weights = torch.zeros(size, length, dtype=torch.float32)
    for i in range(size):
        start, end = (i * length) // size, -(-((i + 1) * length) // size)
        weights[i, start:end] = 1.0 / (end - start)
    return weights


def area_downscale(image: torch.Tensor, size: tuple[int, int], to_float: Callable[[torch.Tensor], torch.Tensor],
                   band: int = 256) -> torch.Tensor:
    """`image` (B, 3, H, W), any dtype, on the host -> (B, 3, h, w) float32, area-averaged.

    Area averaging is separable, so it runs as two matrix products over bands of `band` input
    rows, each converted by `to_float` on its own: a uint8 24 MP photo is never held as floats
    whole (the inference contract of restore.py).
    """
    h, w = image.shape[-2:]
    rows, cols = _area_matrix(h, size[0]), _area_matrix(w, size[1]).t()  # (h', H), (W, w')
    out = torch.zeros(*image.shape[:-2], size[0], size[1], dtype=torch.float32)
    for start in range(0, h, band):
        strip = to_float(image[..., start:start + band, :]) @ cols  # (B, 3, band, w')
        out += rows[:, start:start + band] @ strip
    return out


def padded_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """(h, w) rounded up to multiples of `multiple`: what the model's input is padded to."""
    return -(-size[0] // multiple) * multiple, -(-size[1] // multiple) * multiple


def crop_under_tile(stored: torch.Tensor, box: tuple[int, int], tile_input: tuple[int, int],
                    grid: tuple[int, int]) -> torch.Tensor:
    """The part of a whole-photo map under a tile, on the tile's grid.

    stored (B, C, Hs, Ws): a site's map in the pass over the (padded) photo; the tile starts at
    `box` (y0, x0), its padded input is `tile_input` (h, w) and its map is `grid` -> (B, C, *grid).
    Tiles start on the model's size multiple, a multiple of every map's factor, and the last
    tile's padding ends where the photo's does: the crop is exact, with no resampling.
    """
    factor = (tile_input[0] // grid[0], tile_input[1] // grid[1])  # photo px per map px
    y, x = box[0] // factor[0], box[1] // factor[1]
    if box[0] % factor[0] or box[1] % factor[1] or y + grid[0] > stored.shape[-2] or x + grid[1] > stored.shape[-1]:
        raise ValueError(f"a tile at {box} with a {grid} map does not lie on the context map {tuple(stored.shape)}")
    return stored[..., y:y + grid[0], x:x + grid[1]]


@dataclass
class GlobalContext:
    """The global sites' outputs of one context pass, per site in call order."""

    context_size: tuple[int, int]  # (h, w) of the copy the pass saw
    multiple: int  # the model's size multiple: inputs are padded to it
    sites: list[tuple[nn.Module, SiteKind]]  # the sites stored (and replaced in tiles)
    outputs: dict[int, list[torch.Tensor]] = field(default_factory=dict)  # id(site) -> stored outputs

    @contextlib.contextmanager
    def applied(self, box: tuple[int, int], tile_size: tuple[int, int]) -> Iterator[None]:
        """While open, the model runs one forward: the tile of `tile_size` (h, w) starting at
        `box` (y0, x0) of the photo. Each stored site gives back its stored output."""
        calls: dict[int, int] = {}
        tile_input = padded_size(tile_size, self.multiple)

        def replace(kind: SiteKind) -> Callable:
            def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
                index = calls.get(id(module), 0)
                calls[id(module)] = index + 1
                stored = self.outputs[id(module)][index]
                if kind == "per_image":
                    return stored.to(output.dtype)
                term = crop_under_tile(stored, box, tile_input, tuple(output.shape[-2:])).to(output.dtype)
                return args[0] + term if kind == "residual" else term

            return hook

        handles = [site.register_forward_hook(replace(kind)) for site, kind in self.sites]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


@torch.no_grad()
def record_context(
    model: object,
    image: torch.Tensor,
    forward: Callable[[torch.Tensor], torch.Tensor],
    multiple: int,
    to_float: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
    side: int = DEFAULT_CONTEXT_SIDE,
) -> GlobalContext | None:
    """Run `forward` once on `image` (B, 3, H, W) (host, any dtype: `to_float` makes it float
    in [0, 1]) downscaled to `side` px, on `device`, and store the global sites' outputs.
    None when the model has no global sites.

    `forward`: restore's, which pads its input to `multiple` (the model's size multiple) and
    runs the model once. Below scale 1 only the per-image sites (kernels) are stored: on two
    DPDD val photos, tile 256, a half-scale context's kernels moved the tiled/whole gap from
    0.49 / 0.38 to 0.45 / 0.33, but its attention and spectral maps (resampled onto the tiles'
    grids), which describe the photo at another scale, widened it to 0.51 / 0.68.
    """
    sites = global_sites(model)
    h, w = image.shape[-2:]
    small = context_size(h, w, side)
    if small != (h, w):
        sites = [(site, kind) for site, kind in sites if kind == "per_image"]
    if not sites:
        return None
    copy = to_float(image) if small == (h, w) else area_downscale(image, small, to_float)
    context = GlobalContext(context_size=small, multiple=multiple, sites=sites)

    def store(module: nn.Module, args: tuple, output: torch.Tensor, kind: SiteKind) -> None:
        kept = output - args[0] if kind == "residual" else output
        context.outputs.setdefault(id(module), []).append(kept.detach().float())

    handles = [
        site.register_forward_hook(lambda m, a, o, kind=kind: store(m, a, o, kind)) for site, kind in sites
    ]
    try:
        forward(copy.to(device))
    finally:
        for handle in handles:
            handle.remove()
    return context
